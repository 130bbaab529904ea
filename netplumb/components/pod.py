"""A bare pod with secondary networks."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from ..args.pod import PodArgs
from ..plan import container_resources
from ..render.pod import pod
from .objects import children, register_object


class MultiHomedPod(pulumi.ComponentResource):
    """A Pod whose ``k8s.v1.cni.cncf.io/networks`` annotation is built from typed selections."""

    pod_name: pulumi.Output[str]

    def __init__(self, name: str, args: PodArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 device_resources: Mapping[str, int] | None = None) -> None:
        checked = args.checked()
        pod_name = checked.pod_name(name)
        # device resources (one per SR-IOV attachment) in requests and limits
        resources = container_resources(checked.resources, device_resources or {})
        manifest = pod(pod_name, checked, resources)
        super().__init__("netplumb:index:MultiHomedPod", name, None, opts)
        self.pod = register_object(f"{name}-pod", manifest, children(self))
        self.pod_name = pulumi.Output.from_input(pod_name)
        self.register_outputs({"pod_name": self.pod_name})
