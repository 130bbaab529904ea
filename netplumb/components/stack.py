"""A whole environment from a :class:`~netplumb.spec.stack.StackSpec`."""

from __future__ import annotations

import pulumi

from ..checks.selections import device_requests
from ..errors import format_path
from ..ownership import OwnershipPolicy, check_takeovers
from ..plan import Plan, build_plan, cluster_wide
from ..spec.stack import CONFIG_KEY, StackSpec
from .cluster import program_reader
from .network import NadCrd, register_nad
from .objects import default_policy, ownership, retained_refs
from .platform import MultusInstall, NetworkGuardrails, SriovPool
from .pod import MultiHomedPod
from .workload import MultiHomedWorkload


class NetplumbStack(pulumi.ComponentResource):
    """Checks the whole plan, then registers the CRD, the NADs and the pods.

    Every check (per field, across networks, pods against networks, and the ownership of
    cluster-wide objects already in the cluster) runs before the first resource registers; a
    failing check raises :class:`netplumb.PlanError` and nothing is created. ``at`` is where
    the spec came from (the prefix of every finding's path). NADs register directly under
    the stack (one node each in the resource tree,
    named ``<namespace>-<name>``): the per-kind components wrap the same
    :func:`register_nad` for programs that compose networks by hand.
    """

    def __init__(self, name: str, spec: StackSpec,
                 opts: pulumi.ResourceOptions | None = None, *,
                 at: tuple[str, ...] = ("config", CONFIG_KEY)) -> None:
        plan: Plan = build_plan(spec, root=at)
        base = format_path(at)
        policy = OwnershipPolicy(
            owner=default_policy().owner, adopt=frozenset(spec.cluster_objects.adopt),
            delete_on_destroy=spec.cluster_objects.on_destroy == "delete",
            adopt_path=f"{base}{'' if base.endswith(':') else '.'}cluster_objects.adopt")
        check_takeovers(cluster_wide(spec, at), program_reader(), policy)
        with ownership(policy):
            self._register(name, spec, plan, opts)

    def _register(self, name: str, spec: StackSpec, plan: Plan,
                  opts: pulumi.ResourceOptions | None) -> None:
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
            deps.append(NadCrd(f"{name}-nad-crd", pulumi.ResourceOptions(parent=self)).crd)
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
        self.pods: dict[str, MultiHomedPod] = {}
        for pod_name, p in plan.pods:
            needs: list[pulumi.Resource] = [
                self.nads[s.key(p.namespace)] for s in p.networks]
            self.pods[f"{p.namespace}/{pod_name}"] = MultiHomedPod(
                f"{p.namespace}-{pod_name}", p,
                pulumi.ResourceOptions(parent=self, depends_on=needs),
                device_resources=device_requests(p.networks, p.namespace, resource_of))
        self.workloads: dict[str, MultiHomedWorkload] = {}
        for wl_name, w in plan.workloads:
            needs = [self.nads[k] for k in {s.key(w.namespace)
                                             for s in w.networks} if k in self.nads]
            self.workloads[f"{w.namespace}/{wl_name}"] = MultiHomedWorkload(
                f"{w.namespace}-{wl_name}", w,
                pulumi.ResourceOptions(parent=self, depends_on=needs),
                resource_names=resource_of)
        self.nad_names = pulumi.Output.from_input(sorted(self.nads))
        self.pod_names = pulumi.Output.from_input(sorted(self.pods))
        self.retained_on_destroy = pulumi.Output.from_input(retained_refs())
        self.register_outputs({"networks": self.nad_names, "pods": self.pod_names,
                               "retained_on_destroy": self.retained_on_destroy})
