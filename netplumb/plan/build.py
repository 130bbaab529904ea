"""A stack spec resolved into a checked plan, and the manifests it renders to (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..args.monitoring import MonitoringStackArgs
from ..args.nad import CniNetworkArgs, NadFields
from ..args.pod import PodArgs
from ..args.stack import CONFIG_KEY, StackSpec
from ..args.whereabouts import WhereaboutsArgs
from ..args.workload import WorkloadArgs
from ..checks.addresses import check_network_addresses
from ..checks.capacity import check_capacity
from ..checks.cluster import check_cluster_overlap
from ..checks.ipam_scope import check_node_local_ipam
from ..checks.multus import (
    check_connection_limit,
    check_default_network,
    check_default_route_support,
    check_namespace_isolation,
)
from ..checks.names import repeated
from ..checks.networks import check_networks
from ..checks.node_plugin import check_node_plugin
from ..checks.policies import check_policies
from ..checks.quotas import QuotaMember, check_quotas
from ..checks.segments import check_segments
from ..checks.selections import check_device_pools, check_policy_targets, check_selections
from ..errors import Finding, PlanError, format_path, raise_on_errors
from ..gcpause import collector_paused
from ..planned import PlannedNetwork, workload_of, workload_of_pod
from ..render.crds import multi_network_policy_crd
from ..render.guardrails import guardrail_manifests
from ..render.mirror import with_mirror
from ..render.monitoring import monitoring_manifests
from ..render.multi_network_policy import multi_network_policy_manifests
from ..render.multus import install_manifests
from ..render.nad import nad, nad_crd
from ..render.network_policy import network_policy_manifests
from ..render.node_plugin import node_plugin_manifests
from ..render.pod import pod
from ..render.sriov import sriov_manifests
from ..render.whereabouts import whereabouts_manifests
from ..render.workload import workload
from .addons import whereabouts_install
from .fixups import add_ips_capability, container_resources, device_requests

A = TypeVar("A", PodArgs, WorkloadArgs)


@dataclass
class Plan:
    spec: StackSpec
    networks: list[tuple[PlannedNetwork, NadFields]] = field(default_factory=list)
    pods: list[tuple[str, PodArgs]] = field(default_factory=list)
    workloads: list[tuple[str, WorkloadArgs]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``Kind/namespace/name`` → the container's requests and limits with the device
    resources its selections need (pods and workloads that need any)."""
    whereabouts: WhereaboutsArgs | None = None
    """The whereabouts install the stack places (asked for, or needed by its networks)."""
    monitoring: MonitoringStackArgs | None = None
    """The monitoring stack, with the node plugin's namespace and port filled in."""

    def resource_of(self) -> dict[str, str]:
        """``ns/name`` → device resource, for the networks that name one."""
        return {net.key: args.resource_name for net, args in self.networks
                if args.resource_name}

    def container_resources(self, kind: str, name: str, args: PodArgs | WorkloadArgs
                            ) -> dict[str, Any]:
        """What the plan gives the container of a pod (``kind`` Pod) or workload."""
        found = self.resources.get(f"{kind}/{args.namespace}/{name}")
        return found if found is not None else args.resources.to_dict()

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "error"]


def build_plan(spec: StackSpec, *, root: tuple[str, ...] = ("config", CONFIG_KEY)) -> Plan:
    """Resolve names, build every CNI config, run every check, add what netplumb adds
    itself (capabilities, device resources); raise :class:`PlanError`."""
    with collector_paused():
        return _build_plan(spec, root)


def _build_plan(spec: StackSpec, root: tuple[str, ...]) -> Plan:
    plan = Plan(spec)
    errors: list[Finding] = []
    for i, args in enumerate(spec.networks):
        where: tuple[str | int, ...] = (*root, "networks", i)
        if args.name is None:
            errors.append(Finding(format_path((*where, "name")), None,
                                  "required in a stack file; expected the NAD name"))
            continue
        try:
            config = args.cni_config(args.name)
        except PlanError as exc:
            errors += exc.prefixed(where).findings
            continue
        plan.networks.append((PlannedNetwork(
            args.name, args.namespace, config, format_path(where),
            given_as="config" if isinstance(args, CniNetworkArgs) else "args"), args))
    plan.pods = _named(spec.pods, (*root, "pods"), "pod", errors)
    plan.workloads = _named(spec.workloads, (*root, "workloads"), "workload", errors)
    if errors:
        raise PlanError(errors, context="stack spec")
    base = format_path(root)
    users = [workload_of_pod(f"{base}.pods[{j}]", p) for j, (_, p) in enumerate(plan.pods)]
    users += [workload_of(f"{base}.workloads[{k}]", w)
              for k, (_, w) in enumerate(plan.workloads)]
    fixed, findings = add_ips_capability([n for n, _ in plan.networks], users)
    plan.networks = [(n, a) for n, (_, a) in zip(fixed, plan.networks, strict=True)]
    findings += repeated((((p.namespace, name), name) for name, p in plan.pods),
                         lambda j: f"{base}.pods[{j}].name", "pod")
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        of_kind = [k for k, (_, w) in enumerate(plan.workloads) if w.kind == kind]

        def path(i: int, of_kind: list[int] = of_kind) -> str:
            return f"{base}.workloads[{of_kind[i]}].name"

        findings += repeated(
            (((plan.workloads[k][1].namespace, plan.workloads[k][0]), plan.workloads[k][0])
             for k in of_kind), path, kind)
    findings += check_networks(fixed)
    for net in fixed:
        findings += check_network_addresses(net)
    findings += check_selections(fixed, users, external=spec.external_networks)
    findings += check_segments(fixed, users)
    findings += check_capacity(fixed, users)
    findings += check_default_route_support(spec.multus, users)
    findings += check_namespace_isolation(spec.multus, users)
    findings += check_default_network(spec.multus, format_path((*root, "multus")))
    findings += check_connection_limit(spec.multus, format_path((*root, "multus")))
    findings += check_node_local_ipam(fixed, users)
    findings += check_node_plugin(fixed, spec.node_plugin_args(),
                                  format_path((*root, *spec.node_plugin_at().split("."))))
    findings += check_cluster_overlap(fixed, spec.cluster_cidrs())
    pools = set(spec.sriov.resource_names().values()) if spec.sriov is not None else None
    findings += check_device_pools([(n, a.resource_name) for n, a in plan.networks], pools)
    if spec.guardrails is not None:
        known = {n.key for n in fixed} | set(spec.external_networks)
        findings += check_policy_targets(spec.guardrails, known, at=(*root, "guardrails"))
        findings += check_policies(spec, fixed, plan.pods, plan.workloads, root=root)
    findings += _device_resources(plan, base)
    if spec.guardrails is not None and spec.guardrails.quotas:
        findings += check_quotas(spec.guardrails.quotas, _quota_members(plan, base),
                                 at=(*root, "guardrails", "quotas"))
    plan.whereabouts, found = whereabouts_install(spec, fixed, base)
    findings += found
    plan.monitoring = spec.monitoring_args()
    raise_on_errors(findings)
    plan.findings = findings
    return plan


def _named(items: list[A], at: tuple[str | int, ...], what: str, errors: list[Finding]
           ) -> list[tuple[str, A]]:
    """``(name, item)`` of every item that has a name (a stack file must give it)."""
    out = []
    for i, item in enumerate(items):
        if item.name is None:
            errors.append(Finding(format_path((*at, i, "name")), None,
                                  f"required in a stack file; expected the {what} name"))
        else:
            out.append((item.name, item))
    return out


def _device_resources(plan: Plan, base: str) -> list[Finding]:
    """Device resources of every pod and workload whose selections need any, into
    ``plan.resources``; a conflict with what the user set is a finding."""
    resource_of = plan.resource_of()
    if not resource_of:
        return []
    findings: list[Finding] = []
    owners: list[tuple[str, str, str, PodArgs | WorkloadArgs]] = [
        ("Pod", name, f"{base}.pods[{j}]", p) for j, (name, p) in enumerate(plan.pods)]
    owners += [(w.kind, name, f"{base}.workloads[{k}]", w)
               for k, (name, w) in enumerate(plan.workloads)]
    for kind, name, where, args in owners:
        needs = device_requests(args.networks, args.namespace, resource_of)
        if not needs:
            continue
        try:
            plan.resources[f"{kind}/{args.namespace}/{name}"] = container_resources(
                args.resources, needs, where=f"{where}.resources")
        except PlanError as exc:
            findings += exc.findings
    return findings


def _quota_members(plan: Plan, base: str) -> list[QuotaMember]:
    """The plan's pods and workload templates as quotas count them (after the device
    resources are added)."""
    out = [QuotaMember(f"{base}.pods[{j}]", p.namespace,
                       plan.container_resources("Pod", name, p), 1)
           for j, (name, p) in enumerate(plan.pods)]
    out += [QuotaMember(f"{base}.workloads[{k}]", w.namespace,
                        plan.container_resources(w.kind, name, w), w.replicas)
            for k, (name, w) in enumerate(plan.workloads)]
    return out


def nad_manifests(plan: Plan) -> list[dict[str, Any]]:
    """The plan's NetworkAttachmentDefinitions."""
    return [nad(net.name, net.namespace, net.config, resource_name=args.resource_name,
                labels=args.labels, annotations=args.annotations)
            for net, args in plan.networks]


def pod_manifests(plan: Plan) -> list[dict[str, Any]]:
    """The plan's bare pods (device requests added for SR-IOV attachments)."""
    return [pod(name, p, plan.container_resources("Pod", name, p)) for name, p in plan.pods]


def workload_manifests(plan: Plan) -> list[dict[str, Any]]:
    """The plan's Deployments, StatefulSets and DaemonSets."""
    return [workload(name, w, plan.container_resources(w.kind, name, w))
            for name, w in plan.workloads]


def render_plan(plan: Plan) -> list[dict[str, Any]]:
    """Every object the plan deploys, in apply order (platform, CRDs, whereabouts, policy
    enforcers, guardrails, monitoring, NADs, pods, workloads)."""
    spec = plan.spec
    out: list[dict[str, Any]] = []
    if spec.multus is not None:
        out += install_manifests(spec.multus)
    if spec.node_plugin is not None:
        out += node_plugin_manifests(spec.node_plugin)
    if spec.install_nad_crd:
        out.append(nad_crd())
    if plan.whereabouts is not None:
        out += whereabouts_manifests(plan.whereabouts)
    if spec.sriov is not None:
        out += sriov_manifests(spec.sriov)
    if (enforcer := spec.network_policy_args()) is not None:
        out += network_policy_manifests(enforcer)
    if spec.multi_network_policy is not None:  # its CRD (on request) before the policies
        out += multi_network_policy_manifests(spec.multi_network_policy, crd=(
            spec.multi_network_policy_crd_key() == "multi_network_policy.install_crd"))
    if spec.guardrails is not None:
        if spec.guardrails.install_multi_network_policy_crd:
            out.append(multi_network_policy_crd())
        out += guardrail_manifests(spec.guardrails)
    if plan.monitoring is not None:
        out += monitoring_manifests(plan.monitoring)
    out += nad_manifests(plan)
    out += pod_manifests(plan)
    out += workload_manifests(plan)
    return [with_mirror(m, spec.images.mirror) for m in out] if spec.images.mirror else out
