"""Property tests: lossless round trip, address-range validation, the pool-overlap sweep.

(a) Generated valid CNI configs (single plugin and conflist; every known plugin type plus
    unknown ones with random extra fields; host-local ranges generated valid, static, dhcp,
    whereabouts, unknown IPAM; keys of every object in a random order) read back exactly,
    key order included: ``json.dumps(parse(t).to_dict()) == json.dumps(json.loads(t))``,
    also after a trip through ``to_json``. See :func:`same_json` for the normalisations this
    comparison intends (layout, string escapes, number spelling) and none other.
(b) host-local ranges: accepted iff start, end and gateway lie in the subnet, in its
    family, with start <= end; pool sizes match a count made here with ``ipaddress``.
(c) ``check_pool_overlaps`` (a sort-and-sweep) agrees with a brute-force pairwise oracle.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netplumb import CNI_VERSIONS, PlanError, parse_cni_config
from netplumb.checks.networks import check_pool_overlaps
from netplumb.cni.ipam import (
    DhcpIpam,
    HostLocalIpam,
    HostLocalRange,
    Route,
    StaticAddress,
    StaticIpam,
    WhereaboutsIpam,
    WhereaboutsRange,
)
from netplumb.cni.plugins import KNOWN_PLUGINS, Plugin, VlanTrunk
from netplumb.plan import PlannedNetwork

J = dict[str, Any]
Draw = Callable[..., Any]
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------------------------
# building blocks (module-level strategies: building strategies per draw is slow)
# ---------------------------------------------------------------------------------------

BOOL = st.booleans()
SEED = st.integers(0, 2**32 - 1)
FAMILY = st.sampled_from([4, 6])


def named(prefixes: list[str], top: int = 999) -> st.SearchStrategy[str]:
    """``prefix`` or ``prefix<number>``: varied names without the cost of from_regex."""
    return st.tuples(st.sampled_from(prefixes), st.none() | st.integers(0, top)).map(
        lambda t: t[0] if t[1] is None else f"{t[0]}{t[1]}")


JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
EXTRA_KEY = named(["x", "vendorOpt", "log_level", "logFile", "args", "runtimeConfig", "dns",
                   "kubeconfig", "prevResult", "x-vendor", "etcd_endpoints", "Z", "opt.v2"])
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(EXTRA_KEY, inner, max_size=3),
    max_leaves=6)


def reserved_keys(*models: type[Any]) -> frozenset[str]:
    """Every spelling a model knows a field by (name and alias): extras must avoid them."""
    keys: set[str] = set()
    for model in models:
        for name, field in model.model_fields.items():
            keys.add(name)
            if field.alias:
                keys.add(field.alias)
    return frozenset(keys)


@cache
def extras_strategy(reserved: frozenset[str], max_extra: int) -> st.SearchStrategy[J]:
    return st.dictionaries(EXTRA_KEY.filter(lambda k: k not in reserved), JSON_VALUES,
                           max_size=max_extra)


def shuffled(draw: Draw, mapping: J) -> J:
    """The same object with its keys in a random order."""
    items = list(mapping.items())
    random.Random(draw(SEED)).shuffle(items)
    return dict(items)


def with_extras(draw: Draw, base: J, reserved: frozenset[str], max_extra: int = 3) -> J:
    """``base`` plus unknown keys (spelled unlike any field), keys in a random order."""
    extras = draw(extras_strategy(reserved | frozenset(base), max_extra))
    return shuffled(draw, {**base, **extras})


def optional(draw: Draw, out: J, key: str, value: Any) -> None:
    """Maybe set ``out[key]`` to ``value`` (drawn first if it is a strategy)."""
    if draw(BOOL):
        out[key] = draw(value) if isinstance(value, st.SearchStrategy) else value


IFNAME = named(["eth", "enp0s", "ens1f", "bond0.", "br-", "vlan", "net_", "a-b.c"], 99999)
MTU = st.just(0) | st.integers(68, 65535)
MAC = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b))
PCI = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 31),
                st.integers(0, 7)).map(lambda t: f"{t[0]:04x}:{t[1]:02x}:{t[2]:02x}.{t[3]}")
CNI_NAME = named(["net", "macvlan-conf", "A.b_c-d", "0x", "tenant.blue"])
CAPS = st.dictionaries(st.sampled_from(["ips", "mac", "portMappings", "bandwidth", "ipRanges",
                                        "dns", "deviceID", "infinibandGUID", "myVendorCap"]),
                       st.booleans(), max_size=3)
UNKNOWN_PLUGIN = named(["ovn-k8s-cni-overlay", "dummy", "tap", "ib-sriov", "cilium-cni",
                        "my_plugin", "loopback", "firewall", "static-route"])
UNKNOWN_IPAM = st.sampled_from(["nv-ipam", "calico-ipam", "azure-vnet-ipam", "my-ipam",
                                "ib-sriov-ipam"])

# ---------------------------------------------------------------------------------------
# addresses
# ---------------------------------------------------------------------------------------


def v4_subnet(slot: int, prefix: int) -> ipaddress.IPv4Network:
    """Subnets of distinct slots are disjoint (prefix >= 16)."""
    return ipaddress.IPv4Network((0x0A000000 + (slot << 16), prefix))


def v6_subnet(slot: int, prefix: int) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(((0xFD00 + slot) << 112, prefix))


V4_PREFIX = st.integers(16, 30)
V6_PREFIX = st.sampled_from([48, 64, 64, 64, 96, 112, 120, 126])


def subnet_in_slot(draw: Draw, slot: int, family: int) -> IPNet:
    if family == 4:
        return v4_subnet(slot, draw(V4_PREFIX))
    return v6_subnet(slot, draw(V6_PREFIX))


def addr_at(net: IPNet, offset: int) -> IPAddr:
    return net.network_address + offset


# Offsets into a range of any size: drawn once, reduced modulo the size (a strategy built
# per size would be validated on every draw), with the edges made likely.
OFFSET = st.sampled_from([0, 1, -1, -2]) | st.integers(0, 2**128 - 1)


def offset(draw: Draw, size: int) -> int:
    return int(draw(OFFSET)) % size


def two_offsets(draw: Draw, size: int) -> tuple[int, int]:
    a, b = offset(draw, size), offset(draw, size)
    return min(a, b), max(a, b)


def range_within(draw: Draw, net: IPNet) -> J:
    """A valid host-local range in ``net``: optional start <= end and gateway, all inside."""
    a, b = two_offsets(draw, net.num_addresses)
    # keep the pool non-empty whichever bound is left to its default (host-local's first
    # host .. last host, IPv4 without broadcast)
    hi = net.num_addresses - (2 if net.version == 4 else 1)
    a, b = min(max(a, 1), hi), min(max(b, 1), hi)
    out: J = {"subnet": str(net)}
    optional(draw, out, "rangeStart", str(addr_at(net, a)))
    optional(draw, out, "rangeEnd", str(addr_at(net, b)))
    if draw(BOOL):
        out["gateway"] = str(addr_at(net, offset(draw, net.num_addresses)))
    return out


@st.composite
def route(draw: Draw) -> J:
    if draw(FAMILY) == 4:
        net: IPNet = ipaddress.IPv4Network((draw(st.integers(0, 2**32 - 1)),
                                            draw(st.integers(0, 32))), strict=False)
        gw: IPAddr = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    else:
        net = ipaddress.IPv6Network((draw(st.integers(0, 2**128 - 1)), draw(st.integers(0, 128))),
                                    strict=False)
        gw = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    out: J = {"dst": str(net)}
    optional(draw, out, "gw", str(gw))
    return with_extras(draw, out, reserved_keys(Route), 1)


ROUTES = st.lists(route(), max_size=2)
SLOTS = st.permutations(range(1, 40))

# ---------------------------------------------------------------------------------------
# IPAM
# ---------------------------------------------------------------------------------------


@st.composite
def host_local(draw: Draw) -> J:
    slots = iter(draw(SLOTS))
    out: J = {"type": "host-local"}
    if draw(BOOL):  # legacy single range
        out.update(range_within(draw, subnet_in_slot(draw, next(slots), draw(FAMILY))))
    if "subnet" not in out or draw(BOOL):
        sets = []
        for _ in range(draw(st.integers(1, 3))):
            fam = draw(FAMILY)
            sets.append([with_extras(draw, range_within(draw, subnet_in_slot(draw, next(slots),
                                                                             fam)),
                                     reserved_keys(HostLocalRange), 1)
                         for _ in range(draw(st.integers(1, 3)))])
        out["ranges"] = sets
    optional(draw, out, "routes", ROUTES)
    optional(draw, out, "dataDir", st.sampled_from(["/var/lib/cni/networks", "/run/ipam"]))
    optional(draw, out, "resolvConf", "/etc/resolv.conf")
    return with_extras(draw, out, reserved_keys(HostLocalIpam))


NAMESERVERS = st.lists(st.sampled_from(["10.0.0.53", "2001:db8::53", "1.1.1.1"]), max_size=3)


@st.composite
def static_ipam(draw: Draw) -> J:
    out: J = {"type": "static"}
    if draw(BOOL):
        addrs = []
        for _ in range(draw(st.integers(0, 3))):
            net = subnet_in_slot(draw, draw(st.integers(1, 200)), draw(FAMILY))
            a: J = {"address": f"{addr_at(net, draw(st.integers(1, 3)))}/{net.prefixlen}"}
            optional(draw, a, "gateway", str(addr_at(net, 1)))
            addrs.append(with_extras(draw, a, reserved_keys(StaticAddress), 1))
        out["addresses"] = addrs
    optional(draw, out, "routes", ROUTES)
    if draw(BOOL):
        dns: J = {}
        optional(draw, dns, "nameservers", NAMESERVERS)
        optional(draw, dns, "domain", "example.com")
        optional(draw, dns, "search", ["svc.cluster.local", "cluster.local"])
        optional(draw, dns, "options", ["ndots:5"])
        out["dns"] = dns
    return with_extras(draw, out, reserved_keys(StaticIpam))


@st.composite
def dhcp_ipam(draw: Draw) -> J:
    out: J = {"type": "dhcp"}
    optional(draw, out, "daemonSocketPath", "/run/cni/dhcp.sock")
    optional(draw, out, "request", [{"skipDefault": False, "option": "classless-static-routes"}])
    return with_extras(draw, out, reserved_keys(DhcpIpam))


def whereabouts_range(draw: Draw, net: IPNet) -> J:
    size = net.num_addresses
    a, b = two_offsets(draw, size)
    host_bits = draw(BOOL)  # whereabouts accepts a CIDR with host bits
    base = addr_at(net, offset(draw, size)) if host_bits else net.network_address
    out: J = {"range": f"{base}/{net.prefixlen}"}
    optional(draw, out, "range_start", str(addr_at(net, a)))
    optional(draw, out, "range_end", str(addr_at(net, b)))
    optional(draw, out, "exclude", [str(next(net.subnets(
        new_prefix=min(net.max_prefixlen, net.prefixlen + 2))))])
    return out


@st.composite
def whereabouts(draw: Draw) -> J:
    out: J = {"type": "whereabouts"}
    slots = iter(draw(SLOTS))
    has_range = draw(BOOL)
    if has_range:
        net = subnet_in_slot(draw, next(slots), draw(FAMILY))
        out.update(whereabouts_range(draw, net))
        optional(draw, out, "gateway", str(addr_at(net, 1)))
    if not has_range or draw(BOOL):
        out["ipRanges"] = [
            with_extras(draw, whereabouts_range(draw, subnet_in_slot(draw, next(slots),
                                                                     draw(FAMILY))),
                        reserved_keys(WhereaboutsRange), 1)
            for _ in range(draw(st.integers(1, 2)))]
    optional(draw, out, "routes", ROUTES)
    optional(draw, out, "enable_overlapping_ranges", BOOL)
    optional(draw, out, "network_name", st.sampled_from(["tenant-a", "blue"]))
    optional(draw, out, "kubernetes", {"kubeconfig": "/etc/cni/net.d/whereabouts.d/kc"})
    return with_extras(draw, out, reserved_keys(WhereaboutsIpam))


@st.composite
def unknown_ipam(draw: Draw) -> J:
    if draw(st.integers(0, 4)) == 0:
        return {}
    return with_extras(draw, {"type": draw(UNKNOWN_IPAM)}, frozenset({"type"}), 4)


IPAM = st.one_of(host_local(), static_ipam(), dhcp_ipam(), whereabouts(), unknown_ipam())

# ---------------------------------------------------------------------------------------
# plugins
# ---------------------------------------------------------------------------------------


def common(draw: Draw, out: J, *, ipam: bool) -> None:
    optional(draw, out, "capabilities", CAPS)
    if ipam:
        optional(draw, out, "ipam", IPAM)


@st.composite
def macvlan(draw: Draw) -> J:
    out: J = {"type": "macvlan"}
    optional(draw, out, "master", IFNAME)
    optional(draw, out, "mode", st.sampled_from(["bridge", "private", "vepa", "passthru"]))
    optional(draw, out, "mtu", MTU)
    optional(draw, out, "mac", MAC)
    optional(draw, out, "linkInContainer", BOOL)
    optional(draw, out, "bcqueuelen", st.integers(0, 10000))
    common(draw, out, ipam=True)
    return out


@st.composite
def ipvlan(draw: Draw) -> J:
    out: J = {"type": "ipvlan"}
    optional(draw, out, "master", IFNAME)
    optional(draw, out, "mode", st.sampled_from(["l2", "l3", "l3s"]))
    optional(draw, out, "mtu", MTU)
    optional(draw, out, "linkInContainer", BOOL)
    common(draw, out, ipam=True)
    return out


@st.composite
def trunk(draw: Draw) -> J:
    if draw(BOOL):
        return {"id": draw(st.integers(1, 4094))}
    lo, hi = two_offsets(draw, 4094)
    return with_extras(draw, {"minID": lo + 1, "maxID": hi + 1}, reserved_keys(VlanTrunk), 1)


TRUNKS = st.lists(trunk(), max_size=3)
BRIDGE_FLAGS = ("isGateway", "isDefaultGateway", "forceAddress", "ipMasq", "hairpinMode",
                "promiscMode", "preserveDefaultVlan", "macspoofchk", "enabledad",
                "disableContainerInterface", "portIsolation")


@st.composite
def bridge(draw: Draw) -> J:
    out: J = {"type": "bridge"}
    optional(draw, out, "bridge", IFNAME)
    for key in draw(st.lists(st.sampled_from(BRIDGE_FLAGS), max_size=4, unique=True)):
        out[key] = draw(BOOL)
    optional(draw, out, "ipMasqBackend", st.sampled_from(["iptables", "nftables"]))
    optional(draw, out, "mtu", MTU)
    optional(draw, out, "vlan", st.integers(0, 4094))
    optional(draw, out, "vlanTrunk", TRUNKS)
    common(draw, out, ipam=True)
    return out


SELECTORS = {"device": IFNAME, "hwaddr": MAC, "pciBusID": PCI,
             "kernelpath": st.just("/sys/devices/pci0000:00/0000:00:03.0/net/eth1")}


@st.composite
def host_device(draw: Draw) -> J:
    key = draw(st.sampled_from(sorted(SELECTORS)))
    out: J = {"type": "host-device", key: draw(SELECTORS[key])}
    common(draw, out, ipam=True)
    return out


@st.composite
def sriov(draw: Draw) -> J:
    out: J = {"type": "sriov"}
    optional(draw, out, "deviceID", PCI)
    vlan = draw(st.none() | st.integers(0, 4095))
    if vlan is not None:
        out["vlan"] = vlan
    if vlan:
        optional(draw, out, "vlanQoS", st.integers(0, 7))
        optional(draw, out, "vlanProto", st.sampled_from(["802.1q", "802.1Q", "802.1ad",
                                                         "802.1AD"]))
    else:  # sriov-cni: QoS and 802.1ad need a non-zero vlan
        optional(draw, out, "vlanQoS", 0)
        optional(draw, out, "vlanProto", st.sampled_from(["802.1q", "802.1Q"]))
    optional(draw, out, "spoofchk", st.sampled_from(["on", "off"]))
    optional(draw, out, "trust", st.sampled_from(["on", "off"]))
    optional(draw, out, "link_state", st.sampled_from(["auto", "enable", "disable"]))
    lo, hi = two_offsets(draw, 100000)
    optional(draw, out, "min_tx_rate", lo)
    optional(draw, out, "max_tx_rate", hi)
    optional(draw, out, "mac", MAC)
    common(draw, out, ipam=True)
    return out


@st.composite
def vlan_plugin(draw: Draw) -> J:
    out: J = {"type": "vlan"}
    optional(draw, out, "master", IFNAME)
    optional(draw, out, "vlanId", st.integers(0, 4094))
    optional(draw, out, "mtu", MTU)
    optional(draw, out, "linkInContainer", BOOL)
    common(draw, out, ipam=True)
    return out


SYSCTLS = st.dictionaries(
    st.sampled_from(["net.ipv4.conf.IFNAME.arp_filter", "net.ipv6.conf.IFNAME.accept_ra",
                     "net.ipv4.conf.IFNAME.rp_filter"]), st.sampled_from(["0", "1", "2"]))


@st.composite
def tuning(draw: Draw) -> J:
    out: J = {"type": "tuning"}
    optional(draw, out, "mtu", MTU)
    optional(draw, out, "mac", MAC)
    optional(draw, out, "promisc", BOOL)
    optional(draw, out, "allmulti", BOOL)
    optional(draw, out, "sysctl", SYSCTLS)
    optional(draw, out, "txQLen", st.integers(0, 100000))
    optional(draw, out, "dataDir", "/run/cni/tuning")
    common(draw, out, ipam=False)
    return out


@st.composite
def portmap(draw: Draw) -> J:
    out: J = {"type": "portmap"}
    optional(draw, out, "snat", BOOL)
    optional(draw, out, "markMasqBit", st.integers(0, 31))
    optional(draw, out, "externalSetMarkChain", "KUBE-MARK-MASQ")
    optional(draw, out, "conditionsV4", ["-s", "1.2.3.4"])
    optional(draw, out, "conditionsV6", [])
    optional(draw, out, "masqAll", BOOL)
    optional(draw, out, "backend", st.sampled_from(["iptables", "nftables"]))
    common(draw, out, ipam=False)
    return out


@st.composite
def bandwidth(draw: Draw) -> J:
    out: J = {"type": "bandwidth"}
    for way in ("ingress", "egress"):
        if draw(BOOL):  # rate and burst go together: both zero or both set
            if draw(BOOL):
                rate, burst = 0, 0
            else:
                rate, burst = draw(st.integers(1, 10**10)), draw(st.integers(1, 10**10))
            out[f"{way}Rate"], out[f"{way}Burst"] = rate, burst
    common(draw, out, ipam=False)
    return out


@st.composite
def sbr(draw: Draw) -> J:
    out: J = {"type": "sbr"}
    optional(draw, out, "table", st.integers(0, 2**31 - 1))
    common(draw, out, ipam=False)
    return out


@st.composite
def unknown_plugin(draw: Draw) -> J:
    out: J = {"type": draw(UNKNOWN_PLUGIN)}
    optional(draw, out, "capabilities", CAPS)
    optional(draw, out, "ipam", IPAM)
    return out


KNOWN_STRATEGIES: dict[str, st.SearchStrategy[J]] = {
    "macvlan": macvlan(), "ipvlan": ipvlan(), "bridge": bridge(), "host-device": host_device(),
    "sriov": sriov(), "vlan": vlan_plugin(), "tuning": tuning(), "portmap": portmap(),
    "bandwidth": bandwidth(), "sbr": sbr(),
}
PLUGIN_KINDS = st.sampled_from([*KNOWN_STRATEGIES, "unknown"])
UNKNOWN_PLUGINS = unknown_plugin()


def test_every_known_plugin_is_generated() -> None:
    assert set(KNOWN_STRATEGIES) == set(KNOWN_PLUGINS)


@st.composite
def any_plugin(draw: Draw) -> J:
    kind = draw(PLUGIN_KINDS)
    if kind == "unknown":
        return with_extras(draw, draw(UNKNOWN_PLUGINS), frozenset(), 4)
    model: type[Plugin] = KNOWN_PLUGINS[kind]
    return with_extras(draw, draw(KNOWN_STRATEGIES[kind]), reserved_keys(model))


HEADER_KEYS = frozenset({"cniVersion", "name", "plugins", "disableCheck", "disableGC",
                         "cni_version", "disable_check", "disable_gc"})
VERSIONS = st.sampled_from(CNI_VERSIONS)
PLUGINS = st.lists(any_plugin(), min_size=1, max_size=4)


@st.composite
def single_config(draw: Draw) -> J:
    head: J = {"cniVersion": draw(VERSIONS)}
    optional(draw, head, "name", CNI_NAME)
    return shuffled(draw, {**head, **draw(any_plugin())})


@st.composite
def conflist(draw: Draw) -> J:
    out: J = {"cniVersion": draw(VERSIONS), "name": draw(CNI_NAME)}
    optional(draw, out, "disableCheck", BOOL)
    optional(draw, out, "disableGC", BOOL)
    out["plugins"] = draw(PLUGINS)
    return with_extras(draw, out, HEADER_KEYS, 2)


CONFIGS = st.one_of(single_config(), conflist())


# ---------------------------------------------------------------------------------------
# (a) round trip
# ---------------------------------------------------------------------------------------


def same_json(written: J, text: str) -> None:
    """``written`` (a ``to_dict()``) is the JSON object ``text`` holds, keys in its order.

    Both sides are serialised by ``json.dumps`` with the same settings and compared as
    text; the input is decoded first with its key order kept (``json.loads`` keeps it).
    The normalisations this intends, and only these, are the ones decoding makes: layout
    (whitespace, indentation, separators), string escapes (``"\\u00e9"`` and ``"é"`` are one
    string) and number spelling (``1e2`` and ``100.0`` are one float). Key order, keys,
    values and types must match; dict equality would ignore the order.
    """
    assert json.dumps(written) == json.dumps(json.loads(text))


@SETTINGS
@given(CONFIGS, st.sampled_from([None, 2, "compact"]))
def test_round_trip(data: J, layout: int | str | None) -> None:
    text = (json.dumps(data, separators=(",", ":")) if layout == "compact"
            else json.dumps(data, indent=layout))
    parsed = parse_cni_config(text)
    same_json(parsed.to_dict(), text)
    again = parse_cni_config(parsed.to_json())
    same_json(again.to_dict(), text)
    same_json(parse_cni_config(parsed.to_json(indent=None)).to_dict(), text)
    assert again == parsed


# Keys in an order unlike the models' declaration order (cniVersion and name are not first,
# type not first, ipam before master, a range's subnet after its bounds) at every level.
ORDER_CASES = {
    "single": """{
      "ipam": {"routes": [{"gw": "10.1.0.1", "dst": "0.0.0.0/0"}],
               "ranges": [[{"rangeEnd": "10.1.0.20", "subnet": "10.1.0.0/24",
                            "rangeStart": "10.1.0.10"}]],
               "type": "host-local"},
      "master": "eth1",
      "name": "blue",
      "mode": "bridge",
      "type": "macvlan",
      "x-vendor": {"b": 1, "a": 2},
      "cniVersion": "1.0.0"
    }""",
    "conflist": """{
      "plugins": [
        {"mtu": 1400, "ipam": {"subnet": "10.2.0.0/24", "type": "host-local"},
         "bridge": "br1", "type": "bridge", "isGateway": true},
        {"sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}, "type": "tuning"}],
      "disableCheck": true,
      "name": "green",
      "cniVersion": "0.4.0"
    }""",
    "whereabouts": """{
      "name": "red", "type": "ipvlan", "cniVersion": "1.0.0",
      "ipam": {"range_end": "10.3.0.20", "range": "10.3.0.0/24", "type": "whereabouts"}
    }""",
}


@pytest.mark.parametrize("text", ORDER_CASES.values(), ids=list(ORDER_CASES))
def test_round_trip_keeps_key_order(text: str) -> None:
    parsed = parse_cni_config(text)
    same_json(parsed.to_dict(), text)
    same_json(parse_cni_config(parsed.to_json()).to_dict(), text)


def test_key_order_is_not_equality() -> None:
    """The order is kept on output, but two configs that differ only in it are equal (JSON
    objects are unordered), and hash alike."""
    a = parse_cni_config(ORDER_CASES["single"])
    b = parse_cni_config(json.dumps(dict(sorted(json.loads(ORDER_CASES["single"]).items()))))
    assert json.dumps(a.to_dict()) != json.dumps(b.to_dict())
    assert a == b
    assert hash(a) == hash(b)


@pytest.mark.parametrize(("kind", "key", "value"), [
    ("macvlan", "link_in_container", True),
    ("bridge", "is_gateway", "yes"),
    ("bridge", "ip_masq", True),
    ("sriov", "vlan_qos", 3),
    ("vlan", "vlan_id", 7),
])
def test_snake_case_spelling_is_an_unknown_key(kind: str, key: str, value: Any) -> None:
    text = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": kind, key: value})
    same_json(parse_cni_config(text).to_dict(), text)


def test_snake_case_ipam_key_is_kept() -> None:
    text = json.dumps({"cniVersion": "1.0.0", "type": "macvlan", "ipam": {
        "type": "host-local", "subnet": "10.1.0.0/24", "range_start": "10.1.0.5"}})
    same_json(parse_cni_config(text).to_dict(), text)


# ---------------------------------------------------------------------------------------
# (b) host-local address ranges against an ipaddress oracle
# ---------------------------------------------------------------------------------------


# Mostly allocatable prefixes, sometimes /31, /32 (IPv6 /127, /128): too small for host-local.
PREFIX = {4: st.integers(12, 30) | st.integers(1, 32),
          6: st.integers(100, 126) | st.integers(1, 128)}
KIND = st.sampled_from(["inside", "inside", "inside", "edge", "outside", "far", "family"])
EDGE = st.sampled_from([0, 1, -1, -2])
OUT = st.sampled_from([-1, 1])


def any_subnet(draw: Draw, family: int) -> IPNet:
    bits = 32 if family == 4 else 128
    raw = offset(draw, 2**bits)
    net: IPNet = (ipaddress.IPv4Network((raw, draw(PREFIX[4])), strict=False) if family == 4
                  else ipaddress.IPv6Network((raw, draw(PREFIX[6])), strict=False))
    return net


def candidate_address(draw: Draw, net: IPNet) -> IPAddr:
    """Inside, on the edges, just outside, far away, or of the other family."""
    first, last = int(net.network_address), int(net.broadcast_address)
    top = 2**net.max_prefixlen - 1
    kind = draw(KIND)
    if kind == "family":
        if net.version == 4:
            return ipaddress.IPv6Address(offset(draw, 2**128))
        return ipaddress.IPv4Address(offset(draw, 2**32))
    if kind == "inside":
        value = first + offset(draw, last - first + 1)
    elif kind == "edge":
        value = first + draw(EDGE) % (last - first + 1)
    elif kind == "outside":
        value = first - 1 if draw(OUT) < 0 else last + 1
    else:
        value = offset(draw, top + 1)
    value = min(max(value, 0), top)
    return ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value)


def inside(addr: IPAddr, net: IPNet) -> bool:
    return (addr.version == net.version
            and net.network_address <= addr <= net.broadcast_address)  # type: ignore[operator]


def expected_pool_size(net: IPNet, start: IPAddr | None, end: IPAddr | None,
                       gateway: IPAddr | None) -> int:
    """host-local: first host .. last (IPv4 drops broadcast), gateway (default .1) skipped."""
    first = int(start) if start is not None else int(net.network_address) + 1
    if end is not None:
        last = int(end)
    else:
        last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    gw = int(gateway) if gateway is not None else int(net.network_address) + 1
    if last - first < 4096:  # small: count one by one
        return sum(1 for a in range(first, last + 1) if a != gw)
    return last - first + 1 - (1 if first <= gw <= last else 0)


@dataclass
class RangeCase:
    net: IPNet
    start: IPAddr | None
    end: IPAddr | None
    gateway: IPAddr | None

    def fields(self) -> J:
        out: J = {"subnet": str(self.net)}
        for key, value in (("rangeStart", self.start), ("rangeEnd", self.end),
                           ("gateway", self.gateway)):
            if value is not None:
                out[key] = str(value)
        return out

    def culprits(self) -> set[str]:
        bad = {key for key, value in (("rangeStart", self.start), ("rangeEnd", self.end),
                                      ("gateway", self.gateway))
               if value is not None and not inside(value, self.net)}
        if self.net.prefixlen > self.net.max_prefixlen - 2:
            return {"subnet"}  # host-local: too small to allocate from
        if not bad and self.start is not None and self.end is not None and \
                int(self.start) > int(self.end):
            bad = {"rangeStart", "rangeEnd"}
        if not bad:  # host-local's defaults for the bound not given: is anything left?
            first = int(self.start) if self.start is not None else int(self.net.network_address) + 1
            last = int(self.end) if self.end is not None else (
                int(self.net.broadcast_address) - (1 if self.net.version == 4 else 0))
            if first > last:
                bad = {k for k, v in (("rangeStart", self.start), ("rangeEnd", self.end))
                       if v is not None}
        return bad


@st.composite
def range_cases(draw: Draw) -> RangeCase:
    net = any_subnet(draw, draw(FAMILY))
    start, end, gateway = (None if draw(BOOL) else candidate_address(draw, net)
                           for _ in range(3))
    return RangeCase(net, start, end, gateway)


@SETTINGS
@given(range_cases(), st.booleans())
def test_host_local_range_oracle(rc: RangeCase, legacy: bool) -> None:
    fields = rc.fields()
    ipam: J = {"type": "host-local", **fields} if legacy else {
        "type": "host-local", "ranges": [[fields]]}
    prefix = "ipam" if legacy else "ipam.ranges[0][0]"
    text = json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "macvlan", "ipam": ipam})
    culprits = rc.culprits()
    try:
        config = parse_cni_config(text)
    except PlanError as exc:
        assert culprits, f"refused a valid range: {exc}"
        assert exc.path in {f"{prefix}.{key}" for key in culprits}, (exc.paths, culprits)
        return
    assert not culprits, f"accepted {fields}; expected a finding at {culprits}"
    [pool] = config.pools()
    assert pool.network == rc.net
    assert pool.size == expected_pool_size(rc.net, rc.start, rc.end, rc.gateway)


@SETTINGS
@given(st.sampled_from([4, 6]), st.data())
def test_dual_stack_sets_size_independently(family: int, data: st.DataObject) -> None:
    """Each range set of a dual-stack config is its own pool with its own size."""
    v4 = range_within(data.draw, v4_subnet(1, data.draw(st.integers(20, 30))))
    v6 = range_within(data.draw, v6_subnet(2, data.draw(st.integers(100, 126))))
    sets = [[v4], [v6]] if family == 4 else [[v6], [v4]]
    text = json.dumps({"cniVersion": "1.0.0", "type": "bridge", "ipam": {
        "type": "host-local", "ranges": sets}})
    pools = parse_cni_config(text).pools()
    assert [p.where for p in pools] == [("ranges", 0, 0), ("ranges", 1, 0)]
    for pool, rs in zip(pools, sets, strict=True):
        r = rs[0]
        net = ipaddress.ip_network(r["subnet"])
        got = {k: ipaddress.ip_address(r[k]) if k in r else None
               for k in ("rangeStart", "rangeEnd", "gateway")}
        assert pool.size == expected_pool_size(net, got["rangeStart"], got["rangeEnd"],
                                               got["gateway"])


# ---------------------------------------------------------------------------------------
# (c) the pool-overlap sweep against a pairwise oracle
# ---------------------------------------------------------------------------------------

LINKS = ["eth0", "eth1", None]  # None: no master (node's default-route interface)


LOW, WIDTH = st.integers(0, 60), st.integers(0, 20)


def small_pool(draw: Draw) -> tuple[int, int]:
    lo = draw(LOW)
    return lo, lo + draw(WIDTH)


def v4(offset: int) -> str:
    return str(ipaddress.IPv4Address(0x0A000000 + offset))


def v6(offset: int) -> str:
    return str(ipaddress.IPv6Address((0xFD00 << 112) + offset))


@dataclass
class NetSpec:
    kind: str
    link: str | None
    ipam: J | None

    def config(self, name: str) -> J:
        out: J = {"cniVersion": "1.0.0", "name": name, "type": self.kind}
        if self.link is not None:
            key = {"bridge": "bridge", "host-device": "device"}.get(self.kind, "master")
            out[key] = self.link
        if self.ipam is not None:
            out["ipam"] = self.ipam
        return out


FAMILIES = st.lists(FAMILY, min_size=1, max_size=2, unique=True)


@st.composite
def host_local_pools(draw: Draw) -> J:
    """One /24 (or /120) per set: ranges of a network never overlap each other."""
    sets = []
    for fam in draw(FAMILIES):
        lo, hi = small_pool(draw)
        if fam == 4:
            sets.append([{"subnet": "10.0.0.0/24", "rangeStart": v4(lo + 1),
                          "rangeEnd": v4(hi + 1)}])
        else:
            sets.append([{"subnet": "fd00::/120", "rangeStart": v6(lo + 1),
                          "rangeEnd": v6(hi + 1)}])
    return {"type": "host-local", "ranges": sets}


@st.composite
def whereabouts_pools(draw: Draw) -> J:
    """whereabouts: 'range' plus ipRanges that may overlap each other within the network."""
    lo, hi = small_pool(draw)
    out: J = {"type": "whereabouts", "range": "10.0.0.0/24", "range_start": v4(lo + 1),
              "range_end": v4(hi + 1)}
    if draw(BOOL):
        lo2, hi2 = small_pool(draw)
        out["ipRanges"] = [{"range": f"{v4(lo2 + 1)}-{v4(hi2 + 1)}/24"}]
    return out


PLAN_IPAM = {False: st.one_of(host_local_pools(), st.none()),
             True: st.one_of(host_local_pools(), st.none(), whereabouts_pools())}
PLAN_SIZE = st.integers(2, 7)
NET_KIND = st.sampled_from(["macvlan", "ipvlan", "bridge", "host-device"])
LINK = st.sampled_from(LINKS)


@st.composite
def net_specs(draw: Draw, internal_overlaps: bool) -> tuple[list[NetSpec], list[bool]]:
    """Networks and, for each, whether it is written as a conflist (plugins[0])."""
    specs, chain = [], []
    for _ in range(draw(PLAN_SIZE)):
        kind = draw(NET_KIND)
        link = draw(LINK)
        if kind == "host-device" and link is None:
            link = "eth0"
        specs.append(NetSpec(kind, link, draw(PLAN_IPAM[internal_overlaps])))
        chain.append(draw(BOOL))
    return specs, chain


def planned(specs: list[NetSpec], chain: list[bool]) -> list[PlannedNetwork]:
    out = []
    for i, spec in enumerate(specs):
        body = spec.config(f"n{i}")
        if chain[i]:
            body = {"cniVersion": "1.0.0", "name": f"n{i}", "plugins": [
                {k: v for k, v in body.items() if k not in ("cniVersion", "name")},
                {"type": "tuning"}]}
        out.append(PlannedNetwork(f"n{i}", "default", parse_cni_config(json.dumps(body)),
                                  where=f"networks[{i}]"))
    return out


def effective_link(spec: NetSpec) -> str:
    if spec.link is not None:
        return spec.link
    return "cni0" if spec.kind == "bridge" else "<default-route>"


def oracle_pairs(nets: list[PlannedNetwork], specs: list[NetSpec]) -> set[tuple[int, int]]:
    """Every pair of networks i < j with two pools on one link that share an address."""
    pools = [[(ipaddress.ip_address(p.first), ipaddress.ip_address(p.last))
              for p in n.config.pools()] for n in nets]
    pairs = set()
    for i in range(len(nets)):
        for j in range(i + 1, len(nets)):
            if effective_link(specs[i]) != effective_link(specs[j]):
                continue
            for a_lo, a_hi in pools[i]:
                for b_lo, b_hi in pools[j]:
                    if a_lo.version == b_lo.version and \
                            a_lo <= b_hi and b_lo <= a_hi:  # type: ignore[operator]
                        pairs.add((i, j))
    return pairs


def flagged(findings: list[Any]) -> set[int]:
    return {int(f.path.split("[", 1)[1].split("]", 1)[0]) for f in findings}


def check_against_oracle(specs: list[NetSpec], chain: list[bool]) -> None:
    nets = planned(specs, chain)
    findings = check_pool_overlaps(nets)
    pairs = oracle_pairs(nets, specs)
    assert bool(findings) == bool(pairs), (findings, pairs)
    hit = flagged(findings)
    # every finding is about a network that really overlaps another one
    involved = {i for pair in pairs for i in pair}
    assert hit <= involved, (hit, pairs)
    # every overlapping pair is reported on at least one of its two networks
    for i, j in pairs:
        assert i in hit or j in hit, ((i, j), [f.path for f in findings])
    # paths point at the pool: networks[i].ipam..., under plugins[0] for a conflist
    for f in findings:
        i = int(f.path.split("[", 1)[1].split("]", 1)[0])
        head = f"networks[{i}].plugins[0].ipam" if chain[i] else f"networks[{i}].ipam"
        assert f.path.startswith(head), f.path
        assert f.severity == "error"


@SETTINGS
@given(net_specs(internal_overlaps=False))
def test_overlap_sweep_matches_pairwise_oracle(plan: tuple[list[NetSpec], list[bool]]) -> None:
    specs, chain = plan
    check_against_oracle(specs, chain)
    # whether a plan has an overlap does not depend on the order of declaration
    forward = bool(check_pool_overlaps(planned(specs, chain)))
    assert forward == bool(check_pool_overlaps(planned(specs[::-1], chain[::-1])))


@SETTINGS
@given(net_specs(internal_overlaps=True))
def test_overlap_sweep_with_self_overlapping_networks(
        plan: tuple[list[NetSpec], list[bool]]) -> None:
    """whereabouts ranges of one network may overlap each other: still no pair is missed."""
    check_against_oracle(*plan)
