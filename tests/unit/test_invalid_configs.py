"""Invalid input of every kind, each refused with a PlanError naming the exact field.

Four entry points are covered, one table each:

- CNI JSON text through :func:`netplumb.parse_cni_config` (imported NADs);
- typed component args through ``<Kind>NetworkArgs.typed`` (what programs and stack files use);
- the Pulumi components themselves, under mocks: a refused network registers nothing,
  not even the component resource;
- stack specs through :meth:`StackSpec.parse` and whole plans through :func:`build_plan`.

Every case asserts the expected field path is in ``exc.paths`` and that the offending
value (or, for a missing field, the word naming the problem) appears in the message.
Cases marked ``xfail(strict=True)`` are known gaps in netplumb; they
start failing (and must be un-marked) once netplumb refuses them.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pulumi
import pytest

from netplumb import PlanError, parse_cni_config
from netplumb.args.nad import (
    BridgeNetworkArgs,
    CniNetworkArgs,
    HostDeviceNetworkArgs,
    IpvlanNetworkArgs,
    MacvlanNetworkArgs,
    NadFields,
    SriovNetworkArgs,
    VlanNetworkArgs,
)
from netplumb.args.stack import CONFIG_KEY, StackSpec
from netplumb.cni.ipam import HostLocalIpam, HostLocalRange
from netplumb.cni.plugins import TuningPlugin
from netplumb.components import (
    BridgeNetwork,
    CniNetwork,
    HostDeviceNetwork,
    IpvlanNetwork,
    MacvlanNetwork,
    NetworkAttachment,
    SriovNetwork,
    VlanNetwork,
)
from netplumb.plan import build_plan

from .pulumi_mocks import RecordingMocks

J = dict[str, Any]
MISSING = object()

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def value_at(data: Any, path: str) -> Any:
    """The value at a netplumb field path inside ``data`` (MISSING if it is not there)."""
    if path == "<root>":
        return data
    node = data
    for index, key in _TOKEN.findall(path):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return MISSING
            node = node[int(index)]
        else:
            if not isinstance(node, dict) or key not in node:
                return MISSING
            node = node[key]
    return node


def expected_snippet(data: Any, path: str, shows: str | None) -> str:
    if shows is not None:
        return shows
    value = value_at(data, path)
    assert value is not MISSING, f"case needs an explicit 'shows': nothing at {path}"
    return json.dumps(value)


def check_error(exc: PlanError, data: Any, path: str, shows: str | None) -> None:
    assert path in exc.paths, f"expected path {path!r}, got {exc.paths}: {exc}"
    snippet = expected_snippet(data, path, shows)
    assert snippet in str(exc), f"expected {snippet!r} in the message: {exc}"


def case(ident: str, data: Any, path: str, shows: str | None = None, *,
         bug: str | None = None) -> Any:
    """One parametrize case; ``bug`` marks a known gap (strict xfail, reported)."""
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(data, path, shows, id=ident, marks=marks)


H: J = {"cniVersion": "1.0.0", "name": "net"}


def plugin(kind: str, **fields: Any) -> J:
    return {**H, "type": kind, **fields}


def macvlan(**fields: Any) -> J:
    return plugin("macvlan", **{"master": "eth0", **fields})


def ipam(**fields: Any) -> J:
    return macvlan(ipam=fields)


def hl(**fields: Any) -> J:
    return ipam(type="host-local", **fields)


def rng(**fields: Any) -> J:
    """host-local with one range set holding one range."""
    return hl(ranges=[[fields]])


def static(**fields: Any) -> J:
    return ipam(type="static", **fields)


def wa(**fields: Any) -> J:
    return ipam(type="whereabouts", **fields)


def conflist(*plugins: Any, **top: Any) -> J:
    return {**H, **top, "plugins": list(plugins)}


M0: J = {"type": "macvlan", "master": "eth0"}
V4 = "10.1.0.0/24"

# ---------------------------------------------------------------------------------------
# 1. CNI JSON text
# ---------------------------------------------------------------------------------------

CNI_CASES = [
    # malformed JSON and non-objects
    case("json-empty", "", "<root>", '""'),
    case("json-unclosed", '{"cniVersion": "1.0.0"', "<root>", "malformed JSON"),
    case("json-trailing-comma", '{"cniVersion": "1.0.0", "type": "macvlan",}', "<root>",
         "malformed JSON"),
    case("json-single-quotes", "{'cniVersion': '1.0.0'}", "<root>", "malformed JSON"),
    case("json-trailing-data", '{"cniVersion": "1.0.0", "type": "macvlan"} x', "<root>",
         "Extra data"),
    case("json-yaml-not-json", "cniVersion: 1.0.0\ntype: macvlan", "<root>", "malformed JSON"),
    case("nonobject-list", "[1, 2]", "<root>", "[1, 2]"),
    case("nonobject-empty-list", "[]", "<root>", "[]"),
    case("nonobject-string", '"macvlan"', "<root>", '"macvlan"'),
    case("nonobject-number", "1500", "<root>", "1500"),
    case("nonobject-null", "null", "<root>", "null"),
    case("nonobject-bool", "true", "<root>", "true"),
    case("nonobject-nan", "NaN", "<root>", "NaN"),
    # header: cniVersion
    case("cniversion-missing", {"name": "n", "type": "macvlan"}, "cniVersion", "missing"),
    case("cniversion-missing-conflist", {"name": "n", "plugins": [M0]}, "cniVersion",
         "missing"),
    case("cniversion-0.2.0", plugin("macvlan", cniVersion="0.2.0"), "cniVersion"),
    case("cniversion-0.1.0-conflist", conflist(M0, cniVersion="0.1.0"), "cniVersion"),
    case("cniversion-short", plugin("macvlan", cniVersion="1.0"), "cniVersion"),
    case("cniversion-v-prefix", plugin("macvlan", cniVersion="v1.0.0"), "cniVersion"),
    case("cniversion-empty", plugin("macvlan", cniVersion=""), "cniVersion"),
    case("cniversion-number", plugin("macvlan", cniVersion=1.0), "cniVersion"),
    case("cniversion-null", plugin("macvlan", cniVersion=None), "cniVersion"),
    case("cniversion-future", plugin("macvlan", cniVersion="2.0.0"), "cniVersion"),
    # header: name (CNI: ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$)
    case("name-leading-dash", plugin("macvlan", name="-net"), "name"),
    case("name-leading-dot", plugin("macvlan", name=".net"), "name"),
    case("name-leading-underscore", plugin("macvlan", name="_net"), "name"),
    case("name-empty", plugin("macvlan", name=""), "name"),
    case("name-space", plugin("macvlan", name="my net"), "name"),
    case("name-slash", plugin("macvlan", name="a/b"), "name"),
    case("name-colon", plugin("macvlan", name="a:b"), "name"),
    case("name-non-ascii", plugin("macvlan", name="réseau"), "name"),
    case("name-number", plugin("macvlan", name=5), "name"),
    case("name-conflist-bad", conflist(M0, name="bad name"), "name"),
    case("name-conflist-missing", {"cniVersion": "1.0.0", "plugins": [M0]}, "name",
         "needs a name"),
    # plugin type
    case("type-missing", {**H, "master": "eth0"}, "type", "missing"),
    case("type-number", plugin("macvlan", type=5), "type"),
    case("type-null", plugin("macvlan", type=None), "type"),
    case("type-empty", plugin(""), "type"),
    case("type-path", plugin("../macvlan"), "type"),
    case("type-near-miss-swap", plugin("macvlna"), "type", "did you mean 'macvlan'?"),
    case("type-near-miss-case", plugin("Bridge"), "type", "did you mean 'bridge'?"),
    case("type-near-miss-chained", conflist(M0, {"type": "tunning"}), "plugins[1].type",
         "did you mean 'tuning'?"),
    # conflist structure
    case("conflist-empty-plugins", conflist(), "plugins"),
    case("conflist-plugins-object", {**H, "plugins": {"type": "macvlan"}}, "plugins"),
    case("conflist-plugins-null", {**H, "plugins": None}, "plugins"),
    case("conflist-plugin-number", conflist(5), "plugins[0]"),
    case("conflist-plugin-null", conflist(M0, None), "plugins[1]"),
    case("conflist-plugin-no-type", conflist({"master": "eth0"}), "plugins[0].type", "missing"),
    case("conflist-mode", conflist({**M0, "mode": "source"}), "plugins[0].mode"),
    case("conflist-tuning-mtu-string", conflist(M0, {"type": "tuning", "mtu": "1500"}),
         "plugins[1].mtu"),
    case("conflist-portmap-bit", conflist(M0, {"type": "portmap", "markMasqBit": 32}),
         "plugins[1].markMasqBit"),
    case("conflist-bandwidth-pair", conflist(M0, {"type": "tuning"},
                                             {"type": "bandwidth", "egressRate": 1000}),
         "plugins[2].egressBurst", "egressBurst"),
    case("conflist-caps", conflist(M0, {"type": "portmap",
                                        "capabilities": {"portMappings": "yes"}}),
         "plugins[1].capabilities.portMappings"),
    case("conflist-ipam-range",
         conflist({**M0, "ipam": {"type": "host-local", "ranges": [
             [{"subnet": V4, "rangeStart": "10.1.1.5"}]]}}),
         "plugins[0].ipam.ranges[0][0].rangeStart"),
    case("conflist-disablecheck-string", conflist(M0, disableCheck="true"), "disableCheck"),
    case("conflist-disablegc-number", conflist(M0, disableGC=1), "disableGC"),
    # macvlan (containernetworking/plugins v1.9: bridge|private|vepa|passthru)
    case("macvlan-mode-source", macvlan(mode="source"), "mode"),
    case("macvlan-mode-case", macvlan(mode="Bridge"), "mode"),
    case("macvlan-mode-empty", macvlan(mode=""), "mode"),
    case("macvlan-mode-number", macvlan(mode=1), "mode"),
    case("macvlan-mtu-67", macvlan(mtu=67), "mtu"),
    case("macvlan-mtu-65536", macvlan(mtu=65536), "mtu"),
    case("macvlan-mtu-negative", macvlan(mtu=-1), "mtu"),
    case("macvlan-mtu-string", macvlan(mtu="1500"), "mtu"),
    case("macvlan-mtu-float", macvlan(mtu=1500.0), "mtu"),
    case("macvlan-mtu-bool", macvlan(mtu=True), "mtu"),
    case("macvlan-master-16", macvlan(master="enp0s31f6x12345x"), "master"),
    case("macvlan-master-slash", macvlan(master="eth/0"), "master"),
    case("macvlan-master-space", macvlan(master="eth 0"), "master"),
    case("macvlan-master-tab", macvlan(master="eth\t0"), "master"),
    case("macvlan-master-newline", macvlan(master="eth0\n"), "master"),
    case("macvlan-master-colon", macvlan(master="eth0:1"), "master"),
    case("macvlan-master-dot", macvlan(master="."), "master"),
    case("macvlan-master-dotdot", macvlan(master=".."), "master"),
    case("macvlan-master-empty", macvlan(master=""), "master"),
    case("macvlan-master-multibyte", macvlan(master="é" * 8), "master"),
    case("macvlan-master-number", macvlan(master=0), "master"),
    case("macvlan-linkincontainer-string", macvlan(linkInContainer="true"), "linkInContainer"),
    case("macvlan-mac", macvlan(mac="02:00:5e:10:00"), "mac"),
    case("macvlan-bcqueuelen-string", macvlan(bcqueuelen="100"), "bcqueuelen"),
    # ipvlan
    case("ipvlan-mode-l4", plugin("ipvlan", mode="l4"), "mode"),
    case("ipvlan-mode-case", plugin("ipvlan", mode="L3"), "mode"),
    case("ipvlan-mode-macvlan", plugin("ipvlan", mode="bridge"), "mode"),
    case("ipvlan-master-16", plugin("ipvlan", master="eth0.100.200.300"), "master"),
    case("ipvlan-mtu-40", plugin("ipvlan", mtu=40), "mtu"),
    case("ipvlan-linkincontainer-number", plugin("ipvlan", linkInContainer=1),
         "linkInContainer"),
    # bridge
    case("bridge-name-16", plugin("bridge", bridge="br-0123456789abc"), "bridge"),
    case("bridge-name-slash", plugin("bridge", bridge="br/0"), "bridge"),
    case("bridge-vlan-4095", plugin("bridge", vlan=4095), "vlan"),
    case("bridge-vlan-negative", plugin("bridge", vlan=-1), "vlan"),
    case("bridge-vlan-string", plugin("bridge", vlan="10"), "vlan"),
    case("bridge-isgateway-string", plugin("bridge", isGateway="true"), "isGateway"),
    case("bridge-isdefaultgateway-number", plugin("bridge", isDefaultGateway=1),
         "isDefaultGateway"),
    case("bridge-ipmasq-string", plugin("bridge", ipMasq="yes"), "ipMasq"),
    case("bridge-hairpin-string", plugin("bridge", hairpinMode="false"), "hairpinMode"),
    case("bridge-masq-backend", plugin("bridge", ipMasqBackend="ipvs"), "ipMasqBackend"),
    case("bridge-mtu-65536", plugin("bridge", mtu=65536), "mtu"),
    case("bridge-trunk-id-0", plugin("bridge", vlanTrunk=[{"id": 0}]), "vlanTrunk[0].id"),
    case("bridge-trunk-max-4095", plugin("bridge", vlanTrunk=[{"minID": 1, "maxID": 4095}]),
         "vlanTrunk[0].maxID"),
    case("bridge-trunk-min-above-max",
         plugin("bridge", vlanTrunk=[{"id": 5}, {"minID": 20, "maxID": 10}]),
         "vlanTrunk[1].minID"),
    case("bridge-trunk-object", plugin("bridge", vlanTrunk={"id": 5}), "vlanTrunk"),
    # host-device: exactly one of device | hwaddr | kernelpath | pciBusID
    case("hostdev-no-selector", plugin("host-device"), "device", "none"),
    case("hostdev-device-and-pci",
         plugin("host-device", device="eth1", pciBusID="0000:3b:00.1"), "pciBusID",
         '"pciBusID": "0000:3b:00.1"'),
    case("hostdev-hwaddr-and-kernelpath",
         plugin("host-device", hwaddr="02:00:00:00:00:01",
                kernelpath="/sys/devices/pci0000:00/0000:00:03.0/net/eth1"), "kernelpath",
         "hwaddr, kernelpath"),
    case("hostdev-device-empty", plugin("host-device", device=""), "device"),
    case("hostdev-device-16", plugin("host-device", device="enp59s0f1np1v123"), "device"),
    case("hostdev-hwaddr", plugin("host-device", hwaddr="zz:zz:zz:zz:zz:zz"), "hwaddr"),
    case("hostdev-pci", plugin("host-device", pciBusID="3b:00"), "pciBusID"),
    # sriov: vlan 0-4095, vlanQoS 0-7, spoofchk/trust on|off, link_state, rates
    case("sriov-vlan-4096", plugin("sriov", vlan=4096), "vlan"),
    case("sriov-vlan-negative", plugin("sriov", vlan=-1), "vlan"),
    case("sriov-vlan-string", plugin("sriov", vlan="100"), "vlan"),
    case("sriov-qos-8", plugin("sriov", vlan=100, vlanQoS=8), "vlanQoS"),
    case("sriov-qos-negative", plugin("sriov", vlan=100, vlanQoS=-1), "vlanQoS"),
    case("sriov-qos-without-vlan", plugin("sriov", vlanQoS=3), "vlanQoS"),
    case("sriov-proto", plugin("sriov", vlan=100, vlanProto="qinq"), "vlanProto"),
    case("sriov-proto-without-vlan", plugin("sriov", vlanProto="802.1ad"), "vlanProto"),
    case("sriov-spoofchk-yes", plugin("sriov", spoofchk="yes"), "spoofchk"),
    case("sriov-spoofchk-bool", plugin("sriov", spoofchk=True), "spoofchk"),
    case("sriov-trust-bool", plugin("sriov", trust=False), "trust"),
    case("sriov-trust-case", plugin("sriov", trust="ON"), "trust"),
    case("sriov-link-state", plugin("sriov", link_state="up"), "link_state"),
    case("sriov-min-rate-negative", plugin("sriov", min_tx_rate=-1), "min_tx_rate"),
    case("sriov-max-rate-string", plugin("sriov", max_tx_rate="100"), "max_tx_rate"),
    case("sriov-min-above-max", plugin("sriov", min_tx_rate=200, max_tx_rate=100),
         "min_tx_rate"),
    case("sriov-deviceid", plugin("sriov", deviceID="eth3"), "deviceID"),
    case("sriov-mac", plugin("sriov", mac="02-00-00"), "mac"),
    # vlan plugin
    case("vlan-id-4095", plugin("vlan", master="eth0", vlanId=4095), "vlanId"),
    case("vlan-id-negative", plugin("vlan", master="eth0", vlanId=-1), "vlanId"),
    case("vlan-id-string", plugin("vlan", master="eth0", vlanId="100"), "vlanId"),
    case("vlan-master-16", plugin("vlan", master="bond0.4094.40941", vlanId=5), "master"),
    case("vlan-mtu", plugin("vlan", master="eth0", vlanId=5, mtu=65536), "mtu"),
    # chained: tuning, portmap, bandwidth, sbr
    case("tuning-mtu", plugin("tuning", mtu=10), "mtu"),
    case("tuning-mac", plugin("tuning", mac="00:11"), "mac"),
    case("tuning-txqlen", plugin("tuning", txQLen=-1), "txQLen"),
    case("tuning-promisc-string", plugin("tuning", promisc="yes"), "promisc"),
    case("tuning-sysctl-number", plugin("tuning", sysctl={"net.ipv4.conf.IFNAME.arp_filter": 1}),
         "sysctl.net.ipv4.conf.IFNAME.arp_filter", "got 1"),
    case("portmap-bit-32", plugin("portmap", markMasqBit=32), "markMasqBit"),
    case("portmap-bit-negative", plugin("portmap", markMasqBit=-1), "markMasqBit"),
    case("portmap-backend", plugin("portmap", backend="ipvs"), "backend"),
    case("portmap-snat-number", plugin("portmap", snat=1), "snat"),
    case("portmap-conditions-string", plugin("portmap", conditionsV4="-s 10.0.0.0/8"),
         "conditionsV4"),
    case("bandwidth-ingress-no-burst", plugin("bandwidth", ingressRate=1000), "ingressBurst",
         "ingressBurst is missing"),
    case("bandwidth-egress-no-rate", plugin("bandwidth", egressBurst=1000), "egressRate",
         "egressRate is missing"),
    case("bandwidth-negative", plugin("bandwidth", ingressRate=-1, ingressBurst=10),
         "ingressRate"),
    case("bandwidth-string", plugin("bandwidth", egressRate=10, egressBurst="10"),
         "egressBurst"),
    case("sbr-table-string", plugin("sbr", table="100"), "table"),
    # capabilities: an object of booleans
    case("caps-string-true", macvlan(capabilities={"ips": "true"}), "capabilities.ips"),
    case("caps-number", macvlan(capabilities={"mac": 1}), "capabilities.mac"),
    case("caps-list", macvlan(capabilities=["ips"]), "capabilities"),
    case("caps-empty-name", macvlan(capabilities={"": True}), "capabilities.",
         "empty capability name"),
    case("caps-raw-plugin", plugin("ovn-k8s-cni-overlay", capabilities={"x": "y"}),
         "capabilities.x"),
    # host-local: legacy single range
    case("hl-subnet-prefix-33", hl(subnet="10.1.0.0/33"), "ipam.subnet"),
    case("hl-subnet-no-prefix", hl(subnet="10.1.0.0"), "ipam.subnet"),
    case("hl-subnet-garbage", hl(subnet="bogus/24"), "ipam.subnet"),
    case("hl-subnet-number", hl(subnet=10), "ipam.subnet"),
    case("hl-host-bits-v4", hl(subnet="10.1.0.1/24"), "ipam.subnet"),
    case("hl-host-bits-v6", hl(subnet="fd00::1/64"), "ipam.subnet"),
    case("hl-slash31", hl(subnet="10.1.0.0/31"), "ipam.subnet"),
    case("hl-slash32", hl(subnet="10.1.0.7/32"), "ipam.subnet"),
    case("hl-slash127", hl(subnet="fd00::/127"), "ipam.subnet"),
    case("hl-start-outside", hl(subnet=V4, rangeStart="10.1.1.10"), "ipam.rangeStart"),
    case("hl-end-outside", hl(subnet=V4, rangeEnd="10.0.255.255"), "ipam.rangeEnd"),
    case("hl-start-after-end", hl(subnet=V4, rangeStart="10.1.0.20", rangeEnd="10.1.0.10"),
         "ipam.rangeStart"),
    case("hl-start-garbage", hl(subnet=V4, rangeStart="10.1.0"), "ipam.rangeStart"),
    case("hl-start-wrong-family", hl(subnet=V4, rangeStart="fd00::5"), "ipam.rangeStart"),
    case("hl-gateway-outside", hl(subnet=V4, gateway="10.1.1.1"), "ipam.gateway"),
    case("hl-gateway-wrong-family", hl(subnet=V4, gateway="fd00::1"), "ipam.gateway"),
    case("hl-start-without-subnet", hl(rangeStart="10.1.0.5"), "ipam.subnet", "rangeStart"),
    case("hl-gateway-without-subnet", hl(gateway="10.1.0.1"), "ipam.subnet", "gateway"),
    case("hl-nothing", hl(), "ipam.ranges", "no address range"),
    case("hl-empty-pool-start", hl(subnet=V4, rangeStart="10.1.0.255"), "ipam.rangeStart"),
    case("hl-empty-pool-end", hl(subnet=V4, rangeEnd="10.1.0.0"), "ipam.rangeEnd"),
    # host-local: range sets
    case("hl-ranges-start-outside", rng(subnet=V4, rangeStart="10.1.1.5"),
         "ipam.ranges[0][0].rangeStart"),
    case("hl-ranges-end-outside", rng(subnet=V4, rangeEnd="10.2.0.5"),
         "ipam.ranges[0][0].rangeEnd"),
    case("hl-ranges-start-after-end", rng(subnet=V4, rangeStart="10.1.0.9", rangeEnd="10.1.0.3"),
         "ipam.ranges[0][0].rangeStart"),
    case("hl-ranges-gateway-outside", rng(subnet=V4, gateway="10.9.0.1"),
         "ipam.ranges[0][0].gateway"),
    case("hl-ranges-gateway-wrong-family", rng(subnet=V4, gateway="fd00::1"),
         "ipam.ranges[0][0].gateway"),
    case("hl-ranges-host-bits", rng(subnet="10.1.0.128/24"), "ipam.ranges[0][0].subnet"),
    case("hl-ranges-slash31", rng(subnet="10.1.0.0/31"), "ipam.ranges[0][0].subnet"),
    case("hl-ranges-v6-end-wrong-family",
         hl(ranges=[[{"subnet": V4}], [{"subnet": "fd00:1::/64", "rangeEnd": "10.1.0.9"}]]),
         "ipam.ranges[1][0].rangeEnd"),
    case("hl-ranges-mixed-families", hl(ranges=[[{"subnet": V4}, {"subnet": "fd00::/64"}]]),
         "ipam.ranges[0]", '"fd00::/64"'),
    case("hl-ranges-overlap-in-set",
         hl(ranges=[[{"subnet": "10.1.0.0/16"}, {"subnet": "10.1.4.0/24"}]]),
         "ipam.ranges[0][1].subnet"),
    case("hl-ranges-sets-overlap",
         hl(ranges=[[{"subnet": "10.1.0.0/24"}], [{"subnet": "10.1.0.128/25"}]]),
         "ipam.ranges[1][0].subnet"),
    case("hl-ranges-sets-overlap-v6",
         hl(ranges=[[{"subnet": "fd00::/64"}], [{"subnet": V4}], [{"subnet": "fd00::/48"}]]),
         "ipam.ranges[2][0].subnet"),
    case("hl-legacy-and-ranges-overlap", hl(subnet=V4, ranges=[[{"subnet": V4}]]),
         "ipam.ranges[0][0].subnet"),
    case("hl-ranges-empty-set", hl(ranges=[[]]), "ipam.ranges[0]"),
    case("hl-ranges-second-set-empty", hl(ranges=[[{"subnet": V4}], []]), "ipam.ranges[1]"),
    case("hl-ranges-empty", hl(ranges=[]), "ipam.ranges"),
    case("hl-ranges-set-not-list", hl(ranges=[{"subnet": V4}]), "ipam.ranges[0]"),
    case("hl-ranges-no-subnet", hl(ranges=[[{"rangeStart": "10.1.0.1"}]]),
         "ipam.ranges[0][0].subnet", "missing"),
    case("hl-routes-dst-no-prefix", hl(subnet=V4, routes=[{"dst": "0.0.0.0"}]),
         "ipam.routes[0].dst"),
    case("hl-routes-dst-missing", hl(subnet=V4, routes=[{"gw": "10.1.0.1"}]),
         "ipam.routes[0].dst", "missing"),
    case("hl-routes-gw-family", hl(subnet=V4, routes=[{"dst": "0.0.0.0/0"},
                                                      {"dst": "::/0", "gw": "10.1.0.1"}]),
         "ipam.routes[1].gw"),
    case("hl-routes-gw-garbage", hl(subnet=V4, routes=[{"dst": "0.0.0.0/0", "gw": "gw"}]),
         "ipam.routes[0].gw"),
    case("hl-routes-string", hl(subnet=V4, routes="0.0.0.0/0"), "ipam.routes"),
    case("hl-datadir-number", hl(subnet=V4, dataDir=1), "ipam.dataDir"),
    case("ipam-list", macvlan(ipam=[]), "ipam"),
    case("ipam-type-number", ipam(type=5), "ipam.type"),
    case("ipam-type-near-miss", ipam(type="host_local", subnet=V4), "ipam.type",
         "did you mean 'host-local'?"),
    case("ipam-type-near-miss-typo", ipam(type="whereabout", range=V4), "ipam.type",
         "did you mean 'whereabouts'?"),
    # static
    case("static-address-no-prefix", static(addresses=[{"address": "10.1.0.10"}]),
         "ipam.addresses[0].address"),
    case("static-address-garbage", static(addresses=[{"address": "10.1.0.300/24"}]),
         "ipam.addresses[0].address"),
    case("static-address-prefix-33", static(addresses=[{"address": "10.1.0.3/33"}]),
         "ipam.addresses[0].address"),
    case("static-address-missing", static(addresses=[{"gateway": "10.1.0.1"}]),
         "ipam.addresses[0].address", "missing"),
    case("static-gateway-family",
         static(addresses=[{"address": "10.1.0.3/24"},
                           {"address": "fd00::3/64", "gateway": "10.1.0.1"}]),
         "ipam.addresses[1].gateway"),
    case("static-gateway-off-link",
         static(addresses=[{"address": "10.1.0.3/24", "gateway": "10.1.1.1"}]),
         "ipam.addresses[0].gateway"),
    case("static-gateway-off-link-v6",
         static(addresses=[{"address": "fd00::3/64", "gateway": "fd01::1"}]),
         "ipam.addresses[0].gateway"),
    case("static-gateway-garbage",
         static(addresses=[{"address": "10.1.0.3/24", "gateway": "router"}]),
         "ipam.addresses[0].gateway"),
    case("static-routes-dst", static(routes=[{"dst": "999.0.0.0/8"}]), "ipam.routes[0].dst"),
    case("static-routes-gw-family", static(routes=[{"dst": "fd00::/64", "gw": "10.1.0.1"}]),
         "ipam.routes[0].gw"),
    case("static-dns-nameserver", static(dns={"nameservers": ["10.0.0.53", "dns.local"]}),
         "ipam.dns.nameservers[1]"),
    case("static-dns-nameservers-string", static(dns={"nameservers": "10.0.0.53"}),
         "ipam.dns.nameservers"),
    case("static-dns-domain-number", static(dns={"domain": 5}), "ipam.dns.domain"),
    case("static-addresses-string", static(addresses="10.1.0.3/24"), "ipam.addresses"),
    # dhcp
    case("dhcp-socket-number", ipam(type="dhcp", daemonSocketPath=5), "ipam.daemonSocketPath"),
    # whereabouts
    case("wa-range-no-prefix", wa(range="10.1.0.0"), "ipam.range"),
    case("wa-range-garbage", wa(range="bogus/24"), "ipam.range"),
    case("wa-range-prefix-33", wa(range="10.1.0.0/33"), "ipam.range"),
    case("wa-range-missing", wa(), "ipam.range", "no range"),
    case("wa-start-outside", wa(range=V4, range_start="10.1.1.5"), "ipam.range_start"),
    case("wa-start-wrong-family", wa(range=V4, range_start="fd00::5"), "ipam.range_start"),
    case("wa-end-outside", wa(range=V4, range_end="10.1.1.10"), "ipam.range_end"),
    case("wa-start-after-end", wa(range=V4, range_start="10.1.0.50", range_end="10.1.0.10"),
         "ipam.range_start"),
    case("wa-gateway-outside", wa(range=V4, gateway="10.1.1.1"), "ipam.gateway"),
    case("wa-exclude-garbage", wa(range=V4, exclude=["10.1.0.0/28", "bogus"]),
         "ipam.exclude[1]"),
    case("wa-exclude-no-prefix", wa(range=V4, exclude=["10.1.0.5"]), "ipam.exclude[0]"),
    case("wa-exclude-family", wa(range=V4, exclude=["fd00::/64"]), "ipam.exclude[0]"),
    case("wa-ipranges-range", wa(ipRanges=[{"range": "x"}]), "ipam.ipRanges[0].range"),
    case("wa-ipranges-start-outside",
         wa(ipRanges=[{"range": V4}, {"range": "fd00::/64", "range_start": "fd01::1"}]),
         "ipam.ipRanges[1].range_start"),
    case("wa-overlapping-string", wa(range=V4, enable_overlapping_ranges="true"),
         "ipam.enable_overlapping_ranges"),
    case("wa-range-first-after-last", wa(range="10.1.0.50-10.1.0.10/24"), "ipam.range"),
    case("wa-range-last-outside", wa(range="10.1.0.5-10.2.0.10/24"), "ipam.range"),
    case("wa-range-mixed-family", wa(range="10.1.0.5-fd00::1/24"), "ipam.range"),
]


@pytest.mark.parametrize(("data", "path", "shows"), CNI_CASES)
def test_parse_cni_config_refuses(data: Any, path: str, shows: str | None) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(PlanError) as err:
        parse_cni_config(text)
    check_error(err.value, data, path, shows)


# ---------------------------------------------------------------------------------------
# 2. Typed component args (NetworkArgs.typed): also refuse unknown keys
# ---------------------------------------------------------------------------------------

HL24: J = {"type": "host-local", "subnet": V4}


def targs(ident: str, cls: type[NadFields], data: J, path: str, shows: str | None = None, *,
          bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(cls, data, path, shows, id=ident, marks=marks)


TYPED_CASES = [
    targs("typo-mastr", MacvlanNetworkArgs, {"mastr": "eth0"}, "mastr"),
    targs("typo-camel-cniversion", MacvlanNetworkArgs, {"cniVersion": "1.0.0"}, "cniVersion"),
    targs("typo-ipam-rangestrt", MacvlanNetworkArgs,
          {"master": "eth0", "ipam": {**HL24, "rangeStrt": "10.1.0.5"}}, "ipam.rangeStrt"),
    targs("typo-ipam-ranges-rangeen", MacvlanNetworkArgs,
          {"ipam": {"type": "host-local", "ranges": [[{"subnet": V4, "rangeEn": "10.1.0.9"}]]}},
          "ipam.ranges[0][0].rangeEn"),
    targs("typo-static-gw", MacvlanNetworkArgs,
          {"ipam": {"type": "static", "addresses": [{"address": "10.1.0.3/24",
                                                     "gw": "10.1.0.1"}]}},
          "ipam.addresses[0].gw"),
    targs("typo-route-gateway", MacvlanNetworkArgs,
          {"ipam": {**HL24, "routes": [{"dst": "0.0.0.0/0", "gateway": "10.1.0.1"}]}},
          "ipam.routes[0].gateway"),
    targs("typo-dns-nameserver", MacvlanNetworkArgs,
          {"ipam": {"type": "static", "dns": {"nameserver": ["10.0.0.53"]}}},
          "ipam.dns.nameserver"),
    targs("typo-chain-tuning", MacvlanNetworkArgs, {"chain": [{"type": "tuning", "mtuu": 9000}]},
          "chain[0].mtuu"),
    targs("typo-bridge-isgatway", BridgeNetworkArgs, {"isGatway": True}, "isGatway"),
    targs("typo-vlan-vlanid", VlanNetworkArgs, {"master": "eth0", "vlanid": 5}, "vlanid"),
    targs("typo-cni-confg", CniNetworkArgs, {"confg": {}}, "confg"),
    targs("macvlan-mode-source", MacvlanNetworkArgs, {"mode": "source"}, "mode"),
    targs("macvlan-mtu-string", MacvlanNetworkArgs, {"mtu": "9000"}, "mtu"),
    targs("macvlan-linkincontainer", MacvlanNetworkArgs, {"link_in_container": "yes"},
          "link_in_container"),
    targs("macvlan-master-slash", MacvlanNetworkArgs, {"master": "eth/0"}, "master"),
    targs("macvlan-caps", MacvlanNetworkArgs, {"capabilities": {"ips": "yes"}},
          "capabilities.ips"),
    targs("macvlan-ipam-start-outside", MacvlanNetworkArgs,
          {"ipam": {"type": "host-local", "ranges": [[{"subnet": V4,
                                                       "rangeStart": "10.1.1.5"}]]}},
          "ipam.ranges[0][0].rangeStart"),
    targs("macvlan-chain-mtu", MacvlanNetworkArgs,
          {"chain": [{"type": "tuning"}, {"type": "tuning", "mtu": 1}]}, "chain[1].mtu"),
    targs("macvlan-chain-no-cni-name", MacvlanNetworkArgs,
          {"cni_name": "", "chain": [{"type": "tuning"}]}, "cni_name", "needs a name"),
    targs("name-underscore", MacvlanNetworkArgs, {"name": "Bad_Name"}, "name"),
    targs("name-leading-dash", MacvlanNetworkArgs, {"name": "-net"}, "name"),
    targs("name-too-long", MacvlanNetworkArgs, {"name": "n" * 254}, "name", "nnnnnnnn"),
    targs("namespace-upper", MacvlanNetworkArgs, {"namespace": "Kube_System"}, "namespace"),
    targs("namespace-dot", MacvlanNetworkArgs, {"namespace": "a.b"}, "namespace"),
    targs("namespace-64", MacvlanNetworkArgs, {"namespace": "a" * 64}, "namespace"),
    targs("namespace-empty", MacvlanNetworkArgs, {"namespace": ""}, "namespace"),
    targs("resource-no-domain", SriovNetworkArgs, {"resource_name": "sriov"}, "resource_name"),
    targs("resource-empty-name", SriovNetworkArgs, {"resource_name": "intel.com/"},
          "resource_name"),
    targs("resource-empty-domain", SriovNetworkArgs, {"resource_name": "/sriov"},
          "resource_name"),
    targs("resource-two-slashes", SriovNetworkArgs, {"resource_name": "intel.com/a/b"},
          "resource_name"),
    targs("cni-name-dash", MacvlanNetworkArgs, {"cni_name": "-x"}, "cni_name"),
    targs("cni-name-space", MacvlanNetworkArgs, {"cni_name": "a b"}, "cni_name"),
    targs("cni-version", MacvlanNetworkArgs, {"cni_version": "0.2.0"}, "cni_version"),
    targs("type-mismatch", MacvlanNetworkArgs, {"type": "ipvlan"}, "type"),
    targs("labels-number", MacvlanNetworkArgs, {"labels": {"tier": 1}}, "labels.tier"),
    targs("ipvlan-mode", IpvlanNetworkArgs, {"mode": "l4"}, "mode"),
    targs("ipvlan-master-16", IpvlanNetworkArgs, {"master": "a" * 16}, "master"),
    targs("bridge-vlan", BridgeNetworkArgs, {"vlan": 4095}, "vlan"),
    targs("bridge-isgateway-string", BridgeNetworkArgs, {"is_gateway": "true"}, "is_gateway"),
    targs("bridge-name-space", BridgeNetworkArgs, {"bridge": "br 0"}, "bridge"),
    targs("bridge-trunk-id", BridgeNetworkArgs, {"vlan_trunk": [{"id": 5000}]},
          "vlan_trunk[0].id"),
    targs("hostdev-none", HostDeviceNetworkArgs, {}, "device", "none"),
    targs("hostdev-pci-garbage", HostDeviceNetworkArgs, {"pci_bus_id": "zz"}, "pci_bus_id"),
    targs("hostdev-two-selectors", HostDeviceNetworkArgs,
          {"device": "eth1", "pci_bus_id": "0000:3b:00.1"}, "pci_bus_id", '"0000:3b:00.1"'),
    targs("hostdev-hwaddr", HostDeviceNetworkArgs, {"hwaddr": "02:00"}, "hwaddr"),
    targs("sriov-vlan", SriovNetworkArgs, {"vlan": 4096}, "vlan"),
    targs("sriov-qos", SriovNetworkArgs, {"vlan": 10, "vlan_qos": 9}, "vlan_qos"),
    targs("sriov-spoofchk-bool", SriovNetworkArgs, {"spoofchk": True}, "spoofchk"),
    targs("sriov-trust", SriovNetworkArgs, {"trust": "yes"}, "trust"),
    targs("sriov-link-state", SriovNetworkArgs, {"link_state": "up"}, "link_state"),
    targs("sriov-rates", SriovNetworkArgs, {"min_tx_rate": 500, "max_tx_rate": 100},
          "min_tx_rate"),
    targs("vlan-id", VlanNetworkArgs, {"master": "eth0", "vlan_id": 5000}, "vlan_id"),
    targs("ipam-snake-start-after-end", MacvlanNetworkArgs,
          {"ipam": {**HL24, "range_start": "10.1.0.9", "range_end": "10.1.0.2"}},
          "ipam.range_start", '"10.1.0.9"'),
    targs("cni-config-mode", CniNetworkArgs,
          {"config": {"cniVersion": "1.0.0", "type": "macvlan", "mode": "source"}},
          "config.mode"),
    targs("cni-config-conflist", CniNetworkArgs,
          {"config": conflist(M0, {"type": "portmap", "markMasqBit": 40})},
          "config.plugins[1].markMasqBit"),
    targs("cni-config-no-version", CniNetworkArgs, {"config": {"type": "macvlan"}},
          "config.cniVersion", "missing"),
    targs("cni-config-text-not-json", CniNetworkArgs, {"config": "{'type': 1}"}, "config"),
    targs("cni-config-text-not-object", CniNetworkArgs, {"config": "[1, 2]"}, "config"),
    targs("cni-config-text-no-version", CniNetworkArgs, {"config": '{"type": "macvlan"}'},
          "config.cniVersion", "missing"),
]


@pytest.mark.parametrize("built", ["typed", "keywords"])
@pytest.mark.parametrize(("cls", "data", "path", "shows"), TYPED_CASES)
def test_typed_args_refuse(cls: type[NadFields], data: J, path: str,
                           shows: str | None, built: str) -> None:
    # ``keywords``: how Python programs build args; the error is the same PlanError
    with pytest.raises(PlanError) as err:
        args = cls.parse(data) if built == "typed" else cls(**data)
        args.cni_config("net")
    check_error(err.value, data, path, shows)


# ---------------------------------------------------------------------------------------
# 3. Components under Pulumi mocks: a refused network registers nothing
# ---------------------------------------------------------------------------------------


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recorder = RecordingMocks()
    pulumi.runtime.set_mocks(recorder, project="netplumb", stack="test", preview=False)
    yield recorder


def run_under_mocks(build: Callable[[], Any]) -> None:
    """Run ``build`` as a Pulumi program and wait for every registration it started."""

    as_test: Callable[[Callable[[], Any]], Callable[[], None]] = pulumi.runtime.test
    program = as_test(build)
    with warnings.catch_warnings():
        # args built with model_construct / mutated after validation make pydantic's
        # serializer warn; that is the point of these cases.
        warnings.simplefilter("ignore", UserWarning)
        program()


A = TypeVar("A", bound=NadFields)


def mutated(args: A, **changes: Any) -> A:
    """Valid args changed after validation (pydantic does not validate assignment)."""
    for key, value in changes.items():
        setattr(args, key, value)
    return args


def bad(**fields: Any) -> J:
    """Field values that the args' annotations do not allow (for ``model_construct``)."""
    return fields


def _ranged_ipam() -> HostLocalIpam:
    ipam = HostLocalIpam(type="host-local", ranges=[[HostLocalRange(subnet=V4)]])
    assert ipam.ranges is not None
    ipam.ranges[0][0].range_start = "10.1.9.9"
    return ipam


Build = Callable[[], NetworkAttachment[Any]]


def comp(ident: str, build: Build, path: str, shows: str, *, bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(build, path, shows, id=ident, marks=marks)


COMPONENT_CASES = [
    comp("macvlan-mode-source",
         lambda: MacvlanNetwork("n", MacvlanNetworkArgs.model_construct(**bad(master="eth0",
                                                                              mode="source"))),
         "mode", '"source"'),
    comp("macvlan-mtu-mutated",
         lambda: MacvlanNetwork("n", mutated(MacvlanNetworkArgs(master="eth0"), mtu=70000)),
         "mtu", "70000"),
    comp("macvlan-typo-nested",
         lambda: MacvlanNetwork("n", MacvlanNetworkArgs.model_construct(
             **bad(master="eth0", ipam={**HL24, "rangeStrt": "10.1.0.5"}))),
         "ipam.rangeStrt", '"10.1.0.5"'),
    comp("macvlan-range-start-mutated",
         lambda: MacvlanNetwork("n", MacvlanNetworkArgs(master="eth0", ipam=_ranged_ipam())),
         "ipam.ranges[0][0].rangeStart", '"10.1.9.9"'),
    comp("macvlan-name-mutated",
         lambda: MacvlanNetwork("n", mutated(MacvlanNetworkArgs(), name="Bad_Name")),
         "name", '"Bad_Name"'),
    comp("macvlan-namespace-mutated",
         lambda: MacvlanNetwork("n", mutated(MacvlanNetworkArgs(), namespace="Prod NS")),
         "namespace", '"Prod NS"'),
    comp("macvlan-chain-tuning-mtu",
         lambda: MacvlanNetwork("n", MacvlanNetworkArgs(
             chain=[TuningPlugin.model_construct(type="tuning", mtu=1)])),
         "chain[0].mtu", "got 1"),
    comp("macvlan-chain-without-cni-name",
         lambda: MacvlanNetwork("n", MacvlanNetworkArgs(
             cni_name="", chain=[TuningPlugin(type="tuning")])),
         "cni_name", "needs a name"),
    comp("macvlan-component-name-not-k8s",
         lambda: MacvlanNetwork("Bad_Name", MacvlanNetworkArgs(master="eth0")),
         "name", '"Bad_Name"'),
    comp("ipvlan-mode",
         lambda: IpvlanNetwork("n", IpvlanNetworkArgs.model_construct(**bad(mode="l4"))),
         "mode", '"l4"'),
    comp("bridge-vlan",
         lambda: BridgeNetwork("n", mutated(BridgeNetworkArgs(bridge="br0"), vlan=4095)),
         "vlan", "4095"),
    comp("hostdev-none",
         lambda: HostDeviceNetwork("n", HostDeviceNetworkArgs.model_construct()),
         "device", "none"),
    comp("hostdev-two",
         lambda: HostDeviceNetwork("n", HostDeviceNetworkArgs.model_construct(
             device="eth1", pci_bus_id="0000:3b:00.1")),
         "pciBusID", "device, pciBusID"),
    comp("sriov-vlan",
         lambda: SriovNetwork("n", mutated(SriovNetworkArgs(), vlan=5000)), "vlan", "5000"),
    comp("sriov-resource-name",
         lambda: SriovNetwork("n", mutated(SriovNetworkArgs(), resource_name="sriov")),
         "resource_name", '"sriov"'),
    comp("vlan-id",
         lambda: VlanNetwork("n", VlanNetworkArgs.model_construct(master="eth0", vlan_id=4095)),
         "vlanId", "4095"),
    comp("cni-config-range",
         lambda: CniNetwork("n", CniNetworkArgs(config={**H, **M0, "ipam": {
             "type": "host-local", "ranges": [[{"subnet": V4, "rangeStart": "10.1.1.1"}]]}})),
         "config.ipam.ranges[0][0].rangeStart", '"10.1.1.1"'),
    comp("cni-config-malformed",
         lambda: CniNetwork("n", CniNetworkArgs.model_construct(
             **bad(config=["not", "an", "object"]))),
         "config", '["not", "an", "object"]'),
    comp("cni-config-mtu-string",
         lambda: CniNetwork("n", CniNetworkArgs(config={**H, **M0, "mtu": "1500"})),
         "config.mtu", '"1500"'),
]


def test_mocks_see_registrations(mocks: RecordingMocks) -> None:
    """The control: a valid network registers the component and its NAD under these mocks."""
    run_under_mocks(lambda: MacvlanNetwork("ok", MacvlanNetworkArgs(master="eth0")))
    assert [r.type for r in mocks.registered] == [
        "netplumb:index:MacvlanNetwork",
        "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"]


@pytest.mark.parametrize(("build", "path", "shows"), COMPONENT_CASES)
def test_component_refuses_and_registers_nothing(mocks: RecordingMocks, build: Build,
                                                 path: str, shows: str) -> None:
    caught: list[PlanError] = []

    def program() -> None:
        try:
            build()
        except PlanError as exc:
            caught.append(exc)

    run_under_mocks(program)
    assert caught, "no PlanError raised"
    check_error(caught[0], None, path, shows)
    assert mocks.registered == [], [r.type for r in mocks.registered]


def test_valid_network_after_refused_one_registers_only_itself(mocks: RecordingMocks) -> None:
    """A refused component leaves no half-registered parent behind for later ones."""

    def program() -> None:
        with pytest.raises(PlanError):
            MacvlanNetwork("bad", MacvlanNetworkArgs.model_construct(**bad(mode="source")))
        MacvlanNetwork("good", MacvlanNetworkArgs(master="eth0"))

    run_under_mocks(program)
    assert sorted(r.name for r in mocks.registered) == ["good", "good-nad"]


# ---------------------------------------------------------------------------------------
# 4. Stack specs (StackSpec.parse) and whole plans (build_plan)
# ---------------------------------------------------------------------------------------

AT = ("config", CONFIG_KEY)
S = f"config.{CONFIG_KEY}"


def mv(name: str | None, **fields: Any) -> J:
    return {"type": "macvlan", "name": name, "master": "eth0", **fields}


def hl_ipam(subnet: str, **fields: Any) -> J:
    return {"type": "host-local", "subnet": subnet, **fields}


def stack(ident: str, data: J, path: str, shows: str | None = None, *,
          bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(data, path, shows, id=ident, marks=marks)


def spec_value(data: J, path: str, shows: str | None) -> str:
    return expected_snippet(data, path.removeprefix(S + "."), shows)


STACK_CASES = [
    stack("network-subnet-host-bits", {"networks": [mv("a", ipam=hl_ipam("10.1.0.1/24"))]},
          f"{S}.networks[0].ipam.subnet"),
    stack("network-range-start",
          {"networks": [mv("a"), mv("b", ipam={"type": "host-local", "ranges": [
              [{"subnet": V4, "rangeStart": "10.1.1.1"}]]})]},
          f"{S}.networks[1].ipam.ranges[0][0].rangeStart"),
    stack("network-mode", {"networks": [mv("a"), mv("b", mode="source")]},
          f"{S}.networks[1].mode"),
    stack("network-typo", {"networks": [{**mv("a"), "mastr": "eth1"}]}, f"{S}.networks[0].mastr"),
    stack("network-nested-typo", {"networks": [mv("a", ipam={**HL24, "rangeStrt": "10.1.0.5"})]},
          f"{S}.networks[0].ipam.rangeStrt"),
    stack("network-unknown-type", {"networks": [{"type": "flannel", "name": "a"}]},
          f"{S}.networks[0].type", '"flannel"'),
    stack("network-type-near-miss", {"networks": [{"type": "macvlna", "name": "a"}]},
          f"{S}.networks[0].type", "did you mean 'macvlan'?"),
    stack("network-no-type", {"networks": [{"name": "a"}]}, f"{S}.networks[0].type",
          "unknown network"),
    stack("network-not-object", {"networks": ["macvlan"]}, f"{S}.networks[0]", '"macvlan"'),
    stack("networks-not-list", {"networks": {"a": mv("a")}}, f"{S}.networks", "expected a JSON"),
    stack("network-namespace", {"networks": [mv("a", namespace="Prod")]},
          f"{S}.networks[0].namespace"),
    stack("network-sriov-resource", {"networks": [{"type": "sriov", "name": "s",
                                                   "resource_name": "sriov"}]},
          f"{S}.networks[0].resource_name"),
    stack("top-typo", {"network": []}, f"{S}.network", "did you mean 'networks'?"),
    stack("multus-typo", {"multus": {"mod": "thin"}}, f"{S}.multus.mod", "did you mean 'mode'?"),
    stack("flannel-typo", {"multus": {"flannel": {"netwrk": "10.0.0.0/16"}}},
          f"{S}.multus.flannel.netwrk", "did you mean 'network'?"),
    stack("workload-typo", {"workloads": [{"name": "w", "imag": "x"}]},
          f"{S}.workloads[0].imag", "did you mean 'image'?"),
    stack("quota-typo", {"guardrails": {"quotas": [{"name": "q", "pod": 3}]}},
          f"{S}.guardrails.quotas[0].pod", "did you mean 'pods'?"),
    stack("whereabouts-camel-case", {"networks": [mv("a", ipam={
        "type": "whereabouts", "range": "10.1.0.0/24", "rangeStart": "10.1.0.5"})]},
          f"{S}.networks[0].ipam.rangeStart", "did you mean 'range_start'?"),
    stack("install-crd-string", {"install_nad_crd": "yes"}, f"{S}.install_nad_crd"),
    stack("pod-typo", {"pods": [{"name": "p", "imagee": "busybox"}]}, f"{S}.pods[0].imagee"),
    stack("pod-namespace", {"pods": [{"name": "p", "namespace": "A_B"}]},
          f"{S}.pods[0].namespace"),
    stack("pod-name", {"pods": [{"name": "P"}]}, f"{S}.pods[0].name"),
    stack("selection-interface-slash", {"pods": [{"name": "p", "networks": [
        {"name": "a", "interface": "net/1"}]}]}, f"{S}.pods[0].networks[0].interface"),
    stack("selection-interface-16", {"pods": [{"name": "p", "networks": [
        {"name": "a"}, {"name": "b", "interface": "net0123456789abc"}]}]},
          f"{S}.pods[0].networks[1].interface"),
    stack("selection-name", {"pods": [{"name": "p", "networks": [{"name": "Macvlan"}]}]},
          f"{S}.pods[0].networks[0].name"),
    stack("selection-ip-no-prefix", {"pods": [{"name": "p", "networks": [
        {"name": "a", "ips": ["10.1.0.5/24", "10.1.0.6"]}]}]},
          f"{S}.pods[0].networks[0].ips[1]"),
    stack("selection-mac", {"pods": [{"name": "p", "networks": [{"name": "a", "mac": "02:00"}]}]},
          f"{S}.pods[0].networks[0].mac"),
    stack("selection-default-route", {"pods": [{"name": "p", "networks": [
        {"name": "a", "default-route": ["gw"]}]}]},
          f"{S}.pods[0].networks[0].default-route[0]"),
    stack("selection-typo", {"pods": [{"name": "p", "networks": [
        {"name": "a", "intrface": "net1"}]}]}, f"{S}.pods[0].networks[0].intrface",
          "did you mean 'interface'?"),
]


@pytest.mark.parametrize(("data", "path", "shows"), STACK_CASES)
def test_stack_spec_refuses(data: J, path: str, shows: str | None) -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse(data, at=AT)
    assert path in err.value.paths, (path, err.value.paths)
    snippet = spec_value(data, path, shows)
    assert snippet in str(err.value), (snippet, str(err.value))


POD_AB: J = {"name": "p", "networks": [{"name": "a"}, {"name": "b"}]}

PLAN_CASES = [
    stack("duplicate-nad", {"networks": [mv("a"), mv("b"), mv("a", mode="private")]},
          f"{S}.networks[2].name", f"also at {S}.networks[0]"),
    stack("duplicate-nad-raw-config",
          {"networks": [mv("a"), {"name": "a", "config": {**H, "type": "dummy"}}]},
          f"{S}.networks[1].name", '"a"'),
    stack("overlap-same-master",
          {"networks": [mv("a", ipam=hl_ipam("10.1.0.0/24")),
                        mv("b", ipam=hl_ipam("10.1.0.0/25"))]},
          f"{S}.networks[0].ipam", "10.1.0.1-10.1.0.254"),
    stack("overlap-range-set",
          {"networks": [mv("a", ipam=hl_ipam(V4)),
                        mv("b", ipam={"type": "host-local", "ranges": [
                            [{"subnet": "fd00::/64"}],
                            [{"subnet": V4, "rangeStart": "10.1.0.100"}]]})]},
          f"{S}.networks[1].ipam.ranges[1][0]", "10.1.0.100-10.1.0.254"),
    stack("overlap-conflist",
          {"networks": [mv("a", ipam=hl_ipam(V4)),
                        mv("b", ipam=hl_ipam(V4), chain=[{"type": "tuning"}])]},
          f"{S}.networks[1].ipam", "10.1.0.1-10.1.0.254"),
    stack("overlap-raw-conflist",
          {"networks": [mv("a", ipam=hl_ipam(V4)),
                        {"name": "b", "config": conflist({**M0, "ipam": hl_ipam(V4)})}]},
          f"{S}.networks[1].config.plugins[0].ipam", "10.1.0.1-10.1.0.254"),
    stack("overlap-names-other-declaration",
          {"networks": [mv("a", ipam=hl_ipam("10.1.0.0/24")), mv("b"),
                        mv("c", ipam=hl_ipam("10.1.0.0/25"))]},
          f"{S}.networks[0].ipam", f"{S}.networks[2].ipam"),
    stack("select-missing-network", {"networks": [mv("a")], "pods": [
        {"name": "p", "networks": [{"name": "a"}, {"name": "nope"}]}]},
          f"{S}.pods[0].networks[1].name", '"nope"'),
    stack("select-other-namespace", {"networks": [mv("a")], "pods": [
        {"name": "p", "networks": [{"name": "a", "namespace": "other"}]}]},
          f"{S}.pods[0].networks[0].name", "other/a"),
    stack("duplicate-interface", {"networks": [mv("a"), mv("b")], "pods": [
        {**POD_AB, "networks": [{"name": "a", "interface": "eth1"},
                                {"name": "b", "interface": "eth1"}]}]},
          f"{S}.pods[0].networks[1].interface", '"eth1"'),
    stack("duplicate-default-interface", {"networks": [mv("a"), mv("b")], "pods": [
        {**POD_AB, "networks": [{"name": "a"}, {"name": "b", "interface": "net1"}]}]},
          f"{S}.pods[0].networks[1].interface", '"net1"'),
    stack("network-without-name", {"networks": [mv("a"), {"type": "macvlan"}]},
          f"{S}.networks[1].name", "required"),
    stack("pod-without-name", {"pods": [{}]}, f"{S}.pods[0].name", "required"),
    stack("raw-config-invalid", {"networks": [{"name": "a", "config": {**H, **M0, "mtu": 5}}]},
          f"{S}.networks[0].config.mtu", "got 5"),
    stack("chain-without-cni-name",
          {"networks": [mv("a", cni_name="", chain=[{"type": "tuning"}])]},
          f"{S}.networks[0].cni_name", "needs a name"),
]


@pytest.mark.parametrize(("data", "path", "shows"), PLAN_CASES)
def test_build_plan_refuses(data: J, path: str, shows: str | None) -> None:
    with pytest.raises(PlanError) as err:
        build_plan(StackSpec.parse(data, at=AT))
    assert path in err.value.paths, (path, err.value.paths)
    assert spec_value(data, path, shows) in str(err.value), str(err.value)


def test_same_pool_on_different_vlans_is_not_an_overlap() -> None:
    vlan = [{"type": "vlan", "name": f"tenant{v}", "master": "eth0", "vlan_id": v,
             "ipam": hl_ipam(V4)} for v in (10, 20)]
    plan = build_plan(StackSpec.parse({"networks": vlan}, at=AT))
    assert [n.name for n, _ in plan.networks] == ["tenant10", "tenant20"]
    same_vlan = [{**vlan[0], "name": "other"}, vlan[0]]
    with pytest.raises(PlanError):
        build_plan(StackSpec.parse({"networks": same_vlan}, at=AT))


def test_case_count() -> None:
    """At least 100 invalid configs stay under test; keep well above it."""
    total = (len(CNI_CASES) + len(TYPED_CASES) + len(COMPONENT_CASES) + len(STACK_CASES)
             + len(PLAN_CASES))
    assert total >= 130

