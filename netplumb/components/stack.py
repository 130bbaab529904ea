"""A whole environment from a :class:`~netplumb.spec.stack.StackSpec`."""

from __future__ import annotations

import pulumi

from ..checks.selections import device_requests
from ..plan import Plan, build_plan
from ..spec.stack import StackSpec
from .network import NadCrd, register_nad
from .platform import MultusInstall, NetworkGuardrails, SriovPool
from .pod import MultiHomedPod
from .workload import MultiHomedWorkload


class NetplumbStack(pulumi.ComponentResource):
    """Checks the whole plan, then registers the CRD, the NADs and the pods.

    Every check (per field, across networks, pods against networks) runs before the first
    resource registers; a failing check raises :class:`netplumb.PlanError` and nothing is
    created. NADs register directly under the stack (one node each in the resource tree,
    named ``<namespace>-<name>``): the per-kind components wrap the same
    :func:`register_nad` for programs that compose networks by hand.
    """

    def __init__(self, name: str, spec: StackSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        plan: Plan = build_plan(spec)
        super().__init__("netplumb:index:Stack", name, None, opts)
        for finding in plan.warnings:
            pulumi.log.warn(str(finding))
        self.plan = plan
        deps: list[pulumi.Resource] = []
        child = pulumi.ResourceOptions(parent=self)
        self.multus = MultusInstall(f"{name}-multus", spec.multus, child) if spec.multus else None
        if self.multus is not None and self.multus.nad_crd is not None:
            deps.append(self.multus.nad_crd)
        if spec.install_nad_crd:
            deps.append(NadCrd(f"{name}-nad-crd", pulumi.ResourceOptions(parent=self)))
        self.sriov = SriovPool(f"{name}-sriov", spec.sriov, child) if spec.sriov else None
        self.guardrails = None
        if spec.guardrails is not None:
            self.guardrails = NetworkGuardrails(f"{name}-guardrails", spec.guardrails, child)
            # NADs may live in namespaces the guardrails create
            deps += list(self.guardrails.namespaces.values())
        self.nads: dict[str, pulumi.CustomResource] = {}
        for net, args in plan.networks:
            self.nads[net.key] = register_nad(
                f"{net.namespace}-{net.name}", net, args,
                pulumi.ResourceOptions(parent=self, depends_on=deps))
        resource_of = plan.resource_of()
        # Pods and workloads start once the Multus this stack installs is running: a pod
        # sandboxed while only the default network's CNI config is on the node gets that
        # network alone, and no secondary network ever reaches it.
        runtime: list[pulumi.Resource] = [self.multus] if self.multus is not None else []
        self.pods: dict[str, MultiHomedPod] = {}
        for pod_name, p in plan.pods:
            needs: list[pulumi.Resource] = [
                self.nads[s.key(p.namespace)] for s in p.networks] + runtime
            self.pods[f"{p.namespace}/{pod_name}"] = MultiHomedPod(
                f"{p.namespace}-{pod_name}", p,
                pulumi.ResourceOptions(parent=self, depends_on=needs),
                device_resources=device_requests(p.networks, p.namespace, resource_of))
        self.workloads: dict[str, MultiHomedWorkload] = {}
        for wl_name, w in plan.workloads:
            needs = [self.nads[k] for k in {s.key(w.namespace)
                                             for s in w.networks} if k in self.nads] + runtime
            self.workloads[f"{w.namespace}/{wl_name}"] = MultiHomedWorkload(
                f"{w.namespace}-{wl_name}", w,
                pulumi.ResourceOptions(parent=self, depends_on=needs),
                resource_names=resource_of)
        self.nad_names = pulumi.Output.from_input(sorted(self.nads))
        self.pod_names = pulumi.Output.from_input(sorted(self.pods))
        self.register_outputs({"networks": self.nad_names, "pods": self.pod_names})
