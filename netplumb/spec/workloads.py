"""Multi-homed pods: a container spec plus typed network selections."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from . import fieldcheck as fc
from .base import PlanModel
from .resources import ContainerResources
from .selection import NetworkSelection

_CONFIG = ConfigDict(strict=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                     serialize_by_alias=True, use_attribute_docstrings=True)


Resources = ContainerResources
"""Requests and limits of the pod's container (the one resources model of netplumb)."""


class PodArgs(PlanModel):
    """A bare pod with secondary networks (as in the hand-run Multus guides)."""

    model_config = _CONFIG

    name: fc.K8sName | None = None
    """Pod name; in a program it defaults to the component's resource name."""
    namespace: fc.Namespace = "default"
    image: str = "busybox:1.36"
    """Container image."""
    command: list[str] = Field(default_factory=lambda: ["sleep", "infinity"])
    args: list[str] = Field(default_factory=list)
    networks: list[NetworkSelection] = Field(default_factory=list)
    """Secondary attachments, written to the ``k8s.v1.cni.cncf.io/networks`` annotation."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    resources: ContainerResources = Field(default_factory=ContainerResources)
    """Container requests and limits (Kubernetes quantities; YAML numbers taken too)."""
    termination_grace_period_seconds: int = 0
    """Seconds to wait on delete; the guide's test pods use 0."""


