"""What the checks read of a plan (pure): a network with its facts computed once, and a pod or
pod-template owner (Deployment, StatefulSet, DaemonSet) with its selections.

Both :mod:`netplumb.plan` (which builds them) and :mod:`netplumb.checks` (which read them)
stand above this module."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from .args.pod import PodArgs
from .args.workload import WorkloadArgs
from .cni.config import CniConfig
from .cni.fields import IPNetwork
from .cni.ipam import IpamFacts, Pool, ipam_facts
from .cni.selection import NetworkSelection
from .errors import format_path

# -- a network as the plan sees it ------------------------------------------------------------

DEFAULT_ROUTE_LINK = "<default-route interface>"


@dataclass(frozen=True)
class PlannedNetwork:
    """A network as the plan sees it: where it was declared, its NAD identity, its config.

    The facts the checks read (pools, the IPAM's addresses, the host link, the MACs the
    config sets) are computed on first use and kept: a plan asks each of them of every
    network several times.
    """

    name: str
    namespace: str
    config: CniConfig
    where: str = ""
    """Field path of its declaration (``networks[3]``) or the component's resource name."""
    external: bool = False
    """Declared to exist already (not created by this program)."""
    given_as: Literal["cni", "args", "config"] = "cni"
    """How ``where`` holds the config, so a finding names the key as it was written:
    ``cni``, the CNI JSON itself; ``args``, typed network args (the interface plugin's fields
    at ``where``, chained plugins under ``chain``); ``config``, network args carrying the CNI
    JSON whole under ``config``."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- facts, computed once ---------------------------------------------------------------

    @cached_property
    def host_link(self) -> str | None:
        """The host link its pools live on: master, bridge or device (a VLAN of a link is a
        link of its own); None if it has none."""
        main = self.config.main
        link = main.master_link()
        if link is None and main.type in ("macvlan", "ipvlan"):
            return DEFAULT_ROUTE_LINK
        # Different VLANs of one link are different segments: same addresses are fine.
        vlan = getattr(main, "vlan_id", None) if main.type == "vlan" else (
            getattr(main, "vlan", None) if main.type == "bridge" else None)
        if link is not None and vlan:
            return f"{link} vlan {vlan}"
        return link

    def link(self) -> str | None:
        """:attr:`host_link`."""
        return self.host_link

    @cached_property
    def segment(self) -> str:
        """Where its pods' interfaces meet at layer 2: its host link, else itself."""
        link = self.host_link
        return f"link {link!r}" if link is not None else f"network {self.key}"

    @cached_property
    def pools(self) -> list[Pool]:
        """Allocatable pools of its IPAM (host-local, whereabouts)."""
        return self.config.pools()

    @cached_property
    def ipam(self) -> IpamFacts:
        """The addresses its IPAM config names (subnets, fixed addresses, gateways, routes)."""
        return ipam_facts(getattr(self.config.main, "ipam", None))

    @cached_property
    def static_networks(self) -> list[IPNetwork]:
        """Subnets of its static IPAM's fixed addresses."""
        return [iface.network for iface, _ in self.ipam.statics]

    @cached_property
    def macs(self) -> list[tuple[str, str]]:
        """``(mac, path)`` for every plugin of the config that sets the interface's MAC, in
        chain order (the last one wins)."""
        out = []
        for k, plugin in enumerate(self.config.plugins):
            mac = getattr(plugin, "mac", None)
            if isinstance(mac, str):
                out.append((mac, self.plugin_path(k, "mac")))
        return out

    # -- paths of its keys, as the input spells them ------------------------------------------

    def path(self, *sub: str | int) -> str:
        return format_path([self.where, *sub]) if self.where else format_path(list(sub))

    def plugin_path(self, index: int, *sub: str | int) -> str:
        """Field path inside the ``index``-th plugin of its config, as the input spells it."""
        if self.given_as == "args":
            return self.path(*(("chain", index - 1) if index else ()), *sub)
        cni: tuple[str | int, ...] = ("plugins", index) if self.config.is_list else ()
        return self.path(*(("config",) if self.given_as == "config" else ()), *cni, *sub)

    def ipam_path(self, *sub: str | int) -> str:
        """Field path inside its IPAM object (the interface plugin's)."""
        return self.plugin_path(0, "ipam", *sub)


# -- what the checks need of a pod or a pod-template owner ------------------------------------

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
