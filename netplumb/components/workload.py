"""Multi-homed workloads: a Deployment, StatefulSet or DaemonSet whose pod template gets
typed network selections (and the device resources their SR-IOV networks need)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pulumi

from ..args.workload import WorkloadArgs
from ..checks.capacity import check_capacity
from ..checks.segments import check_segments
from ..checks.selections import check_selections
from ..errors import raise_on_errors
from ..plan import container_resources, device_requests
from ..planned import PlannedNetwork, Workload, workload_of
from ..render.workload import workload
from .network import NetworkAttachment
from .objects import register_object


class MultiHomedWorkload(pulumi.ComponentResource):
    """A Deployment, StatefulSet or DaemonSet with secondary networks.

    ``networks`` are the network components (or planned networks) of the program the
    selections may name; ``external`` lists ``ns/name`` of NADs created elsewhere. When
    either is given the selections are checked before anything registers (existence,
    interface names, static IPs and MACs against the networks' capabilities and subnets,
    default routes, pool capacity), and the workload waits for the networks it selects.
    Device resources of networks with a ``resource_name`` are added to the container's
    requests and limits (``resource_names`` adds ``ns/name`` → resource for networks not
    given as components).

    Outputs: ``workload_name``, ``kind``.
    """

    workload_name: pulumi.Output[str]
    kind: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 networks: Sequence[NetworkAttachment[Any] | PlannedNetwork] = (),
                 external: Collection[str] = (),
                 resource_names: Mapping[str, str] | None = None) -> None:
        checked = args.checked()
        wl_name = checked.workload_name(name)
        planned: list[PlannedNetwork] = []
        components: dict[str, NetworkAttachment[Any]] = {}
        resource_of: dict[str, str] = dict(resource_names or {})
        for n in networks:
            if isinstance(n, NetworkAttachment):
                planned.append(n.planned)
                components[n.planned.key] = n
                if n.args.resource_name:
                    resource_of.setdefault(n.planned.key, n.args.resource_name)
            else:
                planned.append(n)
        subject: Workload = workload_of(wl_name, checked)
        warnings = []
        if planned or external:
            findings = check_selections(planned, [subject], external=external)
            findings += check_segments(planned, [subject])
            findings += check_capacity(planned, [subject])
            raise_on_errors(findings, context=f"workload {wl_name}")
            warnings = [f for f in findings if f.severity != "error"]
        devices = device_requests(checked.networks, checked.namespace, resource_of)
        manifest = workload(wl_name, checked, container_resources(checked.resources, devices))
        super().__init__("netplumb:index:MultiHomedWorkload", name, None, opts)
        for w in warnings:
            pulumi.log.warn(str(w), self)
        needs: list[pulumi.Resource] = []
        for sel in checked.networks:
            comp = components.get(sel.key(checked.namespace))
            if comp is not None and comp not in needs:
                needs.append(comp)
        self.args = checked
        self.manifest = manifest
        self.workload = register_object(
            f"{name}-{checked.kind.lower()}", manifest,
            pulumi.ResourceOptions(parent=self, depends_on=needs))
        self.workload_name = pulumi.Output.from_input(wl_name)
        self.kind = pulumi.Output.from_input(checked.kind)
        self.register_outputs({"workload_name": self.workload_name, "kind": self.kind})
