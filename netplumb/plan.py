"""A stack spec resolved into a checked plan, and the manifests it renders to (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checks.addresses import check_network_addresses
from .checks.capacity import check_capacity
from .checks.cluster import check_cluster_overlap
from .checks.ipam_scope import check_node_local_ipam
from .checks.multus import check_default_route_support, check_namespace_isolation
from .checks.names import repeated
from .checks.networks import PlannedNetwork, check_networks, raise_on_errors
from .checks.segments import check_segments
from .checks.selections import (
    add_ips_capability,
    check_device_pools,
    check_policy_targets,
    check_selections,
    device_requests,
    workload_of,
    workload_of_pod,
)
from .errors import Finding, PlanError, format_path
from .ownership import Wanted
from .render.crds import multi_network_policy_crd
from .render.guardrails import guardrail_manifests
from .render.multus import attach_to_workload, install_manifests, workload
from .render.nad import nad, nad_crd
from .render.pod import pod
from .render.sriov import sriov_manifests
from .spec.networks import CniNetworkArgs, NadFields
from .spec.platform import (
    MultusInstallArgs,
    NetworkGuardrailsArgs,
    SriovPoolArgs,
    WorkloadArgs,
)
from .spec.stack import CONFIG_KEY, StackSpec
from .spec.workloads import PodArgs


@dataclass
class Plan:
    spec: StackSpec
    networks: list[tuple[PlannedNetwork, NadFields]] = field(default_factory=list)
    pods: list[tuple[str, PodArgs]] = field(default_factory=list)
    workloads: list[tuple[str, WorkloadArgs]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def resource_of(self) -> dict[str, str]:
        """``ns/name`` → device resource, for the networks that name one."""
        return {net.key: args.resource_name for net, args in self.networks
                if args.resource_name}

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "error"]


def build_plan(spec: StackSpec, *, root: tuple[str, ...] = ("config", CONFIG_KEY)) -> Plan:
    """Resolve names, build every CNI config, run every check; raise :class:`PlanError`."""
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
    for j, p in enumerate(spec.pods):
        if p.name is None:
            errors.append(Finding(format_path((*root, "pods", j, "name")), None,
                                  "required in a stack file; expected the pod name"))
            continue
        plan.pods.append((p.name, p))
    for k, w in enumerate(spec.workloads):
        if w.name is None:
            errors.append(Finding(format_path((*root, "workloads", k, "name")), None,
                                  "required in a stack file; expected the workload name"))
            continue
        plan.workloads.append((w.name, w))
    if errors:
        raise PlanError(errors, context="stack spec")
    base = format_path(root)
    users = [workload_of_pod(f"{base}.pods[{j}]", p) for j, (_, p) in enumerate(plan.pods)]
    users += [workload_of(f"{base}.workloads[{k}]", w)
              for k, (_, w) in enumerate(plan.workloads)]
    fixed, findings = add_ips_capability([n for n, _ in plan.networks], users)
    plan.networks = [(n, a) for n, (_, a) in zip(fixed, plan.networks, strict=True)]
    findings += repeated((((p.namespace, name), f"{base}.pods[{j}].name", name)
                          for j, (name, p) in enumerate(plan.pods)), "pod")
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        findings += repeated((((w.namespace, name), f"{base}.workloads[{k}].name", name)
                              for k, (name, w) in enumerate(plan.workloads) if w.kind == kind),
                             kind)
    findings += check_networks(fixed)
    for net in fixed:
        findings += check_network_addresses(net)
    findings += check_selections(fixed, users, external=spec.external_networks)
    findings += check_segments(fixed, users)
    findings += check_capacity(fixed, users)
    findings += check_default_route_support(spec.multus, users)
    findings += check_namespace_isolation(spec.multus, users)
    findings += check_node_local_ipam(fixed, users)
    findings += check_cluster_overlap(fixed, spec.cluster_cidrs())
    pools = set(spec.sriov.resource_names().values()) if spec.sriov is not None else None
    findings += check_device_pools([(n, a.resource_name) for n, a in plan.networks], pools)
    if spec.guardrails is not None:
        known = {n.key for n in fixed} | set(spec.external_networks)
        findings += check_policy_targets(spec.guardrails, known, at=(*root, "guardrails"))
    raise_on_errors(findings)
    plan.findings = findings
    return plan


def nad_manifests(plan: Plan) -> list[dict[str, Any]]:
    """The plan's NetworkAttachmentDefinitions."""
    return [nad(net.name, net.namespace, net.config, resource_name=args.resource_name,
                labels=args.labels, annotations=args.annotations)
            for net, args in plan.networks]


def pod_manifests(plan: Plan) -> list[dict[str, Any]]:
    """The plan's bare pods (device requests added for SR-IOV attachments)."""
    resource_of = plan.resource_of()
    return [attach_to_workload(pod(name, p), [], device_resources=device_requests(
                p.networks, p.namespace, resource_of))
            for name, p in plan.pods]


def render_plan(plan: Plan) -> list[dict[str, Any]]:
    """Every object the plan deploys, in apply order (platform, CRDs, guardrails, NADs,
    pods, workloads)."""
    spec = plan.spec
    out: list[dict[str, Any]] = []
    if spec.multus is not None:
        out += install_manifests(spec.multus)
    if spec.install_nad_crd:
        out.append(nad_crd())
    if spec.sriov is not None:
        out += sriov_manifests(spec.sriov)
    if spec.guardrails is not None:
        if spec.guardrails.install_multi_network_policy_crd:
            out.append(multi_network_policy_crd())
        out += guardrail_manifests(spec.guardrails)
    out += nad_manifests(plan)
    out += pod_manifests(plan)
    resource_of = plan.resource_of()
    for name, w in plan.workloads:
        out.append(workload(name, w, device_requests(w.networks, w.namespace, resource_of)))
    return out


# -- cluster-wide objects, for the ownership check ----------------------------------------


def multus_wanted(args: MultusInstallArgs, at: str) -> list[Wanted]:
    """What a Multus install places cluster-wide (every object: the install is shared)."""
    crd = nad_crd()
    rest = [m for m in install_manifests(args) if m != crd]
    out = [Wanted(at, rest, instead=f"remove {at.rsplit('.', 1)[-1]}: and use the cluster's "
                                     "Multus")]
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
    from .ownership import is_cluster_scoped
    from .render.guardrails import pod_security_namespace, rbac_manifests

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


def cluster_wide(spec: StackSpec, root: tuple[str, ...] = ("config", CONFIG_KEY)
                 ) -> list[Wanted]:
    """Every cluster-wide object the stack would register, grouped by the key asking."""
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
    return out
