"""The cluster-wide objects a stack would register, grouped by the key asking for them, for
the ownership check (:mod:`netplumb.ownership`) before anything registers."""

from __future__ import annotations

from ..args.guardrails import NetworkGuardrailsArgs
from ..args.monitoring import MonitoringStackArgs
from ..args.multus import MultusInstallArgs
from ..args.node_plugin import NodePluginArgs
from ..args.sriov import SriovPoolArgs
from ..args.stack import CONFIG_KEY, StackSpec
from ..args.whereabouts import WhereaboutsArgs
from ..errors import format_path
from ..ownership import Wanted, is_cluster_scoped
from ..render.crds import multi_network_policy_crd
from ..render.guardrails import pod_security_namespace, rbac_manifests
from ..render.monitoring import monitoring_manifests
from ..render.multus import install_manifests
from ..render.nad import nad_crd
from ..render.node_plugin import node_plugin_manifests
from ..render.sriov import sriov_manifests
from ..render.whereabouts import whereabouts_manifests
from .build import Plan


def multus_wanted(args: MultusInstallArgs, at: str) -> list[Wanted]:
    """What a Multus install places cluster-wide (every object: the install is shared)."""
    crd = nad_crd()
    node_plugin = args.node_plugin_args()
    plugin_objects = node_plugin_manifests(node_plugin) if node_plugin is not None else []
    rest = [m for m in install_manifests(args) if m != crd and m not in plugin_objects]
    out = [Wanted(at, rest, instead=f"remove {at.rsplit('.', 1)[-1]}: and use the cluster's "
                                     "Multus")]
    if node_plugin is not None:
        out += node_plugin_wanted(node_plugin, f"{at}.node_plugin")
    if args.install_nad_crd:
        out.insert(0, Wanted(f"{at}.install_nad_crd", [crd],
                             instead="install_nad_crd: false under it"))
    return out


def sriov_wanted(args: SriovPoolArgs, at: str) -> list[Wanted]:
    return [Wanted(at, sriov_manifests(args), instead="remove it and use the cluster's "
                                                      "device plugin")]


def guardrails_wanted(args: NetworkGuardrailsArgs, at: str) -> list[Wanted]:
    """The cluster-wide part of the guardrails: created namespaces, the network roles and
    their cluster bindings, the MultiNetworkPolicy CRD."""
    out = [Wanted(f"{at}.pod_security[{i}].create", [pod_security_namespace(p)],
                  instead="create: false, which only labels the existing namespace")
           for i, p in enumerate(args.pod_security) if p.create]
    if args.rbac is not None:
        out.append(Wanted(f"{at}.rbac", [m for m in rbac_manifests(args.rbac)
                                         if is_cluster_scoped(m)],
                          instead="other role names (admin_role, viewer_role)"))
    if args.install_multi_network_policy_crd:
        out.append(Wanted(f"{at}.install_multi_network_policy_crd",
                          [multi_network_policy_crd()],
                          instead="install_multi_network_policy_crd: false"))
    return out


def whereabouts_wanted(args: WhereaboutsArgs, at: str) -> list[Wanted]:
    """A whereabouts install is shared: every object of it."""
    return [Wanted(at, whereabouts_manifests(args),
                   instead=f"{at.rsplit('.', 1)[-1]}: {{installed: external}} to use the "
                           "cluster's whereabouts")]


def node_plugin_wanted(args: NodePluginArgs, at: str) -> list[Wanted]:
    return [Wanted(at, node_plugin_manifests(args),
                   instead="install_node_plugin: false to use the nodes' own CNI plugins")]


def monitoring_wanted(args: MonitoringStackArgs, at: str) -> list[Wanted]:
    """Monitoring is a shared install too: the Service beside the node plugin, the objects
    Prometheus and Grafana read."""
    return [Wanted(at, monitoring_manifests(args),
                   instead="remove it and use the cluster's monitoring of the node plugin")]


def cluster_wide(spec: StackSpec, root: tuple[str, ...] = ("config", CONFIG_KEY),
                 plan: Plan | None = None) -> list[Wanted]:
    """Every cluster-wide object the stack would register, grouped by the key asking.
    ``plan`` (the stack's built plan) says whether its networks make it install
    whereabouts; without it only an explicit ``whereabouts: {installed: here}`` counts."""
    base = format_path(root)

    def at(key: str) -> str:
        return f"{base}{key}" if base.endswith(":") else f"{base}.{key}"

    out: list[Wanted] = []
    if spec.multus is not None:
        out += multus_wanted(spec.multus, at("multus"))
    if spec.install_nad_crd:
        out.append(Wanted(at("install_nad_crd"), [nad_crd()], instead="install_nad_crd: false"))
    if spec.sriov is not None:
        out += sriov_wanted(spec.sriov, at("sriov"))
    if spec.guardrails is not None:
        out += guardrails_wanted(spec.guardrails, at("guardrails"))
    if plan is not None:
        where = plan.whereabouts
    elif spec.whereabouts is not None and spec.whereabouts.installed == "here":
        where = spec.whereabouts.install_args()
    else:
        where = None
    if where is not None:
        out += whereabouts_wanted(where, at("whereabouts"))
    monitoring = plan.monitoring if plan is not None else spec.monitoring_args()
    if monitoring is not None:
        out += monitoring_wanted(monitoring, at("monitoring"))
    return out
