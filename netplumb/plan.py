"""A stack spec resolved into a checked plan, and the manifests it renders to (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .checks.networks import PlannedNetwork, check_networks, raise_on_errors
from .checks.pods import check_pods
from .errors import Finding, PlanError, format_path
from .render.nad import nad, nad_crd
from .render.pod import pod
from .spec.networks import NadFields
from .spec.stack import CONFIG_KEY, StackSpec
from .spec.workloads import PodArgs


@dataclass
class Plan:
    spec: StackSpec
    networks: list[tuple[PlannedNetwork, NadFields]] = field(default_factory=list)
    pods: list[tuple[str, PodArgs]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

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
        plan.networks.append((PlannedNetwork(args.name, args.namespace, config,
                                             format_path(where)), args))
    for j, p in enumerate(spec.pods):
        if p.name is None:
            errors.append(Finding(format_path((*root, "pods", j, "name")), None,
                                  "required in a stack file; expected the pod name"))
            continue
        plan.pods.append((p.name, p))
    if errors:
        raise PlanError(errors, context="stack spec")
    findings = check_networks(n for n, _ in plan.networks)
    findings += check_pods([n for n, _ in plan.networks],
                           [(f"{'.'.join(root)}.pods[{j}]", p) for j, (_, p) in
                            enumerate(plan.pods)])
    raise_on_errors(findings)
    plan.findings = findings
    return plan


def render_plan(plan: Plan) -> list[dict[str, Any]]:
    """Every object the plan deploys, in apply order (CRD, NADs, pods)."""
    out: list[dict[str, Any]] = []
    if plan.spec.install_nad_crd:
        out.append(nad_crd())
    for net, args in plan.networks:
        out.append(nad(net.name, net.namespace, net.config, resource_name=args.resource_name,
                       labels=args.labels, annotations=args.annotations))
    for name, p in plan.pods:
        out.append(pod(name, p))
    return out
