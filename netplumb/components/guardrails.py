"""Quotas, policies, network RBAC and PodSecurity labels around the networks."""

from __future__ import annotations

from collections.abc import Collection

import pulumi

from ..args.guardrails import NetworkGuardrailsArgs
from ..checks.selections import check_policy_targets
from ..errors import raise_on_errors
from ..plan import Install, declare_guardrails
from ..plan.installs import namespaced_key
from .shared import SharedInstall


class NetworkGuardrails(SharedInstall[NetworkGuardrailsArgs], declare=declare_guardrails):
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
                 known_networks: Collection[str] | None = None,
                 declared: Install[NetworkGuardrailsArgs] | None = None) -> None:
        checked = declared.args if declared is not None else args.checked()
        if known_networks is not None:
            raise_on_errors(check_policy_targets(checked, known_networks),
                            context="network guardrails")
        super().__init__(name, checked, opts, declared=declared)

    def _handles(self) -> None:
        self.namespaces = {p.manifest["metadata"]["name"]: ns
                           for p, ns in self.resources_of("namespace-")}
        self.quotas_by_name = {namespaced_key(p.manifest): quota
                               for p, quota in self.resources_of("quota-")}
        self.roles = {p.manifest["metadata"]["name"]: role
                      for p, role in self.resources_of("role-")}
