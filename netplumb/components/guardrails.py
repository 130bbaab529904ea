"""Quotas, policies, network RBAC and PodSecurity labels around the networks."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..args.guardrails import NetworkGuardrailsArgs
from ..checks.selections import check_policy_targets
from ..errors import raise_on_errors
from ..plan import guardrails_wanted
from ..render import guardrails as guard_render
from ..render.crds import multi_network_policy_crd
from .objects import check_owners, children, register_object, register_shared, slug


class NetworkGuardrails(pulumi.ComponentResource):
    """What keeps networks safe to share: ResourceQuotas (device resources counted under
    ``requests.``), NetworkPolicies, MultiNetworkPolicies (``policy-for`` annotation), the
    network admin/viewer ClusterRoles with their bindings, and PodSecurity labels.

    ``known_networks`` (``ns/name`` keys), when given, must contain every NAD a
    MultiNetworkPolicy names; a policy for a missing NAD protects nothing.

    Outputs: ``admin_role``, ``viewer_role``, ``quotas``.
    """

    admin_role: pulumi.Output[str | None]
    viewer_role: pulumi.Output[str | None]
    quotas: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkGuardrailsArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 known_networks: Collection[str] | None = None) -> None:
        checked = args.checked()
        if known_networks is not None:
            raise_on_errors(check_policy_targets(checked, known_networks),
                            context="network guardrails")
        namespaces = [guard_render.pod_security_namespace(p) for p in checked.pod_security]
        quotas = [guard_render.resource_quota(q) for q in checked.quotas]
        policies = [guard_render.network_policy(p) for p in checked.network_policies]
        multi = [guard_render.multi_network_policy(p) for p in checked.multi_network_policies]
        rbac = guard_render.rbac_manifests(checked.rbac) if checked.rbac is not None else []
        check_owners(guardrails_wanted(checked, name))
        super().__init__("netplumb:index:NetworkGuardrails", name, None, opts)
        self.args = checked
        self.namespaces: dict[str, pulumi.CustomResource] = {}
        for ps, manifest in zip(checked.pod_security, namespaces, strict=True):
            res_name = f"{name}-namespace-{ps.namespace}"
            if ps.create:
                self.namespaces[ps.namespace] = register_shared(res_name, manifest,
                                                                  children(self))
            else:
                self.namespaces[ps.namespace] = k8s.core.v1.NamespacePatch(
                    res_name, metadata=manifest["metadata"], opts=children(self))

        def in_ns(manifest: dict[str, Any]) -> pulumi.CustomResource | None:
            return self.namespaces.get(manifest["metadata"].get("namespace", ""))

        self.quotas_by_name: dict[str, pulumi.CustomResource] = {}
        for m in quotas:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            self.quotas_by_name[key] = register_object(
                f"{name}-quota-{slug(key)}", m, children(self, in_ns(m)))
        for m in policies:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            register_object(f"{name}-policy-{slug(key)}", m, children(self, in_ns(m)))
        mnp_crd: pulumi.CustomResource | None = None
        if checked.install_multi_network_policy_crd:
            mnp_crd = register_shared(f"{name}-multi-network-policy-crd",
                                        multi_network_policy_crd(), children(self))
        for m in multi:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            register_object(f"{name}-multi-policy-{slug(key)}", m,
                              children(self, mnp_crd, in_ns(m)))
        self.roles: dict[str, pulumi.CustomResource] = {}
        for m in rbac:
            if m["kind"] == "ClusterRole":
                self.roles[m["metadata"]["name"]] = register_shared(
                    f"{name}-role-{m['metadata']['name']}", m, children(self))
        bindings = [m for m in rbac if m["kind"] != "ClusterRole"]
        for m in bindings:
            role = self.roles.get(m["roleRef"]["name"])
            register_object(f"{name}-binding-{m['metadata']['name']}", m,
                            children(self, role, in_ns(m)),
                            cluster_wide=m["kind"] == "ClusterRoleBinding")
        r = checked.rbac
        self.admin_role = pulumi.Output.from_input(r.admin_role if r else None)
        self.viewer_role = pulumi.Output.from_input(r.viewer_role if r else None)
        self.quotas = pulumi.Output.from_input(sorted(self.quotas_by_name))
        self.register_outputs({"admin_role": self.admin_role, "viewer_role": self.viewer_role,
                               "quotas": self.quotas})
