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

from ..cni.fields import IPAddress, IPNetwork
from ..errors import Finding
from ..planned import PlannedNetwork

LINK_LOCAL_V6 = ipaddress.IPv6Network("fe80::/10")


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


def check_network_addresses(net: PlannedNetwork) -> list[Finding]:
    """The checks of one network's own config (see the module docstring)."""
    if net.external:
        return []
    findings: list[Finding] = []
    facts = net.ipam
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
    for mac, path in net.macs:
        why = bad_mac_reason(mac)
        if why is not None:
            findings.append(Finding(path, mac, f"MAC {mac} {why}"))
    return findings


def route_off_link(gw: IPAddress, key: str, subnets: list[IPNetwork]) -> str:
    shown = ", ".join(sorted({str(n) for n in subnets}))
    return (f"route gateway {gw} is on none of the subnets of network {key} ({shown}); the "
            "kernel refuses a next hop that is not on-link, and the ADD fails. Expected a "
            "gateway inside one of them (or an IPv6 link-local one)")
