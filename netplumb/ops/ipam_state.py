"""What whereabouts keeps in the cluster, read back (pure): its IPPools, its
OverlappingRangeIPReservations and its NodeSlicePools, as whereabouts v0.9 writes them.

* An **IPPool** (``whereabouts.cni.cncf.io/v1alpha1``, kind ``IPPool``) holds one range:
  ``spec.range`` (CIDR) and ``spec.allocations``, a map from an address's offset (decimal
  text) from the range's first address to ``{id, podref, ifname}``: the sandbox's container
  ID, the pod as ``namespace/name`` and its interface. The pool is named after the range with
  ``:`` and ``/`` turned into ``-``, prefixed by the network's ``network_name`` when the
  config sets one, and by the node's name for a node slice (``node_slice_size``).
* An **OverlappingRangeIPReservation** holds one address across every range containing it:
  ``spec.containerid``, ``spec.podref``, ``spec.ifname``; its name is the address with ``:``
  turned into ``-``, prefixed by ``network_name`` likewise.
* A **NodeSlicePool** (written by the node-slice controller) cuts a range into slices:
  ``spec.range``, ``spec.sliceSize`` and ``status.allocations`` (``nodeName``,
  ``sliceRange``); it is named after ``network_name``, else the CNI config's ``name``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cni.config import CniConfig
from ..cni.ipam import WhereaboutsIpam

Obj = Mapping[str, Any]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

API_VERSION = "whereabouts.cni.cncf.io/v1alpha1"
IPPOOL = "IPPool"
RESERVATION = "OverlappingRangeIPReservation"
NODE_SLICE_POOL = "NodeSlicePool"
NODE_SLICE_KEY = "node_slice_size"
"""The whereabouts IPAM key that asks for per-node slices of the range."""
NODE_SLICE_CONTROLLER = "node-slice-controller"
"""What the node-slice controller's container runs (``/node-slice-controller``)."""
RECONCILER = "ip-control-loop"
"""What the whereabouts DaemonSet's container runs: it frees addresses of deleted pods and,
on its schedule, every allocation whose pod is gone."""
CRON_KEY = "cron-expression"
"""The reconciler's schedule, in the ConfigMap the DaemonSet mounts (upstream's and
netplumb's installs alike)."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def normalize_range(text: str) -> str:
    """A range as whereabouts puts it in a pool's name."""
    if text.endswith(":"):
        text += "0"
    return text.replace(":", "-").replace("/", "-")


def reservation_name(ip: IPAddress, network_name: str = "") -> str:
    """The OverlappingRangeIPReservation name of an address."""
    text = str(ip)
    if text.endswith(":"):
        text += "0"
    text = text.replace(":", "-")
    return f"{network_name}-{text}" if network_name else text


@dataclass(frozen=True)
class Allocation:
    ip: IPAddress
    offset: str
    container_id: str
    podref: str
    ifname: str


@dataclass
class IpPoolState:
    namespace: str
    name: str
    range: str
    network: IPNetwork
    first: IPAddress
    network_name: str
    """The ``network_name`` the pool's name carries (``""``: none)."""
    node: str | None
    """The node of a node-slice pool."""
    allocations: list[Allocation] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Offsets that are not numbers (whereabouts skips them too)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_ippool(obj: Obj, nodes: Collection[str] = ()) -> IpPoolState | None:
    """An IPPool as :class:`IpPoolState` (``None`` when its range does not parse)."""
    spec = obj.get("spec") or {}
    text = str(spec.get("range") or "")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return None
    name, ns = str(_meta(obj).get("name") or ""), str(_meta(obj).get("namespace") or "")
    suffix = normalize_range(text)
    prefix = name[:-len(suffix)].removesuffix("-") if name.endswith(suffix) else ""
    node = next((n for n in nodes if prefix == n or prefix.endswith(f"-{n}")), None)
    network_name = prefix
    if node is not None:
        network_name = prefix[:-len(node)].removesuffix("-")
    pool = IpPoolState(ns, name, text, iface.network, iface.ip, network_name, node)
    for offset, entry in sorted((spec.get("allocations") or {}).items()):
        try:
            ip = pool.first + int(offset)
        except (ValueError, ipaddress.AddressValueError):
            pool.unreadable.append(str(offset))
            continue
        entry = entry if isinstance(entry, Mapping) else {}
        pool.allocations.append(Allocation(ip, str(offset), str(entry.get("id") or ""),
                                           str(entry.get("podref") or ""),
                                           str(entry.get("ifname") or "")))
    return pool


@dataclass(frozen=True)
class Reservation:
    namespace: str
    name: str
    container_id: str
    podref: str
    ifname: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_reservation(obj: Obj) -> Reservation:
    spec = obj.get("spec") or {}
    return Reservation(str(_meta(obj).get("namespace") or ""), str(_meta(obj).get("name")),
                       str(spec.get("containerid") or ""), str(spec.get("podref") or ""),
                       str(spec.get("ifname") or ""))


def whereabouts_of(config: CniConfig | None) -> WhereaboutsIpam | None:
    ipam = getattr(config.main, "ipam", None) if config is not None else None
    return ipam if isinstance(ipam, WhereaboutsIpam) else None


def node_slice_size(config: CniConfig | None) -> str | None:
    """The ``node_slice_size`` of a whereabouts config (``None``: not set)."""
    ipam = whereabouts_of(config)
    if ipam is None:
        return None
    value = (ipam.model_extra or {}).get(NODE_SLICE_KEY)
    return str(value) if value not in (None, "") else None


def slice_pool_name(config: CniConfig) -> str:
    """The NodeSlicePool whereabouts looks for: ``network_name``, else the config's name."""
    ipam = whereabouts_of(config)
    return (ipam.network_name if ipam is not None and ipam.network_name else
            str(config.name or ""))


def pool_belongs(pool: IpPoolState, config: CniConfig) -> bool:
    """Whether whereabouts allocates for ``config`` from ``pool``: its range (or a node's
    slice of it) under the same ``network_name``."""
    ipam = whereabouts_of(config)
    if ipam is None or pool.network_name != (ipam.network_name or ""):
        return False
    for p in ipam.pools():
        if pool.network.version == p.network.version and pool.network.subnet_of(
                p.network):  # type: ignore[arg-type]
            return pool.node is not None or pool.network == p.network
    return False


def slice_size(network: IPNetwork) -> int:
    """Addresses whereabouts hands out from a node slice (network and broadcast excluded)."""
    return max(network.num_addresses - 2, 1)


def running_command(workload: Obj, program: str) -> bool:
    """A DaemonSet or Deployment whose pod runs ``program``: named in a container's command
    or arguments (also inside a shell script, as upstream's DaemonSet starts it)."""
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in (spec.get("containers") or []):
        words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
        if any(program in w.split("/") or program in w.split() or f"/{program}" in w
               for w in words):
            return True
    return False


def mounted_configmap_names(workload: Obj) -> list[tuple[str, str]]:
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    ns = str(_meta(workload).get("namespace"))
    return [(ns, str(v["configMap"]["name"])) for v in spec.get("volumes") or []
            if isinstance(v.get("configMap"), Mapping) and v["configMap"].get("name")]
