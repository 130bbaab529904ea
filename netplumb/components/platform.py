"""Platform components: Flannel, MultusInstall, SriovPool, NetworkGuardrails.

Each validates its args and renders every manifest *before* ``super().__init__``, so bad
input raises :class:`netplumb.PlanError` and registers nothing. Children are named
``<name>-<role>``; CRDs come before their custom resources through ``depends_on``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..checks.networks import raise_on_errors
from ..checks.selections import check_policy_targets
from ..ownership import Wanted, check_takeovers
from ..plan import guardrails_wanted, multus_wanted, sriov_wanted
from ..render import flannel as flannel_render
from ..render import guardrails as guard_render
from ..render import multus as multus_render
from ..render import sriov as sriov_render
from ..render.crds import multi_network_policy_crd, service_monitor_crd
from ..render.nad import nad_crd
from ..spec.networks import SriovNetworkArgs
from ..spec.platform import (
    FlannelArgs,
    MultusInstallArgs,
    NetworkGuardrailsArgs,
    SriovPoolArgs,
)
from .cluster import program_reader
from .objects import current_policy, register_object


def check_owners(wanted: list[Wanted]) -> None:
    """Refuse (before anything registers) to take over another owner's objects."""
    check_takeovers(wanted, program_reader(), current_policy())


def register_shared(name: str, manifest: dict[str, Any],
                    opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register an object of a cluster-wide install (retained on destroy by default)."""
    return register_object(name, manifest, opts, cluster_wide=True)


def _opts(parent: pulumi.Resource, *deps: pulumi.Resource | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, depends_on=[d for d in deps if d is not None])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


class Flannel(pulumi.ComponentResource):
    """Flannel as the default network: namespace (PodSecurity privileged), RBAC, config
    (pod CIDR, backend, CNI conflist) and the DaemonSet running ``flanneld --ip-masq
    --kube-subnet-mgr [--iface=…]``.

    Outputs: ``namespace``, ``daemonset_name``, ``network``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    network: pulumi.Output[str]

    def __init__(self, name: str, args: FlannelArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = flannel_render.flannel_manifests(checked)
        check_owners([Wanted(name, manifests, instead="use the cluster's default network")])
        ns, role, binding, sa, cm, ds = manifests
        super().__init__("netplumb:index:Flannel", name, None, opts)
        self.args = checked

        def reg(role_name: str, manifest: dict[str, Any],
                *deps: pulumi.Resource | None) -> pulumi.CustomResource:
            return register_object(f"{name}-{role_name}", manifest, _opts(self, *deps),
                                   cluster_wide=True)

        self.ns = reg("namespace", ns)
        self.cluster_role = reg("cluster-role", role)
        self.cluster_role_binding = reg("cluster-role-binding", binding, self.cluster_role)
        self.service_account = reg("service-account", sa, self.ns)
        self.config_map = reg("config", cm, self.ns)
        self.daemonset = reg("daemonset", ds, self.config_map, self.service_account,
                             self.cluster_role_binding)
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(flannel_render.DAEMONSET)
        self.network = pulumi.Output.from_input(checked.network)
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name,
                               "network": self.network})


class MultusInstall(pulumi.ComponentResource):
    """Multus on every node: the default network (Flannel unless ``default_network:
    none``), the NAD CRD, RBAC, ServiceAccount, the thick daemon's ConfigMap and the Multus
    DaemonSet (thick or thin), plus a metrics Service and ServiceMonitor on request.

    ``validation`` holds what a verifier should find on a node afterwards
    (:func:`netplumb.render.multus.validate`). NADs should ``depends_on`` ``nad_crd``.

    Outputs: ``namespace``, ``daemonset_name``, ``mode``, ``config_paths``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    mode: pulumi.Output[str]
    config_paths: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MultusInstallArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = multus_render.multus_manifests(checked)
        validation = multus_render.validate(checked)
        check_owners(multus_wanted(checked, name))
        super().__init__("netplumb:index:MultusInstall", name, None, opts)
        self.args = checked
        self.validation = validation
        self.flannel: Flannel | None = None
        if checked.installs_flannel:
            self.flannel = Flannel(f"{name}-flannel", checked.flannel,
                                   pulumi.ResourceOptions(parent=self))
        self.nad_crd: pulumi.CustomResource | None = None
        if checked.install_nad_crd:
            self.nad_crd = register_shared(f"{name}-nad-crd", nad_crd(), _opts(self))
        monitor_crd: pulumi.CustomResource | None = None
        if checked.service_monitor is not None and checked.service_monitor.install_crd:
            monitor_crd = register_shared(f"{name}-service-monitor-crd",
                                            service_monitor_crd(), _opts(self))
        by_kind = {m["kind"]: m for m in manifests}
        self.cluster_role = register_shared(f"{name}-cluster-role", by_kind["ClusterRole"],
                                              _opts(self))
        self.cluster_role_binding = register_shared(
            f"{name}-cluster-role-binding", by_kind["ClusterRoleBinding"],
            _opts(self, self.cluster_role))
        self.service_account = register_shared(f"{name}-service-account",
                                                 by_kind["ServiceAccount"], _opts(self))
        self.config_map: pulumi.CustomResource | None = None
        if "ConfigMap" in by_kind:
            self.config_map = register_shared(f"{name}-daemon-config", by_kind["ConfigMap"],
                                                _opts(self))
        # After the default network: Multus generates its config from the primary one.
        self.daemonset = register_shared(
            f"{name}-daemonset", by_kind["DaemonSet"],
            _opts(self, self.config_map, self.service_account, self.cluster_role_binding,
                  self.flannel))
        self.metrics_service: pulumi.CustomResource | None = None
        self.service_monitor: pulumi.CustomResource | None = None
        if "Service" in by_kind:
            self.metrics_service = register_shared(f"{name}-metrics", by_kind["Service"],
                                                     _opts(self))
        if "ServiceMonitor" in by_kind:
            monitoring_ns: pulumi.CustomResource | None = None
            if "Namespace" in by_kind:
                monitoring_ns = register_shared(f"{name}-monitoring-namespace",
                                                  by_kind["Namespace"], _opts(self))
            self.service_monitor = register_shared(
                f"{name}-service-monitor", by_kind["ServiceMonitor"],
                _opts(self, monitor_crd, self.metrics_service, monitoring_ns))
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(multus_render.DAEMONSET)
        self.mode = pulumi.Output.from_input(checked.mode)
        config_paths = [p for np in validation.node_paths for p in np.paths
                        if "00-multus" in p]
        self.config_paths = pulumi.Output.from_input(config_paths)
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name, "mode": self.mode,
                               "config_paths": self.config_paths})


class SriovPool(pulumi.ComponentResource):
    """The SR-IOV network device plugin advertising ``pools`` (ConfigMap + DaemonSet), with
    the ``sriov`` CNI binary placed on the nodes.

    ``resource_names`` maps each pool to its full name (``intel.com/sriov``);
    :meth:`network_args` returns :class:`SriovNetworkArgs` wired to a pool.

    Outputs: ``resource_names``.
    """

    resource_names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: SriovPoolArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        sa, cm, ds = sriov_render.sriov_manifests(checked)
        check_owners(sriov_wanted(checked, name))
        super().__init__("netplumb:index:SriovPool", name, None, opts)
        self.args = checked
        self.names: dict[str, str] = checked.resource_names()
        self.service_account = register_shared(f"{name}-service-account", sa, _opts(self))
        self.config_map = register_shared(f"{name}-config", cm, _opts(self))
        self.daemonset = register_shared(f"{name}-daemonset", ds,
                                           _opts(self, self.config_map, self.service_account))
        self.resource_names = pulumi.Output.from_input(self.names)
        self.register_outputs({"resource_names": self.resource_names})

    def resource_name(self, pool: str | None = None) -> str:
        """Full resource name of ``pool`` (or of the only pool)."""
        return self.args.resource_name(pool)

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """Args of a :class:`~netplumb.components.SriovNetwork` using ``pool``."""
        return self.args.network_args(pool, **fields)


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
                                                                  _opts(self))
            else:
                self.namespaces[ps.namespace] = k8s.core.v1.NamespacePatch(
                    res_name, metadata=manifest["metadata"], opts=_opts(self))

        def in_ns(manifest: dict[str, Any]) -> pulumi.CustomResource | None:
            return self.namespaces.get(manifest["metadata"].get("namespace", ""))

        self.quotas_by_name: dict[str, pulumi.CustomResource] = {}
        for m in quotas:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            self.quotas_by_name[key] = register_object(
                f"{name}-quota-{_slug(key)}", m, _opts(self, in_ns(m)))
        for m in policies:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            register_object(f"{name}-policy-{_slug(key)}", m, _opts(self, in_ns(m)))
        mnp_crd: pulumi.CustomResource | None = None
        if checked.install_multi_network_policy_crd:
            mnp_crd = register_shared(f"{name}-multi-network-policy-crd",
                                        multi_network_policy_crd(), _opts(self))
        for m in multi:
            key = f"{m['metadata']['namespace']}/{m['metadata']['name']}"
            register_object(f"{name}-multi-policy-{_slug(key)}", m,
                              _opts(self, mnp_crd, in_ns(m)))
        self.roles: dict[str, pulumi.CustomResource] = {}
        for m in rbac:
            if m["kind"] == "ClusterRole":
                self.roles[m["metadata"]["name"]] = register_shared(
                    f"{name}-role-{m['metadata']['name']}", m, _opts(self))
        bindings = [m for m in rbac if m["kind"] != "ClusterRole"]
        for m in bindings:
            role = self.roles.get(m["roleRef"]["name"])
            register_object(f"{name}-binding-{m['metadata']['name']}", m,
                            _opts(self, role, in_ns(m)),
                            cluster_wide=m["kind"] == "ClusterRoleBinding")
        r = checked.rbac
        self.admin_role = pulumi.Output.from_input(r.admin_role if r else None)
        self.viewer_role = pulumi.Output.from_input(r.viewer_role if r else None)
        self.quotas = pulumi.Output.from_input(sorted(self.quotas_by_name))
        self.register_outputs({"admin_role": self.admin_role, "viewer_role": self.viewer_role,
                               "quotas": self.quotas})

