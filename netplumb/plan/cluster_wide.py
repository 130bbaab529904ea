"""The shared installs a stack places, each declared once (:mod:`netplumb.plan.installs`),
and the cluster-wide objects they register, grouped by the key asking for them, for the
ownership check (:mod:`netplumb.ownership`) before anything registers."""

from __future__ import annotations

from dataclasses import dataclass

from ..args.guardrails import NetworkGuardrailsArgs
from ..args.monitoring import MonitoringStackArgs
from ..args.multi_network_policy import MultiNetworkPolicyEnforcerArgs
from ..args.network_policy import NetworkPolicyEnforcerArgs
from ..args.node_plugin import NodePluginArgs
from ..args.sriov import SriovPoolArgs
from ..args.stack import CONFIG_KEY, StackSpec
from ..args.whereabouts import WhereaboutsArgs
from ..errors import format_path
from ..ownership import Wanted
from .build import Plan
from .installs import (
    Install,
    MultusDeclared,
    declare_guardrails,
    declare_monitoring,
    declare_multi_network_policy,
    declare_multus,
    declare_nad_crd,
    declare_network_policy,
    declare_node_plugin,
    declare_sriov,
    declare_whereabouts,
)


@dataclass(frozen=True)
class StackInstalls:
    """The shared installs of a stack (None: not placed), declared at their keys in the spec."""

    multus: MultusDeclared | None = None
    nad_crd: Install[None] | None = None
    sriov: Install[SriovPoolArgs] | None = None
    guardrails: Install[NetworkGuardrailsArgs] | None = None
    whereabouts: Install[WhereaboutsArgs] | None = None
    monitoring: Install[MonitoringStackArgs] | None = None
    node_plugin: Install[NodePluginArgs] | None = None
    """The node plugin beside a Multus the stack does not install (``node_plugin:``)."""
    network_policy: Install[NetworkPolicyEnforcerArgs] | None = None
    """NetworkPolicy enforcement (``network_policy:``, kube-router's firewall)."""
    multi_network_policy: Install[MultiNetworkPolicyEnforcerArgs] | None = None
    """MultiNetworkPolicy enforcement (``multi_network_policy:``); the CRD it asks for is
    registered with the guardrails where the stack has them (before their policies)."""

    def wanted(self) -> list[Wanted]:
        """Every cluster-wide object they would register, grouped by the key asking."""
        installs = (self.multus, self.node_plugin, self.nad_crd, self.sriov, self.guardrails,
                    self.whereabouts, self.monitoring, self.network_policy,
                    self.multi_network_policy)
        return [w for install in installs if install is not None for w in install.wanted]


def stack_installs(spec: StackSpec, root: tuple[str, ...] = ("config", CONFIG_KEY),
                   plan: Plan | None = None) -> StackInstalls:
    """The shared installs ``spec`` places, each from its args as its component takes them.
    ``plan`` (the stack's built plan) says whether its networks make it install whereabouts;
    without it only an explicit ``whereabouts: {installed: here}`` counts."""
    base = format_path(root)

    def at(key: str) -> str:
        return f"{base}{key}" if base.endswith(":") else f"{base}.{key}"

    if plan is not None:
        where = plan.whereabouts
    elif spec.whereabouts is not None and spec.whereabouts.installed == "here":
        where = spec.whereabouts.install_args()
    else:
        where = None
    monitoring = plan.monitoring if plan is not None else spec.monitoring_args()
    # One MultiNetworkPolicy CRD: asked for by the guardrails or by the enforcer; the
    # enforcer's registers with the guardrails where there are any, before their policies.
    enforcer_crd = spec.multi_network_policy_crd_key() == "multi_network_policy.install_crd"
    guardrails = None
    if spec.guardrails is not None:
        guardrails = declare_guardrails(
            spec.guardrails.checked(), at("guardrails"),
            multi_network_policy_crd_at=(at("multi_network_policy.install_crd")
                                         if enforcer_crd else None))
    enforcer = None
    if spec.multi_network_policy is not None:
        enforcer = declare_multi_network_policy(
            spec.multi_network_policy.checked(), at("multi_network_policy"),
            crd=enforcer_crd and guardrails is None)
    network_policy = spec.network_policy_args()
    return StackInstalls(
        multus=(declare_multus(spec.multus.checked(), at("multus"))
                if spec.multus is not None else None),
        nad_crd=(declare_nad_crd(at("install_nad_crd"), instead="install_nad_crd: false")
                 if spec.install_nad_crd else None),
        sriov=(declare_sriov(spec.sriov.checked(), at("sriov"))
               if spec.sriov is not None else None),
        guardrails=guardrails,
        whereabouts=(declare_whereabouts(where.checked(), at("whereabouts"))
                     if where is not None else None),
        monitoring=(declare_monitoring(monitoring.checked(), at("monitoring"))
                    if monitoring is not None else None),
        node_plugin=(declare_node_plugin(spec.node_plugin.checked(), at("node_plugin"))
                     if spec.node_plugin is not None else None),
        network_policy=(declare_network_policy(network_policy.checked(), at("network_policy"))
                        if network_policy is not None else None),
        multi_network_policy=enforcer)


def cluster_wide(spec: StackSpec, root: tuple[str, ...] = ("config", CONFIG_KEY),
                 plan: Plan | None = None) -> list[Wanted]:
    """Every cluster-wide object the stack would register, grouped by the key asking
    (:func:`stack_installs`)."""
    return stack_installs(spec, root, plan).wanted()
