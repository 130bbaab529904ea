"""What the operations name pods and workloads by (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PodOwner:
    """A bare pod or a workload (whose pods it runs), by kind, namespace and name."""

    kind: str
    """``Pod``, ``Deployment``, ``StatefulSet``, ``DaemonSet``, …"""
    namespace: str
    name: str

    @property
    def id(self) -> str:
        """``Kind namespace/name``, as reports name it."""
        return f"{self.kind} {self.namespace}/{self.name}"
