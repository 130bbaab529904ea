"""A whole environment from a :class:`~netplumb.spec.stack.StackSpec`."""

from __future__ import annotations

from typing import Any

import pulumi

from ..plan import Plan, build_plan
from ..spec.stack import StackSpec
from .network import NadCrd, NetworkAttachment, component_for
from .pod import MultiHomedPod


class NetplumbStack(pulumi.ComponentResource):
    """Checks the whole plan, then registers the CRD, the networks and the pods.

    Every check (per field and across networks and pods) runs before the first resource
    registers; a failing check raises :class:`netplumb.PlanError` and nothing is created.
    """

    def __init__(self, name: str, spec: StackSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        plan: Plan = build_plan(spec)
        super().__init__("netplumb:index:Stack", name, None, opts)
        for finding in plan.warnings:
            pulumi.log.warn(str(finding))
        self.plan = plan
        deps: list[pulumi.Resource] = []
        if spec.install_nad_crd:
            deps.append(NadCrd(f"{name}-nad-crd", pulumi.ResourceOptions(parent=self)))
        self.networks: dict[str, NetworkAttachment[Any]] = {}
        for net, args in plan.networks:
            cls = component_for(args)
            self.networks[net.key] = cls(f"{net.namespace}-{net.name}", args,
                                         pulumi.ResourceOptions(parent=self, depends_on=deps))
        self.pods: dict[str, MultiHomedPod] = {}
        for pod_name, p in plan.pods:
            needs: list[pulumi.Resource] = [
                self.networks[f"{s.namespace or p.namespace}/{s.name}"] for s in p.networks]
            self.pods[f"{p.namespace}/{pod_name}"] = MultiHomedPod(
                f"{p.namespace}-{pod_name}", p,
                pulumi.ResourceOptions(parent=self, depends_on=needs))
        self.nad_names = pulumi.Output.from_input(sorted(self.networks))
        self.pod_names = pulumi.Output.from_input(sorted(self.pods))
        self.register_outputs({"networks": self.nad_names, "pods": self.pod_names})
