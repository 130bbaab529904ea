"""Every NAD of the hand-run Multus guide, expressed with netplumb's components.

Each test builds the component from typed args under Pulumi mocks and checks the NAD that
was registered carries the same CNI JSON object as the guide's hand-written one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from netplumb import PlanError, parse_cni_config
from netplumb.args.nad import (
    BridgeNetworkArgs,
    HostDeviceNetworkArgs,
    IpvlanNetworkArgs,
    MacvlanNetworkArgs,
    SriovNetworkArgs,
)
from netplumb.cni.ipam import DhcpIpam, HostLocalIpam, Route, StaticIpam
from netplumb.components import (
    BridgeNetwork,
    HostDeviceNetwork,
    IpvlanNetwork,
    MacvlanNetwork,
    NetworkAttachment,
    SriovNetwork,
)
from netplumb.components.objects import PATCH_FIELD_MANAGER, PATCH_FORCE, RECONCILE
from netplumb.ownership import OWNER_ANNOTATION

from .pulumi_mocks import run_program

NAD_TYPE = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"

# The guide's configs, as written there (step 3 and step 4).
SEED_MACVLAN = """{
  "cniVersion": "1.0.0", "name": "macvlan-network", "type": "macvlan", "master": "enp0s9",
  "mode": "bridge",
  "ipam": {"type": "host-local", "subnet": "172.17.9.0/24", "rangeStart": "172.17.9.240",
           "rangeEnd": "172.17.9.250", "routes": [{"dst": "0.0.0.0/0"}],
           "gateway": "172.17.9.1"}}"""
SEED_BRIDGE = """{
  "cniVersion": "1.0.0", "name": "bridge-network", "type": "bridge", "bridge": "br0",
  "isDefaultGateway": false,
  "ipam": {"type": "host-local", "subnet": "192.168.12.0/24", "rangeStart": "192.168.12.10",
           "rangeEnd": "192.168.12.200"}}"""
SEED_HOST_DEVICE = """{
  "cniVersion": "1.0.0", "name": "host-device-network", "type": "host-device",
  "device": "enp0s9", "ipam": {"type": "dhcp"}}"""
SEED_IPVLAN = """{
  "cniVersion": "1.0.0", "name": "ipvlan-network", "type": "ipvlan", "master": "enp0s9",
  "mode": "l2",
  "ipam": {"type": "host-local", "subnet": "172.17.9.0/24", "rangeStart": "172.17.9.201",
           "rangeEnd": "172.17.9.205", "gateway": "172.17.9.1"}}"""
SEED_MACVLAN_STATIC = """{
  "cniVersion": "1.0.0", "name": "macvlan-network", "type": "macvlan", "master": "enp0s9",
  "mode": "bridge", "ipam": {"type": "static"}}"""
SEED_SRIOV = """{
  "cniVersion": "1.0.0", "type": "sriov",
  "ipam": {"type": "host-local", "subnet": "10.56.217.0/24"}}"""

OWNED = {PATCH_FORCE: "true", PATCH_FIELD_MANAGER: "netplumb", RECONCILE: "0",
         OWNER_ANNOTATION: "netplumb/test"}
"""What every object netplumb registers carries besides its own annotations."""


def registered_nad(build: Callable[[], NetworkAttachment[Any]]) -> dict[str, Any]:
    mocks = run_program(build)
    nads = mocks.of_type(NAD_TYPE)
    assert len(nads) == 1, [r.type for r in mocks.registered]
    return nads[0].inputs


def config_of(nad: dict[str, Any]) -> Any:
    return json.loads(nad["spec"]["config"])


def test_macvlan_with_resource_annotation() -> None:
    # The guide's annotation value is not a valid extended resource name (no domain);
    # the typed resource_name refuses it, so it is passed through as a plain annotation.
    args = MacvlanNetworkArgs(
        cni_name="macvlan-network", master="enp0s9", mode="bridge",
        annotations={"k8s.v1.cni.cncf.io/resourceName": "macvlan-cni-network"},
        ipam=HostLocalIpam(type="host-local", subnet="172.17.9.0/24",
                           range_start="172.17.9.240", range_end="172.17.9.250",
                           routes=[Route(dst="0.0.0.0/0")], gateway="172.17.9.1"))
    nad = registered_nad(lambda: MacvlanNetwork("macvlan-conf", args))
    assert config_of(nad) == json.loads(SEED_MACVLAN)
    assert nad["metadata"]["name"] == "macvlan-conf"
    assert nad["metadata"]["namespace"] == "default"
    assert nad["metadata"]["annotations"] == {
        "k8s.v1.cni.cncf.io/resourceName": "macvlan-cni-network", **OWNED}
    with pytest.raises(PlanError) as err:
        MacvlanNetworkArgs.parse({"resource_name": "macvlan-cni-network"})
    assert err.value.paths == ["resource_name"]


def test_bridge() -> None:
    args = BridgeNetworkArgs(
        cni_name="bridge-network", bridge="br0", is_default_gateway=False,
        ipam=HostLocalIpam(type="host-local", subnet="192.168.12.0/24",
                           range_start="192.168.12.10", range_end="192.168.12.200"))
    nad = registered_nad(lambda: BridgeNetwork("bridge-conf", args))
    assert config_of(nad) == json.loads(SEED_BRIDGE)


def test_host_device_with_dhcp() -> None:
    args = HostDeviceNetworkArgs(cni_name="host-device-network", device="enp0s9",
                                 ipam=DhcpIpam(type="dhcp"))
    nad = registered_nad(lambda: HostDeviceNetwork("host-device-conf", args))
    assert config_of(nad) == json.loads(SEED_HOST_DEVICE)


def test_ipvlan() -> None:
    args = IpvlanNetworkArgs(
        cni_name="ipvlan-network", master="enp0s9", mode="l2",
        ipam=HostLocalIpam(type="host-local", subnet="172.17.9.0/24",
                           range_start="172.17.9.201", range_end="172.17.9.205",
                           gateway="172.17.9.1"))
    nad = registered_nad(lambda: IpvlanNetwork("ipvlan-conf", args))
    assert config_of(nad) == json.loads(SEED_IPVLAN)


def test_macvlan_static() -> None:
    args = MacvlanNetworkArgs(cni_name="macvlan-network", master="enp0s9", mode="bridge",
                              ipam=StaticIpam(type="static"))
    nad = registered_nad(lambda: MacvlanNetwork("macvlan-conf", args))
    assert config_of(nad) == json.loads(SEED_MACVLAN_STATIC)


def test_sriov_without_cni_name() -> None:
    args = SriovNetworkArgs(cni_name="", resource_name="intel.com/sriov",
                            ipam=HostLocalIpam(type="host-local", subnet="10.56.217.0/24"))
    nad = registered_nad(lambda: SriovNetwork("sriov-conf", args))
    assert config_of(nad) == json.loads(SEED_SRIOV)
    assert nad["metadata"]["annotations"] == {
        "k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov", **OWNED}


@pytest.mark.parametrize("text", [SEED_MACVLAN, SEED_BRIDGE, SEED_HOST_DEVICE, SEED_IPVLAN,
                                  SEED_MACVLAN_STATIC, SEED_SRIOV])
def test_seed_configs_import_losslessly(text: str) -> None:
    """Read back as written, key order included: compared as JSON text, both sides
    serialised the same way (only the layout of the guide's text is not compared)."""
    assert json.dumps(parse_cni_config(text).to_dict()) == json.dumps(json.loads(text))


def test_selection_from_component() -> None:
    holder: dict[str, Any] = {}

    def build() -> MacvlanNetwork:
        net = MacvlanNetwork("macvlan-conf", MacvlanNetworkArgs(
            master="enp0s9", capabilities={"ips": True}, ipam=StaticIpam(type="static")))
        holder["sel"] = net.selection("net1", ips=["172.17.9.245/24"],
                                      default_route=["172.17.9.1"])
        return net

    run_program(build)
    assert holder["sel"].to_dict() == {
        "name": "macvlan-conf", "namespace": "default", "interface": "net1",
        "ips": ["172.17.9.245/24"], "default-route": ["172.17.9.1"]}
