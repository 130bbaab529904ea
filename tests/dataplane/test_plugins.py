"""The real CNI reference plugins, run directly (no Multus, no apiserver) in real namespaces.

Every namespace, host link, attachment and IPAM file is removed by the ``sandbox`` fixture (and
checked by ``no_leaks``), also when a test fails. Addresses: documentation ranges only, and only
inside the test namespaces.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from harness import underlay
from harness.cni import Cni, CniError
from tests.dataplane.netns import (
    Sandbox,
    addresses,
    link,
    ping,
    require_driver,
    reservations,
)


def host_local(data_dir: Path, subnet: str, start: str | None = None, end: str | None = None,
               **extra: Any) -> dict[str, Any]:
    rng: dict[str, Any] = {"subnet": subnet}
    if start:
        rng["rangeStart"] = start
    if end:
        rng["rangeEnd"] = end
    return {"type": "host-local", "dataDir": str(data_dir), "ranges": [[rng]], **extra}


def conf(name: str, plugin: dict[str, Any]) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": name, **plugin}


def result_ips(result: dict[str, Any]) -> list[str]:
    return [str(ip["address"]) for ip in result.get("ips") or []]


def test_macvlan_host_local_address(sandbox: Sandbox, tmp_path: Path) -> None:
    master = sandbox.link_name("m")
    underlay.ensure_underlay([master])
    c = conf("npt-macvlan", {"type": "macvlan", "master": master, "mode": "bridge",
                             "ipam": host_local(tmp_path, "192.0.2.0/24", "192.0.2.10",
                                                "192.0.2.20")})
    ns = sandbox.netns()
    res = sandbox.add(c, ns)
    assert result_ips(res) == ["192.0.2.10/24"]
    assert addresses(ns, "net1") == ["192.0.2.10/24"]
    info = link(ns, "net1")
    assert info is not None and info["linkinfo"]["info_kind"] == "macvlan"
    assert info["linkinfo"]["info_data"]["mode"] == "bridge"
    assert reservations(tmp_path, "npt-macvlan") == ["192.0.2.10"]


def test_macvlan_pods_ping_each_other(sandbox: Sandbox, tmp_path: Path) -> None:
    master = sandbox.link_name("m")
    underlay.ensure_underlay([master])
    c = conf("npt-macvlan", {"type": "macvlan", "master": master,
                             "ipam": host_local(tmp_path, "192.0.2.0/24", "192.0.2.10")})
    a, b = sandbox.netns(), sandbox.netns()
    ip_a = result_ips(sandbox.add(c, a))[0].split("/")[0]
    ip_b = result_ips(sandbox.add(c, b))[0].split("/")[0]
    assert ip_a != ip_b
    assert ping(a, ip_b) >= 2
    assert ping(b, ip_a) >= 2


def test_bridge_pods_ping_each_other(sandbox: Sandbox, tmp_path: Path) -> None:
    br = sandbox.link_name("b")
    underlay.ensure_underlay([underlay.Link(br, "bridge")])
    c = conf("npt-bridge", {"type": "bridge", "bridge": br, "isGateway": False,
                            "ipam": host_local(tmp_path, "203.0.113.0/24", "203.0.113.10")})
    a, b = sandbox.netns(), sandbox.netns()
    ip_a = result_ips(sandbox.add(c, a))[0].split("/")[0]
    ip_b = result_ips(sandbox.add(c, b))[0].split("/")[0]
    ports = underlay.ip_json("link", "show", "master", br)
    assert len(ports) == 2  # one host veth per pod
    assert ping(a, ip_b) >= 2 and ping(b, ip_a) >= 2


def test_bridge_mtu(sandbox: Sandbox, tmp_path: Path) -> None:
    br = sandbox.link_name("b")
    c = conf("npt-jumbo", {"type": "bridge", "bridge": br, "mtu": 9000,
                           "ipam": host_local(tmp_path, "198.51.100.0/24", "198.51.100.10")})
    ns = sandbox.netns()
    res = sandbox.add(c, ns)
    pod_if = link(ns, "net1")
    assert pod_if is not None and pod_if["mtu"] == 9000
    host_veth = next(i["name"] for i in res["interfaces"] if i["name"] not in (br, "net1"))
    hv = link(None, host_veth)
    assert hv is not None and hv["mtu"] == 9000
    bridge = link(None, br)  # created by the plugin with the MTU asked for
    assert bridge is not None and bridge["mtu"] == 9000


def test_host_device_moves_link_in_and_back(sandbox: Sandbox) -> None:
    dev = sandbox.link_name("d")
    underlay.ensure_underlay([underlay.Link(dev, "veth", movable=True)])
    host_before = link(None, dev)
    assert host_before is not None
    c = conf("npt-hostdev", {"type": "host-device", "device": dev})
    ns = sandbox.netns()
    res = sandbox.add(c, ns, ifname="net1")
    assert link(None, dev) is None, "device still in the host namespace"
    inside = link(ns, "net1")
    assert inside is not None and inside["address"] == host_before["address"]
    assert [i["name"] for i in res["interfaces"]] == ["net1"]
    # idempotent underlay while the end is inside the pod: nothing re-created
    assert underlay.ensure_underlay([underlay.Link(dev, "veth", movable=True)]) == []
    sandbox.delete(sandbox.attachments[-1])
    back = link(None, dev)
    assert back is not None and back["address"] == host_before["address"]
    assert link(ns, "net1") is None


def test_static_ipam_from_runtime_config(sandbox: Sandbox) -> None:
    """``capabilities: {ips: true}`` + ``runtimeConfig.ips`` (what Multus passes for a
    selection's ``ips``) reaches the static IPAM plugin."""
    br = sandbox.link_name("b")
    c = conf("npt-static", {
        "type": "bridge", "bridge": br, "capabilities": {"ips": True},
        "ipam": {"type": "static", "routes": [{"dst": "192.0.2.0/24"}]},
        "runtimeConfig": {"ips": ["203.0.113.77/24"]},
    })
    ns = sandbox.netns()
    res = sandbox.add(c, ns)
    assert result_ips(res) == ["203.0.113.77/24"]
    assert addresses(ns, "net1") == ["203.0.113.77/24"]
    routes = underlay.ip_json("route", "show", "192.0.2.0/24", netns=ns)
    assert routes and routes[0]["dev"] == "net1"


def test_static_ipam_without_addresses_fails_clearly(sandbox: Sandbox) -> None:
    br = sandbox.link_name("b")
    c = conf("npt-static", {"type": "bridge", "bridge": br, "ipam": {"type": "static"}})
    ns = sandbox.netns()
    with pytest.raises(CniError) as exc:
        sandbox.add(c, ns)
    assert "missing ip config" in str(exc.value).lower()  # static with no addresses
    # bridge v1.9.1 leaves the veth behind after this IPAM failure; the runtime's DEL
    # (the kubelet does one after every failed ADD) removes it
    sandbox.delete(sandbox.attachments[-1])
    assert link(ns, "net1") is None
    assert underlay.ip_json("link", "show", "master", br) == []


def test_del_releases_host_local_reservation(sandbox: Sandbox, tmp_path: Path) -> None:
    master = sandbox.link_name("m")
    underlay.ensure_underlay([master])
    c = conf("npt-release", {"type": "macvlan", "master": master,
                             "ipam": host_local(tmp_path, "192.0.2.0/24", "192.0.2.30")})
    ns = sandbox.netns()
    sandbox.add(c, ns)
    assert reservations(tmp_path, "npt-release") == ["192.0.2.30"]
    sandbox.delete(sandbox.attachments[-1])
    assert reservations(tmp_path, "npt-release") == []
    assert link(ns, "net1") is None
    # DEL is idempotent
    sandbox.cni.delete(c, "npt-gone", ns)


def test_failed_add_leaves_no_reservation(sandbox: Sandbox, tmp_path: Path) -> None:
    c = conf("npt-nomaster", {"type": "macvlan", "master": "np-tmissing0",
                              "ipam": host_local(tmp_path, "192.0.2.0/24")})
    ns = sandbox.netns()
    with pytest.raises(CniError) as exc:
        sandbox.add(c, ns)
    assert "link not found" in str(exc.value).lower()  # v1.9.1 does not name the master
    assert reservations(tmp_path, "npt-nomaster") == []


def test_macvlan_mtu_above_master_is_rejected(sandbox: Sandbox, tmp_path: Path) -> None:
    master = sandbox.link_name("m")
    underlay.ensure_underlay([master])  # 1500
    c = conf("npt-mtu", {"type": "macvlan", "master": master, "mtu": 9000,
                         "ipam": host_local(tmp_path, "192.0.2.0/24")})
    with pytest.raises(CniError) as exc:
        sandbox.add(c, sandbox.netns())
    assert "mtu" in str(exc.value).lower()
    # the underlay raises the master's MTU when a NAD asks for it
    underlay.ensure_underlay(underlay.links_for_nad(c))
    ns = sandbox.netns()
    sandbox.add(c, ns)
    info = link(ns, "net1")
    assert info is not None and info["mtu"] == 9000


def test_ptp_with_host_local(sandbox: Sandbox, tmp_path: Path) -> None:
    c = conf("npt-ptp", {"type": "ptp",
                         "ipam": host_local(tmp_path, "198.51.100.0/28", "198.51.100.2")})
    ns = sandbox.netns()
    res = sandbox.add(c, ns)
    addr = result_ips(res)[0]
    assert ipaddress.ip_interface(addr) in ipaddress.ip_network("198.51.100.0/28").hosts() or \
        ipaddress.ip_interface(addr).ip in ipaddress.ip_network("198.51.100.0/28")
    assert addresses(ns, "net1") == [addr]


def test_tuning_chained_sysctl_and_mac(sandbox: Sandbox, tmp_path: Path) -> None:
    """A two-plugin chain run by hand (prevResult handed on, as libcni does)."""
    br = sandbox.link_name("b")
    first = conf("npt-chain", {"type": "bridge", "bridge": br,
                               "ipam": host_local(tmp_path, "203.0.113.0/24", "203.0.113.50")})
    ns = sandbox.netns()
    prev = sandbox.add(first, ns)
    tuning = conf("npt-chain", {"type": "tuning", "mac": "02:00:5e:10:00:01",
                                "sysctl": {"net.ipv4.conf.net1.arp_notify": "1"},
                                "prevResult": prev})
    sandbox.add(tuning, ns, cid=sandbox.attachments[-1].cid)
    info = link(ns, "net1")
    assert info is not None and info["address"] == "02:00:5e:10:00:01"


def test_ipvlan_l2_ping(sandbox: Sandbox, tmp_path: Path,
                        kernel_drivers: dict[str, str | None]) -> None:
    require_driver(kernel_drivers, "ipvlan")
    master = sandbox.link_name("i")
    underlay.ensure_underlay([master])
    c = conf("npt-ipvlan", {"type": "ipvlan", "master": master, "mode": "l2",
                            "ipam": host_local(tmp_path, "192.0.2.0/24", "192.0.2.60")})
    a, b = sandbox.netns(), sandbox.netns()
    ip_a = result_ips(sandbox.add(c, a))[0].split("/")[0]
    ip_b = result_ips(sandbox.add(c, b))[0].split("/")[0]
    assert ping(a, ip_b) >= 2 and ping(b, ip_a) >= 2


def test_vlan_sub_interface(sandbox: Sandbox, tmp_path: Path,
                            kernel_drivers: dict[str, str | None]) -> None:
    require_driver(kernel_drivers, "vlan")
    master = sandbox.link_name("v")
    underlay.ensure_underlay([master])
    c = conf("npt-vlan", {"type": "vlan", "master": master, "vlanId": 100,
                          "ipam": host_local(tmp_path, "192.0.2.0/24", "192.0.2.70")})
    ns = sandbox.netns()
    sandbox.add(c, ns)
    info = link(ns, "net1")
    assert info is not None and info["linkinfo"]["info_data"]["id"] == 100


def test_kernel_probe_names_missing_drivers(kernel_drivers: dict[str, str | None]) -> None:
    """Records which drivers this kernel lacks (shown with -rA); macvlan/bridge must work."""
    assert kernel_drivers["macvlan"] is None
    assert kernel_drivers["bridge"] is None
    missing = sorted(k for k, v in kernel_drivers.items() if v is not None)
    print(f"kernel link drivers missing here: {missing or 'none'}")


def test_cni_version_reported(cni: Cni) -> None:
    res = cni.run("VERSION", {"type": "macvlan", "cniVersion": "1.0.0"}, "", None)
    assert "1.0.0" in res["supportedVersions"]
