"""A whole environment from a :class:`~netplumb.args.StackSpec`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

from ..args.stack import CONFIG_KEY, StackSpec
from ..errors import PlanError, format_path
from ..ownership import ObjectRef, OwnershipPolicy, check_takeovers
from ..plan import Plan, StackInstalls, build_plan, nad_manifests, pod_manifests, stack_installs
from ..plan.installs import Install
from ..render.mirror import with_mirror
from .cluster import program_reader, resolve_default_network
from .guardrails import NetworkGuardrails
from .monitoring import MonitoringStack
from .multi_network_policy import MultiNetworkPolicyEnforcer
from .multus import MultusInstall
from .network import NadCrd
from .network_policy import NetworkPolicyEnforcer
from .node_plugin import NodePlugin
from .objects import (
    ObjectSet,
    current_mirror,
    current_policy,
    default_policy,
    images_from,
    note_retained,
    ownership,
    retained_refs,
)
from .shared import SharedInstall
from .sriov import SriovPool
from .whereabouts import Whereabouts
from .workload import MultiHomedWorkload

C = TypeVar("C", bound=SharedInstall[Any])


class NetplumbStack(pulumi.ComponentResource):
    """Checks the whole plan, then registers the platform, the CRD, the NADs and the pods.

    Every check (per field, across networks, pods against networks, and the ownership of
    cluster-wide objects already in the cluster) runs before the first resource registers; a
    failing check raises :class:`netplumb.PlanError` and nothing is created. ``at`` is where
    the spec came from (the prefix of every finding's path).

    NADs and bare pods register as one :class:`ObjectSet` per namespace
    (``<name>-networks-<namespace>``, ``<name>-pods-<namespace>``), so a stack of thousands
    of them costs the engine a handful of resources; the per-kind components
    (:class:`MacvlanNetwork`, :class:`MultiHomedPod`, …) register one object each for
    programs that compose networks by hand.
    """

    def __init__(self, name: str, spec: StackSpec,
                 opts: pulumi.ResourceOptions | None = None, *,
                 at: tuple[str, ...] = ("config", CONFIG_KEY)) -> None:
        try:
            spec = spec.checked()
        except PlanError as exc:
            raise exc.prefixed(at) from None
        base = format_path(at)
        if spec.multus is not None:
            spec = spec.model_copy(update={"multus": resolve_default_network(
                spec.multus, f"{base}{'' if base.endswith(':') else '.'}multus",
                default_policy().owner)})
        plan: Plan = build_plan(spec, root=at)
        installs = stack_installs(spec, at, plan)
        policy = OwnershipPolicy(
            owner=default_policy().owner, adopt=frozenset(spec.cluster_objects.adopt),
            delete_on_destroy=spec.cluster_objects.on_destroy == "delete",
            retain_adopted=spec.cluster_objects.adopted_on_destroy == "retain",
            adopt_path=f"{base}{'' if base.endswith(':') else '.'}cluster_objects.adopt")
        check_takeovers(installs.wanted(), program_reader(), policy)
        with ownership(policy), images_from(spec.images.mirror):
            self._register(name, spec, plan, installs, opts)

    def _register(self, name: str, spec: StackSpec, plan: Plan, installs: StackInstalls,
                  opts: pulumi.ResourceOptions | None) -> None:
        super().__init__("netplumb:index:Stack", name, None, opts)
        for finding in plan.warnings:
            pulumi.log.warn(str(finding))
        self.plan = plan
        deps: list[pulumi.Resource] = []
        child = pulumi.ResourceOptions(parent=self)
        # Each install as the stack declared it and checked its ownership: nothing renders or
        # is checked again.
        self.multus = _placed(MultusInstall, f"{name}-multus", installs.multus, child)
        if self.multus is not None and self.multus.nad_crd is not None:
            deps.append(self.multus.nad_crd)
        if installs.nad_crd is not None:
            deps.append(NadCrd(f"{name}-nad-crd", child, declared=installs.nad_crd).crd)
        # whereabouts' pods run on the pod network: created before Multus (and the cluster
        # network under it) is ready, their sandboxes only fail and wait out the kubelet's
        # backoff
        self.whereabouts = _placed(
            Whereabouts, f"{name}-whereabouts", installs.whereabouts,
            child if self.multus is None else pulumi.ResourceOptions(
                parent=self, depends_on=[self.multus]))
        self.sriov = _placed(SriovPool, f"{name}-sriov", installs.sriov, child)
        self.guardrails = _placed(NetworkGuardrails, f"{name}-guardrails", installs.guardrails,
                                  child)
        if self.guardrails is not None:
            # NADs may live in namespaces the guardrails create
            deps += list(self.guardrails.namespaces.values())
        self.node_plugin = _placed(NodePlugin, f"{name}-node-plugin", installs.node_plugin,
                                   child)
        self.monitoring = _placed(MonitoringStack, f"{name}-monitoring", installs.monitoring,
                                  child)
        self.network_policy = _placed(NetworkPolicyEnforcer, f"{name}-network-policy",
                                      installs.network_policy, child)
        # its CRD, where it asks for one and the stack has guardrails, registers with them
        # (before their policies): StackInstalls
        self.multi_network_policy = _placed(MultiNetworkPolicyEnforcer,
                                            f"{name}-multi-network-policy",
                                            installs.multi_network_policy, child)
        policy = current_policy()
        self.network_sets = self._sets(f"{name}-networks", nad_manifests(plan), deps, policy)
        nads: list[pulumi.Resource] = list(self.network_sets.values())
        if self.whereabouts is not None:
            nads.append(self.whereabouts)  # pods allocate from its pools
        self.pod_sets = self._sets(f"{name}-pods", pod_manifests(plan), nads, policy,
                                   await_ready=spec.await_pods)
        resource_of = plan.resource_of()
        self.workloads: dict[str, MultiHomedWorkload] = {}
        for wl_name, w in plan.workloads:
            self.workloads[f"{w.namespace}/{wl_name}"] = MultiHomedWorkload(
                f"{w.namespace}-{wl_name}", w,
                pulumi.ResourceOptions(parent=self, depends_on=nads),
                resource_names=resource_of)
        self.nad_names = pulumi.Output.from_input(sorted(n.key for n, _ in plan.networks))
        self.pod_names = pulumi.Output.from_input(
            sorted(f"{p.namespace}/{pod_name}" for pod_name, p in plan.pods))
        self.retained_on_destroy = pulumi.Output.from_input(retained_refs())
        self.register_outputs({"networks": self.nad_names, "pods": self.pod_names,
                               "retained_on_destroy": self.retained_on_destroy})

    def _sets(self, prefix: str, manifests: list[dict[str, Any]],
              deps: list[pulumi.Resource], policy: OwnershipPolicy, *,
              await_ready: bool = False) -> dict[str, ObjectSet]:
        """One :class:`ObjectSet` per namespace (``<prefix>-<namespace>``)."""
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for m in manifests:
            by_ns.setdefault(m["metadata"]["namespace"], []).append(m)
        mirror = current_mirror()
        kept = [ObjectRef.of(m) for m in manifests
                if policy.retains(ObjectRef.of(m), cluster_wide=False)]
        note_retained(kept)
        return {ns: ObjectSet(f"{prefix}-{ns}", [with_mirror(m, mirror) for m in items],
                              owner=policy.owner, adopt=policy.adopt,
                              retain=[r.key for r in kept if r.namespace == ns],
                              await_ready=await_ready,
                              opts=pulumi.ResourceOptions(parent=self, depends_on=deps))
                for ns, items in sorted(by_ns.items())}


def _placed(component: Callable[..., C], name: str, install: Install[Any] | None,
            opts: pulumi.ResourceOptions) -> C | None:
    """The component of ``install`` as the stack declared it (None where it places none)."""
    return None if install is None else component(name, install.args, opts, declared=install)
