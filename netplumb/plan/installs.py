"""Shared installs as declarations (pure): what each one renders, what each object waits for,
the ownership groups its objects are checked under (:mod:`netplumb.ownership`) and its
outputs, rendered once from its args.

A component (:class:`netplumb.components.shared.SharedInstall`) registers a declaration as it
stands; a stack declares all of its installs first (:mod:`netplumb.plan.cluster_wide`), checks
their ownership at once and hands each declaration to its component."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..args.flannel import FlannelArgs
from ..args.guardrails import NetworkGuardrailsArgs
from ..args.monitoring import MonitoringStackArgs
from ..args.multi_network_policy import MultiNetworkPolicyEnforcerArgs
from ..args.multus import MultusInstallArgs
from ..args.network_policy import NetworkPolicyEnforcerArgs
from ..args.node_plugin import NodePluginArgs
from ..args.sriov import SriovPoolArgs
from ..args.whereabouts import WhereaboutsArgs
from ..ownership import Wanted, is_cluster_scoped
from ..render import flannel as flannel_render
from ..render import guardrails as guard_render
from ..render import monitoring as monitoring_render
from ..render import multi_network_policy as mnp_render
from ..render import multus as multus_render
from ..render import network_policy as network_policy_render
from ..render import node_plugin as node_plugin_render
from ..render import sriov as sriov_render
from ..render import whereabouts as whereabouts_render
from ..render.crds import multi_network_policy_crd, service_monitor_crd
from ..render.nad import nad_crd

A = TypeVar("A")

CRD = "CustomResourceDefinition"


@dataclass(frozen=True)
class Part:
    """One object of an install."""

    role: str
    """What it is in the install; its resource is named ``<install's name>-<role>``."""
    manifest: dict[str, Any]
    after: tuple[str, ...] = ()
    """Roles of the parts (or nested installs) it waits for."""
    cluster_wide: bool = True
    """Retained on ``pulumi destroy`` unless the stack says delete (every object of a shared
    install is, but the guardrails' namespaced ones)."""
    patch: bool = False
    """The object exists already: only the manifest's metadata is applied to it (the labels of
    a namespace the guardrails do not create)."""


@dataclass(frozen=True)
class Install(Generic[A]):
    """A shared install, rendered once: what its component registers, in order, and what is
    checked before anything registers."""

    type: str
    """The Pulumi type of its component (``netplumb:index:MultusInstall``)."""
    args: A
    """The checked args it was declared from."""
    wanted: tuple[Wanted, ...]
    """Ownership groups of every object it places, its nested installs' too."""
    parts: tuple[Part, ...]
    """Its objects, in registration order (after its nested installs)."""
    outputs: Mapping[str, Any]
    """Output name → plain value."""
    nested: Mapping[str, Install[Any]] = field(default_factory=dict)
    """Installs it places as child components (``<install's name>-<role>``), by role,
    registered first."""

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """Every object it places, its nested installs' first, in registration order."""
        out = [m for nested in self.nested.values() for m in nested.manifests]
        return out + [p.manifest for p in self.parts]


@dataclass(frozen=True, kw_only=True)
class MultusDeclared(Install[MultusInstallArgs]):
    """Multus' install, with what a verifier should find on a node afterwards."""

    validation: multus_render.MultusValidation


class _Parts:
    """Parts in registration order. :meth:`add` returns the part's role; a part waits only
    for the roles given that are not None (what an install leaves out, nothing waits for)."""

    def __init__(self) -> None:
        self.parts: list[Part] = []

    def add(self, role: str, manifest: dict[str, Any], *after: str | None,
            cluster_wide: bool = True, patch: bool = False) -> str:
        self.parts.append(Part(role, manifest, tuple(a for a in after if a is not None),
                               cluster_wide, patch))
        return role

    def identity(self, by_kind: Mapping[str, dict[str, Any]]) -> tuple[str | None, str]:
        """A cluster-wide agent's identity from its objects by kind: the ClusterRole and its
        binding (where it has a role), then the ServiceAccount. Returns the binding's role
        (None without) and the account's."""
        binding = None
        if "ClusterRole" in by_kind:
            role = self.add("cluster-role", by_kind["ClusterRole"])
            binding = self.add("cluster-role-binding", by_kind["ClusterRoleBinding"], role)
        return binding, self.add("service-account", by_kind["ServiceAccount"])

    def crds(self, manifests: Sequence[dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], list[str], dict[str, dict[str, Any]]]:
        """The CRDs among ``manifests`` added first: (the CRDs, their roles, the other
        objects by kind)."""
        crds = [m for m in manifests if m["kind"] == CRD]
        return (crds, [self.add(_crd_role(m), m) for m in crds],
                _by_kind(m for m in manifests if m["kind"] != CRD))

    def done(self) -> tuple[Part, ...]:
        return tuple(self.parts)


def _agent_parts(manifests: Iterable[dict[str, Any]]) -> tuple[Part, ...]:
    """A cluster-wide agent that is an identity and a DaemonSet running as it, in that
    order."""
    by_kind = _by_kind(manifests)
    parts = _Parts()
    binding, account = parts.identity(by_kind)
    parts.add("daemonset", by_kind["DaemonSet"], account, binding)
    return parts.done()


def _by_kind(manifests: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def _crd_role(crd: dict[str, Any]) -> str:
    return f"crd-{crd['spec']['names']['plural']}"


def _last_key(at: str) -> str:
    """The key ``at`` ends in (``multus`` of ``config.netplumb:spec.multus``)."""
    return at.rsplit(".", 1)[-1]


def slug(text: str) -> str:
    """``text`` as a part of a resource name: lower-case letters, digits and ``-``."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def namespaced_key(manifest: Mapping[str, Any]) -> str:
    """``namespace/name`` of a namespaced object."""
    return f"{manifest['metadata']['namespace']}/{manifest['metadata']['name']}"


# -- the installs -----------------------------------------------------------------------------
# ``at`` is where the install was asked for, for ownership findings: the component's resource
# name, or the key in a stack spec.


def declare_node_plugin(args: NodePluginArgs, at: str) -> Install[NodePluginArgs]:
    """The node plugin: its identity (a ClusterRole only with metrics), then the DaemonSet."""
    manifests = node_plugin_render.node_plugin_manifests(args)
    return Install(
        "netplumb:index:NodePlugin", args,
        (Wanted(at, manifests,
                instead="install_node_plugin: false to use the nodes' own CNI plugins"),),
        _agent_parts(manifests),
        {"namespace": args.namespace, "daemonset_name": node_plugin_render.DAEMONSET,
         "metrics_port": args.metrics_port if args.metrics else None,
         "plugins": list(args.installed_plugins)})


def declare_flannel(args: FlannelArgs, at: str) -> Install[FlannelArgs]:
    """Flannel: its namespace, RBAC, config, and the DaemonSet after all of them."""
    manifests = flannel_render.flannel_manifests(args)
    ns, role, binding, sa, cm, ds = manifests
    parts = _Parts()
    namespace = parts.add("namespace", ns)
    cluster_role = parts.add("cluster-role", role)
    cluster_role_binding = parts.add("cluster-role-binding", binding, cluster_role)
    account = parts.add("service-account", sa, namespace)
    config = parts.add("config", cm, namespace)
    parts.add("daemonset", ds, config, account, cluster_role_binding)
    return Install(
        "netplumb:index:Flannel", args,
        (Wanted(at, manifests, instead="use the cluster's default network"),), parts.done(),
        {"namespace": args.namespace, "daemonset_name": flannel_render.DAEMONSET,
         "network": args.network})


def declare_multus(args: MultusInstallArgs, at: str) -> MultusDeclared:
    """Multus with what it places first: the node plugin (the CNI plugins every network,
    Flannel's too, delegates to) and the default network; then the CRDs, its identity, the
    thick daemon's config, the DaemonSet and the metrics objects.

    The NAD CRD and the node plugin are owned under their own keys; Flannel's objects count
    as Multus' own (removing ``multus`` is how to use the cluster's)."""
    nested: dict[str, Install[Any]] = {}
    node_plugin = args.node_plugin_args()
    if node_plugin is not None:
        nested["node-plugin"] = declare_node_plugin(node_plugin, f"{at}.node_plugin")
    if args.installs_flannel:
        nested["flannel"] = declare_flannel(args.flannel, f"{at}.flannel")
    parts = _Parts()
    crd = nad_crd() if args.install_nad_crd else None
    if crd is not None:
        parts.add("nad-crd", crd)
    monitor_crd = None
    if args.service_monitor is not None and args.service_monitor.install_crd:
        monitor_crd = parts.add("service-monitor-crd", service_monitor_crd())
    by_kind = _by_kind(multus_render.multus_manifests(args))
    binding, account = parts.identity(by_kind)
    config = parts.add("daemon-config", by_kind["ConfigMap"]) if "ConfigMap" in by_kind else None
    # After the default network: Multus generates its config from the primary one.
    parts.add("daemonset", by_kind["DaemonSet"], config, account, binding,
              "flannel" if "flannel" in nested else None)
    metrics = parts.add("metrics", by_kind["Service"]) if "Service" in by_kind else None
    if "ServiceMonitor" in by_kind:
        monitoring_ns = (parts.add("monitoring-namespace", by_kind["Namespace"])
                         if "Namespace" in by_kind else None)
        parts.add("service-monitor", by_kind["ServiceMonitor"], monitor_crd, metrics,
                  monitoring_ns)
    wanted: list[Wanted] = []
    if crd is not None:
        wanted.append(Wanted(f"{at}.install_nad_crd", [crd],
                             instead="install_nad_crd: false under it"))
    flannel = nested["flannel"].manifests if "flannel" in nested else []
    own = [p.manifest for p in parts.parts if p.manifest is not crd]
    wanted.append(Wanted(at, flannel + own,
                         instead=f"remove {_last_key(at)}: and use the cluster's Multus"))
    if "node-plugin" in nested:
        wanted += nested["node-plugin"].wanted
    validation = multus_render.validation_steps(args)
    return MultusDeclared(
        "netplumb:index:MultusInstall", args, tuple(wanted), parts.done(),
        {"namespace": args.namespace, "daemonset_name": multus_render.DAEMONSET,
         "mode": args.mode,
         "config_paths": [p for np in validation.node_paths for p in np.paths
                          if "00-multus" in p]},
        nested, validation=validation)


def declare_nad_crd(at: str, instead: str = "the cluster's CRD, without NadCrd"
                    ) -> Install[None]:
    """The NAD CRD on its own."""
    crd = nad_crd()
    return Install("netplumb:index:NadCrd", None, (Wanted(at, [crd], instead=instead),),
                   (Part("crd", crd),), {})


def declare_whereabouts(args: WhereaboutsArgs, at: str) -> Install[WhereaboutsArgs]:
    """whereabouts: its CRDs, identity and config, then the DaemonSet, then the
    node-slice-controller (on request)."""
    manifests = whereabouts_render.whereabouts_manifests(args)
    parts = _Parts()
    crds, crd_roles, by_kind = parts.crds(manifests)
    binding, account = parts.identity(by_kind)
    config = parts.add("config", by_kind["ConfigMap"])
    ready = (account, binding, *crd_roles)
    daemonset = parts.add("daemonset", by_kind["DaemonSet"], config, *ready)
    if "Deployment" in by_kind:
        parts.add("node-slice-controller", by_kind["Deployment"], daemonset, *ready)
    return Install(
        "netplumb:index:Whereabouts", args,
        (Wanted(at, manifests, instead=f"{_last_key(at)}: {{installed: external}} to use the "
                                       "cluster's whereabouts"),),
        parts.done(),
        {"namespace": args.namespace, "daemonset_name": whereabouts_render.DAEMONSET,
         "crds": [m["metadata"]["name"] for m in crds]})


def declare_sriov(args: SriovPoolArgs, at: str) -> Install[SriovPoolArgs]:
    """The SR-IOV device plugin: ServiceAccount and pools' config, then the DaemonSet."""
    manifests = sriov_render.sriov_manifests(args)
    sa, cm, ds = manifests
    parts = _Parts()
    account = parts.add("service-account", sa)
    config = parts.add("config", cm)
    parts.add("daemonset", ds, config, account)
    return Install(
        "netplumb:index:SriovPool", args,
        (Wanted(at, manifests, instead="remove it and use the cluster's device plugin"),),
        parts.done(), {"resource_names": args.resource_names()})


def declare_monitoring(args: MonitoringStackArgs, at: str) -> Install[MonitoringStackArgs]:
    """Monitoring: the operator's CRDs and the namespace (on request) before the objects in
    them; the dashboard waits for the namespace only where it lives there."""
    manifests = monitoring_render.monitoring_manifests(args)
    parts = _Parts()
    crds = {m["spec"]["names"]["kind"]: parts.add(_crd_role(m), m)
            for m in manifests if m["kind"] == CRD}
    by_kind = _by_kind(manifests)
    ns = parts.add("namespace", by_kind["Namespace"]) if "Namespace" in by_kind else None
    if "Service" in by_kind:
        service = parts.add("metrics-service", by_kind["Service"])
        parts.add("service-monitor", by_kind["ServiceMonitor"], crds.get("ServiceMonitor"),
                  service, ns)
    rule = by_kind.get("PrometheusRule")
    if rule is not None:
        parts.add("prometheus-rule", rule, crds.get("PrometheusRule"), ns)
    if "ConfigMap" in by_kind:
        in_created = (args.dashboard_namespace or args.namespace) == args.namespace
        parts.add("dashboard", by_kind["ConfigMap"], ns if in_created else None)
    return Install(
        "netplumb:index:MonitoringStack", args,
        (Wanted(at, manifests, instead="remove it and use the cluster's monitoring of the "
                                       "node plugin"),),
        parts.done(),
        {"namespace": args.namespace, "job": monitoring_render.JOB,
         "alerts": [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
                   if rule is not None else [],
         "dashboard_uid": monitoring_render.DASHBOARD_UID if args.dashboard else None})


def declare_guardrails(args: NetworkGuardrailsArgs, at: str, *,
                       multi_network_policy_crd_at: str | None = None
                       ) -> Install[NetworkGuardrailsArgs]:
    """The guardrails: PodSecurity namespaces (created, or labelled where they exist), then
    quotas and policies in them, the MultiNetworkPolicy CRD before its policies, the network
    roles before their bindings. Cluster-wide, and so owned: the namespaces it creates, the
    roles and their cluster bindings, the CRD.

    ``multi_network_policy_crd_at``: another key that asks for the MultiNetworkPolicy CRD (a
    stack's ``multi_network_policy.install_crd``, :func:`declare_multi_network_policy`): the
    CRD then registers here, before the policies that need it, owned under that key."""
    parts = _Parts()
    wanted: list[Wanted] = []
    in_ns: dict[str, str] = {}
    for i, ps in enumerate(args.pod_security):
        manifest = guard_render.pod_security_namespace(ps)
        in_ns[ps.namespace] = parts.add(f"namespace-{ps.namespace}", manifest,
                                        cluster_wide=ps.create, patch=not ps.create)
        if ps.create:
            wanted.append(Wanted(f"{at}.pod_security[{i}].create", [manifest],
                                 instead="create: false, which only labels the existing "
                                         "namespace"))

    def ns_of(manifest: dict[str, Any]) -> str | None:
        return in_ns.get(manifest["metadata"].get("namespace", ""))

    quotas = [guard_render.resource_quota(q) for q in args.quotas]
    for m in quotas:
        parts.add(f"quota-{slug(namespaced_key(m))}", m, ns_of(m), cluster_wide=False)
    for m in (guard_render.network_policy(p) for p in args.network_policies):
        parts.add(f"policy-{slug(namespaced_key(m))}", m, ns_of(m), cluster_wide=False)
    crd_at = (f"{at}.install_multi_network_policy_crd" if args.install_multi_network_policy_crd
              else multi_network_policy_crd_at)
    crd = multi_network_policy_crd() if crd_at is not None else None
    mnp_crd = parts.add("multi-network-policy-crd", crd) if crd is not None else None
    for m in (guard_render.multi_network_policy(p) for p in args.multi_network_policies):
        parts.add(f"multi-policy-{slug(namespaced_key(m))}", m, mnp_crd, ns_of(m),
                  cluster_wide=False)
    rbac = guard_render.rbac_manifests(args.rbac) if args.rbac is not None else []
    roles = {m["metadata"]["name"]: parts.add(f"role-{m['metadata']['name']}", m)
             for m in rbac if m["kind"] == "ClusterRole"}
    for m in rbac:
        if m["kind"] != "ClusterRole":
            parts.add(f"binding-{m['metadata']['name']}", m, roles.get(m["roleRef"]["name"]),
                      ns_of(m), cluster_wide=m["kind"] == "ClusterRoleBinding")
    if args.rbac is not None:
        wanted.append(Wanted(f"{at}.rbac", [m for m in rbac if is_cluster_scoped(m)],
                             instead="other role names (admin_role, viewer_role)"))
    if crd_at is not None and crd is not None:
        wanted.append(Wanted(crd_at, [crd], instead=(
            "install_multi_network_policy_crd: false" if args.install_multi_network_policy_crd
            else "install_crd: false under it, to use the cluster's CRD")))
    r = args.rbac
    return Install(
        "netplumb:index:NetworkGuardrails", args, tuple(wanted), parts.done(),
        {"admin_role": r.admin_role if r else None, "viewer_role": r.viewer_role if r else None,
         "quotas": sorted({namespaced_key(m) for m in quotas})})


def declare_network_policy(args: NetworkPolicyEnforcerArgs, at: str
                           ) -> Install[NetworkPolicyEnforcerArgs]:
    """NetworkPolicy enforcement (kube-router's firewall): its identity, then the
    DaemonSet."""
    manifests = network_policy_render.network_policy_manifests(args)
    return Install(
        "netplumb:index:NetworkPolicyEnforcer", args,
        (Wanted(at, manifests, instead=f"remove {_last_key(at)}: where the cluster's default "
                                       "network enforces NetworkPolicies itself"),),
        _agent_parts(manifests),
        {"namespace": args.namespace, "daemonset_name": network_policy_render.DAEMONSET,
         "health_port": args.health_port, "metrics_port": args.metrics_port})


def declare_multi_network_policy(args: MultiNetworkPolicyEnforcerArgs, at: str, *,
                                 crd: bool | None = None
                                 ) -> Install[MultiNetworkPolicyEnforcerArgs]:
    """MultiNetworkPolicy enforcement (multi-networkpolicy-iptables): the CRD (``crd``;
    default: the args' ``install_crd``, unset counting as yes), its identity, the custom
    rules' ConfigMap, then the DaemonSet after all of them. The CRD is owned under
    ``<at>.install_crd``; a stack whose guardrails carry the policies registers it with them
    instead (:func:`declare_guardrails`), ``crd=False`` here."""
    manifests = mnp_render.multi_network_policy_manifests(args, crd=crd)
    parts = _Parts()
    crds, crd_roles, by_kind = parts.crds(manifests)
    binding, account = parts.identity(by_kind)
    config = parts.add("config", by_kind["ConfigMap"]) if "ConfigMap" in by_kind else None
    parts.add("daemonset", by_kind["DaemonSet"], config, account, binding, *crd_roles)
    wanted: list[Wanted] = []
    if crds:
        wanted.append(Wanted(f"{at}.install_crd", crds,
                             instead="install_crd: false under it, to use the cluster's CRD"))
    wanted.append(Wanted(at, [m for m in manifests if m["kind"] != CRD],
                         instead=f"remove {_last_key(at)}: and use the cluster's "
                                 "MultiNetworkPolicy implementation"))
    return Install(
        "netplumb:index:MultiNetworkPolicyEnforcer", args, tuple(wanted), parts.done(),
        {"namespace": args.namespace, "daemonset_name": mnp_render.DAEMONSET,
         "network_plugins": list(args.network_plugins),
         "crd": crds[0]["metadata"]["name"] if crds else None})
