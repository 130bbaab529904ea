"""macvlan's modes and MTU as pods meet them, on a real node (issue Q, items 2 and 3).

Pods are pinned to one node (a macvlan mode governs traffic between interfaces on one master
of one host) and select NADs created in a namespace of the test's own; their interfaces are
read and pinged from inside their network namespaces on the node:

* bridge: two pods on one master reach each other;
* private: they do not;
* vepa: they do not while the switch port behind the master does not reflect frames, and do
  once it does (the host bridge port of the node's link in hairpin mode: a reflective relay);
* passthru: one pod per master; a second pod's sandbox fails, and ``netplumb doctor`` names
  the pod and the NAD with the fix;
* MTU: a NAD asking for 9000 on a master whose MTU allows it gives the pod a 9000-byte
  ``net1`` (read inside the pod), and a NAD asking for more than its master's MTU fails the
  sandbox with macvlan's own "invalid MTU", which doctor names with the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness import icmp, segments, underlay
from harness.cluster.api import wait_for
from harness.datapath import ping
from harness.node import Node
from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.cli.main import main
from netplumb.cni.config import parse_cni_config
from netplumb.kube import Kube
from netplumb.ops.doctor import diagnose
from netplumb.ops.live import read_snapshot
from netplumb.render.nad import nad
from tests.e2e.nadspace import NADS, NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "np-macvlan-modes"


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


@pytest.fixture(scope="module")
def worker(space: NadSpace) -> Node:
    return space.nodes.nodes[0]


def _config(name: str, master: str, mode: str, subnet: str, **extra: Any) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": master,
            "mode": mode, **extra, "ipam": {"type": "host-local", "subnet": subnet}}


def _nad(space: NadSpace, name: str, config: dict[str, Any]) -> None:
    space.create_nad(name, parse_cni_config(json.dumps(config)))


def _pod(space: NadSpace, name: str, network: str, worker: Node) -> None:
    space.create_pod(name, [{"name": network, "interface": "net1"}],
                     nodeSelector={"kubernetes.io/hostname": worker.name})


def _running(space: NadSpace, name: str) -> Any:
    def check() -> Any:
        pod = space.pod(name)
        return pod if pod["status"].get("phase") == "Running" else None
    return wait_for(f"pod {NS}/{name} Running", check, timeout=120, interval=0.5)


def _net1(space: NadSpace, name: str) -> tuple[str, dict[str, Any]]:
    """(address of net1, net1 as ``ip -d -j link`` shows it inside the pod)."""
    _running(space, name)
    netns = space.nodes.pod_netns(NS, name)
    [link] = underlay.ip_json("-d", "addr", "show", "dev", "net1", netns=netns)
    [addr] = [a["local"] for a in link.get("addr_info", [])
              if a.get("family") == "inet" and a.get("scope") != "link"]
    return str(addr), link


def _pings(space: NadSpace, src: str, dst_addr: str) -> bool:
    return ping(space.nodes.pod_netns(NS, src), dst_addr, count=2)


def _sandbox_failure(space: NadSpace, name: str, timeout: float = 90) -> str:
    """The message of the pod's first FailedCreatePodSandBox event."""
    def check() -> str | None:
        events = space.events(fieldSelector=f"involvedObject.name={name}")
        msgs = [e.get("message") for e in events if e.get("reason") == "FailedCreatePodSandBox"]
        return msgs[0] if msgs else None
    return wait_for(f"a sandbox failure of {NS}/{name}", check, timeout=timeout, interval=1)


def _doctor_errors(cluster: ClusterHandle, capsys: pytest.CaptureFixture[str]
                   ) -> dict[str, dict[str, Any]]:
    main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig), "--json"])
    doc = json.loads(capsys.readouterr().out)
    return {f["subject"]: f for f in doc["findings"] if f["severity"] == "error"}


def _wait_doctor(cluster: ClusterHandle, subject: str) -> None:
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    wait_for(f"doctor names {subject}", lambda: subject in {
        f.subject for f in diagnose(read_snapshot(kube, [NS])).findings
        if f.severity == "error"}, timeout=90, interval=1)


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mode,reach", [("bridge", True), ("private", False)])
def test_two_pods_on_one_master(space: NadSpace, worker: Node, mode: str, reach: bool) -> None:
    master, net = f"np-mv{mode[:3]}0", f"mv-{mode}"
    _nad(space, net, _config(net, master, mode, "198.19.40.0/24" if reach
                             else "198.19.41.0/24"))
    _pod(space, f"{mode}-a", net, worker)
    _pod(space, f"{mode}-b", net, worker)
    a, link = _net1(space, f"{mode}-a")
    b, _ = _net1(space, f"{mode}-b")
    assert link["linkinfo"]["info_data"]["mode"] == mode, link
    assert _pings(space, f"{mode}-a", b) is reach, (mode, a, b)
    assert _pings(space, f"{mode}-b", a) is reach, (mode, b, a)


def test_vepa_needs_a_reflective_relay(space: NadSpace, worker: Node) -> None:
    master, net = "np-mvvepa0", "mv-vepa"
    _nad(space, net, _config(net, master, "vepa", "198.19.42.0/24"))
    _pod(space, "vepa-a", net, worker)
    _pod(space, "vepa-b", net, worker)
    a, link = _net1(space, "vepa-a")
    b, _ = _net1(space, "vepa-b")
    assert link["linkinfo"]["info_data"]["mode"] == "vepa", link
    # the frames leave the master for the switch port behind it: the host bridge's port of
    # this node's end of the segment, which does not send a frame back where it came from
    port = segments.port_name(master, worker.name)
    assert underlay.host_links()[port]["linkinfo"]["info_slave_data"]["hairpin"] is False
    assert not _pings(space, "vepa-a", b)
    underlay.ip("link", "set", "dev", port, "type", "bridge_slave", "hairpin", "on")
    try:
        assert _pings(space, "vepa-a", b), "through the hairpin port, vepa-a reaches vepa-b"
        assert _pings(space, "vepa-b", a)
    finally:
        underlay.ip("link", "set", "dev", port, "type", "bridge_slave", "hairpin", "off",
                    check=False)


def test_passthru_takes_the_master_for_one_pod(space: NadSpace, worker: Node,
                                               cluster: ClusterHandle,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    master, net = "np-mvpass0", "mv-passthru"
    _nad(space, net, _config(net, master, "passthru", "198.19.43.0/24"))
    _pod(space, "passthru-a", net, worker)
    _, link = _net1(space, "passthru-a")
    assert link["linkinfo"]["info_data"]["mode"] == "passthru", link
    _pod(space, "passthru-b", net, worker)
    message = _sandbox_failure(space, "passthru-b")
    assert "failed to create macvlan" in message, message
    assert space.pod("passthru-b")["status"].get("phase") == "Pending"
    subject = f"NetworkAttachmentDefinition {NS}/{net}"
    _wait_doctor(cluster, subject)
    found = _doctor_errors(cluster, capsys)[subject]
    assert found["check"] == "sandbox:macvlan-passthru-taken", found
    assert found["pods"] == [f"{NS}/passthru-b"], found
    assert "passthru" in found["fix"] and "spec.config.mode" in found["fix"], found


# --------------------------------------------------------------------------- MTU


def test_jumbo_mtu_inside_the_pod_and_a_clear_failure_above_the_master(
        space: NadSpace, worker: Node, cluster: ClusterHandle,
        capsys: pytest.CaptureFixture[str]) -> None:
    # the master of "jumbo" gets MTU 9000 on every node (create_nad makes it at least the
    # NAD's MTU); the master of "toobig" keeps 1500 (its NAD is created without that step)
    _nad(space, "jumbo", _config("jumbo", "np-mvjumbo0", "bridge", "198.19.44.0/24",
                                 mtu=9000))
    small = "np-mvsmall0"
    space.made_links += space.nodes.ensure_underlay([underlay.Link(small)])
    assert all(underlay.host_links(n.ns)[small]["mtu"] == 1500 for n in space.nodes.nodes)
    space.api.request("POST", NADS.format(ns=NS), nad(
        "toobig", NS, parse_cni_config(json.dumps(
            _config("toobig", small, "bridge", "198.19.45.0/24", mtu=9000)))))
    _pod(space, "jumbo-a", "jumbo", worker)
    _pod(space, "jumbo-b", "jumbo", worker)
    _pod(space, "toobig-a", "toobig", worker)
    _, link = _net1(space, "jumbo-a")
    b, _ = _net1(space, "jumbo-b")
    assert link["mtu"] == 9000, link
    # 8972 bytes of ICMP data + 28 of headers: a 9000-byte packet, sent unfragmented
    jumbo = space.nodes.pod_netns(NS, "jumbo-a")
    assert icmp.ping(jumbo, b, count=2, size=8972, dont_fragment=True) > 0
    with pytest.raises(RuntimeError, match="Message too long"):  # one byte past the MTU
        icmp.ping(jumbo, b, count=1, size=8973, dont_fragment=True)
    message = _sandbox_failure(space, "toobig-a")
    assert "invalid MTU 9000" in message, message
    subject = f"NetworkAttachmentDefinition {NS}/toobig"
    _wait_doctor(cluster, subject)
    found = _doctor_errors(cluster, capsys)[subject]
    assert found["check"] == "sandbox:mtu-invalid" and found["pods"] == [f"{NS}/toobig-a"]
    assert "spec.config.mtu" in found["fix"], found
