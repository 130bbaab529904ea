"""What one network's config says about addresses and MACs, and the checks that need
nothing but that config.

- A host-local range bound that is the IPv4 subnet's network or broadcast address: host-local
  hands out every address from rangeStart to rangeEnd but its gateway (it skips neither of
  those two), so a pod would get an address the segment cannot use. whereabouts ignores such
  a bound (it clamps to the first and last usable address), so it is not reported there.
- A static address that is its IPv4 subnet's network or broadcast address.
- An IPAM route whose gateway is on none of the network's subnets: the plugins add routes
  through the pod's interface, and the kernel refuses a next hop that is not on-link
  ("Nexthop has invalid gateway"), failing the ADD. An IPv6 link-local gateway (fe80::/10)
  is on-link on every interface.
- A MAC address with the multicast bit set, or all zeros: the kernel refuses it for an
  interface (``is_valid_ether_addr``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..errors import Finding
from ..spec import fieldcheck as fc
from ..spec.fieldcheck import IPAddress, IPInterface, IPNetwork
from ..spec.ipam import HostLocalIpam, Route, StaticIpam, WhereaboutsIpam
from .networks import PlannedNetwork

Sub = tuple[str | int, ...]
LINK_LOCAL_V6 = ipaddress.IPv6Network("fe80::/10")


@dataclass
class IpamFacts:
    """The addresses an IPAM config names, each with its key path inside the IPAM object."""

    subnets: list[IPNetwork] = field(default_factory=list)
    """Subnets its interface gets an address from (ranges, static addresses)."""
    statics: list[tuple[IPInterface, Sub]] = field(default_factory=list)
    """Fixed addresses of static IPAM (every pod selecting the network gets them, unless
    its selection asks for ``ips``)."""
    bounds: list[tuple[IPAddress, IPNetwork, Sub]] = field(default_factory=list)
    """Explicit host-local range bounds, with the range's subnet."""
    gateways: list[tuple[IPAddress, Sub]] = field(default_factory=list)
    """Gateways the config declares: of ranges and addresses, and the next hops of routes."""
    routes: list[tuple[IPAddress, Sub]] = field(default_factory=list)
    """Route next hops."""


def _host_local_range(out: IpamFacts, subnet: str, start: str | None, end: str | None,
                      gateway: str | None, at: Sub) -> None:
    net = fc.parse_network(subnet)
    out.subnets.append(net)
    for key, text in (("rangeStart", start), ("rangeEnd", end)):
        if text is not None:
            out.bounds.append((fc.parse_address(text), net, (*at, key)))
    if gateway is not None:
        out.gateways.append((fc.parse_address(gateway), (*at, "gateway")))


def _routes(out: IpamFacts, routes: list[Route] | None) -> None:
    for k, route in enumerate(routes or []):
        if route.gw is not None:
            gw = fc.parse_address(route.gw)
            out.routes.append((gw, ("routes", k, "gw")))
            out.gateways.append((gw, ("routes", k, "gw")))


def ipam_facts(ipam: object) -> IpamFacts:
    """The facts of a host-local, static or whereabouts config; empty for other types."""
    out = IpamFacts()
    if isinstance(ipam, HostLocalIpam):
        if ipam.subnet is not None:
            _host_local_range(out, ipam.subnet, ipam.range_start, ipam.range_end,
                              ipam.gateway, ())
        for i, rs in enumerate(ipam.ranges or []):
            for j, r in enumerate(rs):
                _host_local_range(out, r.subnet, r.range_start, r.range_end, r.gateway,
                                  ("ranges", i, j))
        _routes(out, ipam.routes)
    elif isinstance(ipam, StaticIpam):
        for j, a in enumerate(ipam.addresses or []):
            iface = fc.ip_interface(a.address)
            out.subnets.append(iface.network)
            out.statics.append((iface, ("addresses", j, "address")))
            if a.gateway is not None:
                out.gateways.append((fc.parse_address(a.gateway), ("addresses", j, "gateway")))
        _routes(out, ipam.routes)
    elif isinstance(ipam, WhereaboutsIpam):
        out.subnets += [p.network for p in ipam.pools()]
        if ipam.gateway is not None:
            out.gateways.append((fc.parse_address(ipam.gateway), ("gateway",)))
        _routes(out, ipam.routes)
    return out


def reserved_reason(addr: IPAddress, net: IPNetwork) -> str | None:
    """Why ``addr`` cannot be a host's address in ``net``: the IPv4 network or broadcast
    address (a /31 or /32 has neither)."""
    if net.version != 4 or net.prefixlen >= 31:
        return None
    if addr == net.network_address:
        return f"the network address of {net}"
    if addr == net.broadcast_address:
        return f"the broadcast address of {net}"
    return None


def bad_mac_reason(mac: str) -> str | None:
    """Why the kernel refuses ``mac`` for an interface, if it does."""
    octets = [int(x, 16) for x in mac.replace("-", ":").split(":")]
    if octets[0] & 1:
        return ("has the multicast bit set (lowest bit of the first octet); the kernel refuses "
                "it for an interface. Expected a unicast MAC such as 02:00:5e:10:00:01")
    if not any(octets):
        return "is all zeros; the kernel refuses it for an interface"
    return None


def on_link(gw: IPAddress, subnets: list[IPNetwork]) -> bool:
    """Whether ``gw`` is a next hop the pod's interface reaches directly."""
    if gw.version == 6 and gw in LINK_LOCAL_V6:
        return True
    return any(gw.version == n.version and gw in n for n in subnets)


def config_macs(net: PlannedNetwork) -> list[tuple[str, str]]:
    """``(mac, path)`` for every plugin of the config that sets the interface's MAC, in chain
    order (the last one wins)."""
    out = []
    for k, plugin in enumerate(net.config.plugins):
        mac = getattr(plugin, "mac", None)
        if isinstance(mac, str):
            out.append((mac, net.plugin_path(k, "mac")))
    return out


def check_network_addresses(net: PlannedNetwork) -> list[Finding]:
    """The checks of one network's own config (see the module docstring)."""
    if net.external:
        return []
    findings: list[Finding] = []
    facts = ipam_facts(getattr(net.config.main, "ipam", None))
    for addr, subnet, sub in facts.bounds:
        why = reserved_reason(addr, subnet)
        if why is not None:
            findings.append(Finding(net.ipam_path(*sub), str(addr), (
                f"{addr} is {why}: host-local hands out every address of the range but the "
                "gateway, so a pod would get it. Expected a host address of the subnet")))
    for iface, sub in facts.statics:
        why = reserved_reason(iface.ip, iface.network)
        if why is not None:
            findings.append(Finding(net.ipam_path(*sub), str(iface),
                                    f"{iface.ip} is {why}; expected a host address"))
    if facts.subnets:
        for gw, sub in facts.routes:
            if not on_link(gw, facts.subnets):
                findings.append(Finding(net.ipam_path(*sub), str(gw), route_off_link(
                    gw, net.key, facts.subnets)))
    for mac, path in config_macs(net):
        why = bad_mac_reason(mac)
        if why is not None:
            findings.append(Finding(path, mac, f"MAC {mac} {why}"))
    return findings


def route_off_link(gw: IPAddress, key: str, subnets: list[IPNetwork]) -> str:
    shown = ", ".join(sorted({str(n) for n in subnets}))
    return (f"route gateway {gw} is on none of the subnets of network {key} ({shown}); the "
            "kernel refuses a next hop that is not on-link, and the ADD fails. Expected a "
            "gateway inside one of them (or an IPv6 link-local one)")
