"""A bare pod with secondary networks."""

from __future__ import annotations

import pulumi

from ..render.pod import pod
from ..spec.workloads import PodArgs
from .network import child, register_object


class MultiHomedPod(pulumi.ComponentResource):
    """A Pod whose ``k8s.v1.cni.cncf.io/networks`` annotation is built from typed selections."""

    pod_name: pulumi.Output[str]

    def __init__(self, name: str, args: PodArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = PodArgs.model_validate(args.model_dump(by_alias=True, exclude_unset=True),
                                         context={"typed": True})
        super().__init__("netplumb:index:MultiHomedPod", name, None, opts)
        pod_name = checked.name or name
        self.pod = register_object(f"{name}-pod", pod(pod_name, checked), child(self))
        self.pod_name = pulumi.Output.from_input(pod_name)
        self.register_outputs({"pod_name": self.pod_name})
