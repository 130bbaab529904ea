"""Typed arguments of :class:`~netplumb.components.MultiHomedWorkload`: a Deployment,
StatefulSet or DaemonSet whose pods get secondary networks."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..cni.selection import NetworkSelection, check_one_source, refuse_non_multus_keys
from .base import InputModel
from .fields import Labels, WorkloadName, name_or_default, valid_workload_name
from .resources import ContainerResources


class ContainerPort(InputModel):
    """A port the container listens on."""

    container_port: int = Field(alias="containerPort")
    """Port number."""
    name: str | None = None
    """Port name (referenced by Services and policies)."""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """L4 protocol."""

    @field_validator("container_port")
    @classmethod
    def _port(cls, v: int) -> int:
        return fc.int_range(v, 1, 65535, "port")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"containerPort": self.container_port}
        if self.name:
            out["name"] = self.name
        if self.protocol != "TCP":
            out["protocol"] = self.protocol
        return out


class WorkloadArgs(InputModel):
    """A Deployment, StatefulSet or DaemonSet whose pods get secondary networks."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    """Workload kind."""
    name: WorkloadName | None = None
    """Workload name; in a program it defaults to the component's resource name."""
    namespace: fc.Namespace = "default"
    """Namespace of the workload (and the default namespace of its selections)."""
    replicas: int = 1
    """Pods of a Deployment/StatefulSet; for a DaemonSet the number of nodes it is expected
    to run on (used by the capacity check only)."""
    container_name: str = "main"
    """Name of the (single) container."""
    image: str
    """Container image."""
    command: list[str] = Field(default_factory=list)
    """Entrypoint override; empty uses the image's."""
    args: list[str] = Field(default_factory=list)
    """Arguments."""
    ports: list[ContainerPort] = Field(default_factory=list)
    """Ports the container listens on."""
    resources: ContainerResources = Field(default_factory=ContainerResources)
    """Container requests and limits; device resources of SR-IOV networks are added."""
    networks: list[NetworkSelection] = Field(default_factory=list)
    """Secondary attachments (the ``k8s.v1.cni.cncf.io/networks`` annotation)."""
    labels: Labels = Field(default_factory=dict)
    """Pod labels (the selector uses ``app: <name>``)."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Pod annotations."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on."""
    termination_grace_period_seconds: int = 30
    """Seconds to wait on delete."""



    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: int) -> int:
        return fc.at_least(v, 0, "negative; expected replicas >= 0")

    @model_validator(mode="before")
    @classmethod
    def _no_foreign_selection_keys(cls, data: Any) -> Any:
        selections = data.get("networks") if isinstance(data, dict) else None
        if isinstance(selections, list):
            for i, sel in enumerate(selections):
                refuse_non_multus_keys(sel, at=("networks", i))
        return data

    @model_validator(mode="after")
    def _one_source_of_networks(self) -> Self:
        check_one_source(self.annotations, self.networks)
        return self

    def workload_name(self, default: str) -> str:
        """The workload's name: ``name``, else ``default`` (a component's resource name),
        checked."""
        return name_or_default(self.name, default, valid_workload_name, self.kind)
