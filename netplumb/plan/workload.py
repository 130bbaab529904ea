"""What the checks need of a pod or a pod-template owner (Deployment, StatefulSet,
DaemonSet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from ..args.pod import PodArgs
from ..args.workload import WorkloadArgs
from ..cni.selection import NetworkSelection

HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Workload:
    """What the checks need of a pod or pod-template owner."""

    where: str
    """Field path of the workload (``config.netplumb:spec.pods[2]``) or its resource name."""
    namespace: str
    """Namespace its selections default to."""
    selections: Sequence[NetworkSelection]
    """Its network selections, in annotation order."""
    replicas: int = 1
    """Pods it runs (1 for a bare pod)."""
    spreads: bool = False
    """Its pods may run on several nodes at once: a DaemonSet, or more than one replica,
    unless a ``kubernetes.io/hostname`` node selector pins them to one node."""
    pinned: str | None = None
    """The node a ``kubernetes.io/hostname`` node selector pins its pods to (None: any)."""

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """``namespace/name`` of the NAD each selection names, in selection order (computed
        once: every check asks)."""
        return tuple(sel.key(self.namespace) for sel in self.selections)


def workload_of_pod(where: str, pod: PodArgs) -> Workload:
    return Workload(where, pod.namespace, pod.networks, 1,
                    pinned=pod.node_selector.get(HOSTNAME_LABEL))


def workload_of(where: str, args: WorkloadArgs) -> Workload:
    pinned = args.node_selector.get(HOSTNAME_LABEL)
    spreads = (args.kind == "DaemonSet" or args.replicas > 1) and pinned is None
    return Workload(where, args.namespace, args.networks, args.replicas, spreads, pinned)
