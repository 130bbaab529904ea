"""Multi-homed pods: a container spec plus typed network selections."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from ..cni import fields as fc
from ..cni.selection import NetworkSelection, check_one_source
from .base import InputModel
from .fields import Labels, WorkloadName, name_or_default, valid_workload_name
from .resources import ContainerResources


class PodArgs(InputModel):
    """A bare pod with secondary networks (as in the hand-run Multus guides)."""

    name: WorkloadName | None = None
    """Pod name; in a program it defaults to the component's resource name."""
    namespace: fc.Namespace = "default"
    """Namespace of the pod; it selects NADs of other namespaces as ``namespace/name``."""
    image: str = "busybox:1.36"
    """Container image."""
    command: list[str] = Field(default_factory=lambda: ["sleep", "infinity"])
    """Container command (entrypoint); the default keeps a toolbox image running."""
    args: list[str] = Field(default_factory=list)
    """Arguments to the command."""
    networks: list[NetworkSelection] = Field(default_factory=list)
    """Secondary attachments, written to the ``k8s.v1.cni.cncf.io/networks`` annotation."""
    labels: Labels = Field(default_factory=dict)
    """Pod labels."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Pod annotations; netplumb writes ``k8s.v1.cni.cncf.io/networks`` from ``networks``."""
    node_selector: Labels = Field(default_factory=dict)
    """Node labels the pod must be scheduled on."""
    resources: ContainerResources = Field(default_factory=ContainerResources)
    """Container requests and limits (Kubernetes quantities; YAML numbers taken too)."""
    termination_grace_period_seconds: int = 0
    """Seconds to wait on delete; the guide's test pods use 0."""

    @model_validator(mode="after")
    def _one_source_of_networks(self) -> Self:
        check_one_source(self.annotations, self.networks)
        return self

    def pod_name(self, default: str) -> str:
        """The pod's name: ``name``, else ``default`` (a component's resource name), checked."""
        return name_or_default(self.name, default, valid_workload_name, "pod")
