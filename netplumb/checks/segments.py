"""What shares a segment must not collide on it.

A segment is where pods' interfaces meet at layer 2: the host link a macvlan, ipvlan or
vlan network hangs off (a VLAN of it is a segment of its own), or the bridge of a bridge
network; several NADs can share one. A network with no host link (sriov) is a segment of
its own.

- Static addresses are unique on a segment: those a selection asks for (``ips``), and the
  fixed ones of static IPAM, which every pod selecting the network gets unless its selection
  asks for others (the static plugin replaces them with runtimeConfig ips). A workload whose
  pods all take one address (replicas, or a DaemonSet's nodes) collides with itself.
- MAC addresses are unique on a segment: a selection's ``mac``, else the one the config sets
  (the interface plugin's or a chained tuning's ``mac``); a selection's MAC must be one the
  kernel accepts (not multicast, not zero).
- A static address or a dynamic pool must not hold a gateway declared on the segment: of a
  range, a static address or whereabouts, a route's next hop, or a selection's
  ``default-route``. host-local skips its own range's gateway, which is allowed in its pool.
  A static address on its IPv4 subnet's network or broadcast address is refused too.
- Routes of a static IPAM without fixed addresses get their subnets from the selections'
  ``ips``: their gateways must be on those.

One pass over networks and one over selections; collisions are found through dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..cni import fields as fc
from ..cni.fields import IPAddress, IPInterface
from ..cni.ipam import IpamFacts, Pool
from ..errors import Finding
from ..planned import PlannedNetwork, Workload
from .addresses import bad_mac_reason, on_link, reserved_reason, route_off_link


@dataclass
class _Net:
    net: PlannedNetwork
    segment: str
    facts: IpamFacts
    pools: list[Pool]
    mac: tuple[str, str] | None
    """The MAC the config sets, with its path."""


@dataclass(frozen=True)
class _Claim:
    path: str
    who: str
    """The selection (path of its element) or the network (``ns/name``) that claims it."""


@dataclass(frozen=True)
class _Static:
    """A static address a pod takes, or a network's fixed address (``pods`` 0)."""

    segment: str
    iface: IPInterface
    path: str
    who: str
    pods: int
    network: str
    host_local: bool = False


def _owner(w: Workload, i: int) -> str:
    return f"{w.where}.networks[{i}]"


def _workload(owner: str) -> str:
    return owner.rsplit(".networks[", 1)[0]


def check_segments(networks: Iterable[PlannedNetwork],
                   workloads: Iterable[Workload]) -> list[Finding]:
    """Collisions on shared segments (see the module docstring)."""
    nets: dict[str, _Net] = {}
    for n in networks:
        if n.external or n.key in nets:
            continue
        nets[n.key] = _Net(n, n.segment, n.ipam, n.pools, n.macs[-1] if n.macs else None)
    findings: list[Finding] = []
    gateways: dict[tuple[str, IPAddress], _Claim] = {}
    for n_ in nets.values():
        for gw, sub in n_.facts.gateways:
            gateways.setdefault((n_.segment, gw), _Claim(n_.net.ipam_path(*sub), n_.net.key))
    statics = [_Static(n_.segment, a, n_.net.ipam_path(*sub), n_.net.key, 0, n_.net.key)
               for n_ in nets.values() for a, sub in n_.facts.statics]
    off_link: set[str] = set()
    macs: list[tuple[str, str, str, str, int]] = []
    for w in workloads:
        if w.replicas <= 0:
            continue
        for i, (sel, key) in enumerate(zip(w.selections, w.keys, strict=True)):
            f = nets.get(key)
            if f is None or not (sel.default_route or sel.ips or sel.mac is not None
                                 or f.facts.statics or f.mac is not None):
                continue  # nothing of this attachment can collide
            at = _owner(w, i)
            for j, text in enumerate(sel.default_route or []):
                gateways.setdefault((f.segment, fc.parse_address(text)),
                                    _Claim(f"{at}.default-route[{j}]", at))
            if sel.ips:
                ifaces = [fc.ip_interface(t) for t in sel.ips]
                statics += [_Static(f.segment, a, f"{at}.ips[{j}]", at, w.replicas, f.net.key,
                                    f.net.config.ipam_type() == "host-local")
                            for j, a in enumerate(ifaces)]
                if not f.facts.subnets:
                    findings += _routes_on_selected(f, [a.network for a in ifaces], at,
                                                    off_link)
            else:
                statics += [_Static(f.segment, a, f.net.ipam_path(*sub), at, w.replicas,
                                    f.net.key) for a, sub in f.facts.statics]
            if sel.mac is not None:
                why = bad_mac_reason(sel.mac)
                if why is not None:
                    findings.append(Finding(f"{at}.mac", sel.mac, f"MAC {sel.mac} {why}"))
                    continue
                macs.append((f.segment, sel.mac, f"{at}.mac", at, w.replicas))
            elif f.mac is not None:
                macs.append((f.segment, f.mac[0], f.mac[1], at, w.replicas))
    findings += _static_collisions(statics, gateways)
    findings += _pool_gateways(nets.values(), gateways)
    findings += _mac_collisions(macs)
    return findings


def _routes_on_selected(f: _Net, subnets: list[fc.IPNetwork], at: str, reported: set[str]
                        ) -> list[Finding]:
    """Routes of a static IPAM whose addresses come from the selection's ``ips``."""
    out = []
    for gw, sub in f.facts.routes:
        path = f.net.ipam_path(*sub)
        if path not in reported and not on_link(gw, subnets):
            reported.add(path)
            out.append(Finding(path, str(gw), route_off_link(gw, f.net.key, subnets)
                               + f" (the subnets of the addresses {at} asks for)"))
    return out


def _static_collisions(statics: list[_Static],
                       gateways: dict[tuple[str, IPAddress], _Claim]) -> list[Finding]:
    """Static addresses: reserved, a declared gateway, or taken twice on a segment.

    A network's fixed addresses (static IPAM) are checked once as the network's (reserved
    ones by :mod:`.addresses`), and again as each pod that takes them, for collisions.
    """
    findings: list[Finding] = []
    taken: dict[tuple[str, IPAddress], _Static] = {}
    for st in statics:
        addr = st.iface.ip
        own = st.path.startswith(st.who)  # the key is the claimant's own (not a config's)
        gw = gateways.get((st.segment, addr))
        if gw is not None and st.host_local and gw.who == st.network:
            gw = None  # host-local refuses its own gateway: the selection check says so
        message = None
        why = reserved_reason(addr, st.iface.network) if st.pods else None
        first = taken.get((st.segment, addr)) if st.pods else None
        if why is not None and own:
            message = f"{addr} is {why}; expected a host address"
        elif gw is not None and (own or not st.pods) and gw.path != st.path:
            message = (f"{addr} is a gateway declared on {st.segment} (at {gw.path}); an "
                       "interface holding it takes the router's address. Expected another "
                       "address")
        elif first is not None:
            message = (f"{addr} is taken on {st.segment} by {first.who} too; two pods with "
                       "one address on one segment. Expected unique static addresses per "
                       "segment")
        elif st.pods > 1:
            message = (f"{_workload(st.who)} runs {st.pods} pods and each would take {addr} "
                       f"on {st.segment}; expected one pod per static address (replicas: 1), "
                       "or addresses from a pool")
        if st.pods:
            taken.setdefault((st.segment, addr), st)
        if message is not None:
            at = st.path if own or not st.pods else f"{st.who}.name"
            note = "" if own or not st.pods else (
                f" (the fixed address of network {st.network}'s static IPAM at {st.path})")
            findings.append(Finding(at, str(st.iface), message + note))
    return findings


def _pool_gateways(nets: Iterable[_Net], gateways: dict[tuple[str, IPAddress], _Claim]
                   ) -> list[Finding]:
    """A dynamic pool that holds a gateway declared on its segment would hand it out."""
    by_segment: dict[str, list[tuple[IPAddress, _Claim]]] = {}
    for (segment, addr), claim in gateways.items():
        by_segment.setdefault(segment, []).append((addr, claim))
    findings: list[Finding] = []
    for f in nets:
        for pool in f.pools:
            for addr, claim in by_segment.get(f.segment, []):
                if pool.gateway is not None and addr == pool.gateway:
                    continue  # host-local skips its own gateway
                if pool.contains(addr) and not any(addr in ex for ex in pool.excluded):
                    findings.append(Finding(
                        f.net.ipam_path(*pool.where), f"{pool.first}-{pool.last}",
                        f"the pool {pool.first}-{pool.last} of network {f.net.key} holds "
                        f"{addr}, a gateway declared on {f.segment} (at {claim.path}); its "
                        "IPAM would hand the router's address to a pod. Expected a range "
                        "without it (or an exclude)"))
                    break
    return findings


def _mac_collisions(macs: list[tuple[str, str, str, str, int]]) -> list[Finding]:
    findings: list[Finding] = []
    taken: dict[tuple[str, str], _Claim] = {}
    for segment, mac, path, who, pods in macs:
        key = (segment, mac.lower().replace("-", ":"))
        first = taken.get(key)
        at = path if path.startswith(who) else f"{who}.name"
        extra = "" if path.startswith(who) else f" (the MAC is the config's {path})"
        if first is not None:
            findings.append(Finding(at, mac, (
                f"MAC {mac} is taken on {segment} by {first.who} too (at {first.path}); two "
                f"interfaces with one MAC on one segment{extra}. Expected unique MACs")))
        elif pods > 1:
            findings.append(Finding(at, mac, (
                f"{_workload(who)} runs {pods} pods and each would take MAC {mac} on "
                f"{segment}{extra}; expected one pod per fixed MAC")))
        taken.setdefault(key, _Claim(path, who))
    return findings
