"""Bursts on a real node: as many pods as the node takes (the embedded nodes' ``maxPods`` is
64, less the platform's pods on it), each with two secondary networks, created at once; then
every process of the node killed and the node started again, so that the kubelet recreates
every sandbox at once (multus-cni #1346: the thick daemon OOM-killed when a node comes back
with many pods).

Both on :data:`NODE`: every pod attaches, with addresses distinct on each network; the
whereabouts IPPool holds exactly the running pods' addresses and the node's host-local
directory exactly their reservations; the Multus daemon is never OOM-killed nor restarted
beyond the node's own restart. Measured and reported as figures: the time until the last pod
is attached, and the Multus daemon's peak memory (its container's cgroup, what the OOM killer
compares with the limit, and the daemon's own peak resident memory) against its limit.

The node's namespaces and directories outlive the crash (the harness models a power cut of
the node's processes, not of its disk or its ``/run``): the old sandboxes' network namespaces
are still there when the node starts, so the kubelet's teardown of the old sandboxes runs
their CNI DEL before it creates new ones, as it does after a crash of the node's runtime.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import node as harness_node
from harness.cluster.api import Api, node_ready, pod_ready, wait_for
from harness.node import Node
from harness.node.images import TOOLBOX_IMAGE
from harness.node.kubelet import MAX_PODS
from harness.pytest_fixtures import NetworkHandle, NodeHandle
from netplumb.cni.config import CniConfig
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from netplumb.hostpaths import HOST_LOCAL_DIR
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "np-burst"
NODE = "worker-2"
HL, HL_CIDR, HL_BRIDGE = "burst-hl", "198.19.129.0/24", "np-burstb0"
WB, WB_CIDR, WB_MASTER = "burst-wb", "198.19.128.0/24", "np-burstm0"
IPPOOLS = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/kube-system/ippools"
ATTACH_TIMEOUT_S = 600.0


@dataclass
class Burst:
    space: NadSpace
    nodes: NodeHandle
    api: Api
    names: list[str] = field(default_factory=list)


def _conf(name: str, plugin: dict[str, Any], ipam: dict[str, Any]) -> CniConfig:
    return CniConfig.from_dict({"cniVersion": "0.3.1", "name": name, **plugin, "ipam": ipam})


@pytest.fixture(scope="module")
def burst(pod_network: NetworkHandle) -> Iterator[Burst]:
    nodes = pod_network.node
    if NODE not in nodes.names:
        pytest.fail(f"{NODE} needed, the cluster has {nodes.names} (NETPLUMB_NODES)")
    with nad_namespace(pod_network, NS) as space:
        space.create_nad(HL, _conf(HL, {"type": "bridge", "bridge": HL_BRIDGE},
                                   {"type": "host-local", "ranges": [[{"subnet": HL_CIDR}]]}))
        space.create_nad(WB, _conf(WB, {"type": "macvlan", "master": WB_MASTER,
                                        "mode": "bridge"},
                                   {"type": "whereabouts", "range": WB_CIDR}))
        yield Burst(space, nodes, nodes.cluster.api())


def _pod(name: str) -> dict[str, Any]:
    selections = [{"name": HL, "interface": "net1"}, {"name": WB, "interface": "net2"}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "burst"},
                         "annotations": {NETWORKS_ANNOTATION: json.dumps(selections)}},
            "spec": {"containers": [{"name": "main", "image": TOOLBOX_IMAGE,
                                     "command": ["sleep", "86400"],
                                     "resources": {"requests": {"cpu": "1m",
                                                                "memory": "4Mi"}}}],
                     "nodeSelector": {"kubernetes.io/hostname": NODE},
                     "terminationGracePeriodSeconds": 0,
                     "automountServiceAccountToken": False}}


def _statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    notes = pod["metadata"].get("annotations") or {}
    return {str(s.get("interface")): s
            for s in json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]"))}


def _attached(pod: dict[str, Any]) -> bool:
    found = _statuses(pod)
    return pod_ready(pod) and all(found.get(i, {}).get("ips") for i in ("net1", "net2"))


def _pods(api: Api) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v1/namespaces/{NS}/pods",
                        {"labelSelector": "app=burst"})["items"])


def _room(api: Api) -> int:
    """How many more pods the node takes: its allocatable pods less those it runs."""
    node = api.get(f"/api/v1/nodes/{NODE}")
    allocatable = int(node["status"]["allocatable"]["pods"])
    running = [p for p in api.get("/api/v1/pods", {"fieldSelector": f"spec.nodeName={NODE}"})[
        "items"] if p["status"].get("phase") not in ("Succeeded", "Failed")]
    return allocatable - len(running)


def _multus(api: Api) -> dict[str, Any]:
    pods = api.get("/api/v1/namespaces/kube-system/pods",
                   {"labelSelector": "app=multus",
                    "fieldSelector": f"spec.nodeName={NODE}"})["items"]
    [pod] = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return dict(pod)


def _restarts(pod: dict[str, Any]) -> tuple[int, list[str]]:
    """(restarts, reasons of earlier terminations) of the Multus container."""
    [status] = [c for c in pod["status"].get("containerStatuses") or []]
    last = ((status.get("lastState") or {}).get("terminated") or {}).get("reason")
    return int(status.get("restartCount", 0)), [str(last)] if last else []


@dataclass
class Peak:
    cgroup_bytes: int
    """The container cgroup's max_usage_in_bytes (page cache included)."""
    limit_bytes: int
    rss_bytes: int
    """The daemon process's peak resident memory (VmHWM)."""

    def __str__(self) -> str:
        mib = 1024 * 1024
        return (f"cgroup peak {self.cgroup_bytes / mib:.0f} MiB, daemon peak RSS "
                f"{self.rss_bytes / mib:.0f} MiB, of a {self.limit_bytes / mib:.0f} MiB limit")


def _container(pod: dict[str, Any]) -> str:
    """The ID of the pod's container as its status reports it ("" before it ran)."""
    statuses = pod["status"].get("containerStatuses") or [{}]
    return str(statuses[0].get("containerID") or "")


def _daemon_pid(node: Node) -> int:
    def find() -> int | None:
        for pid in node.ns.pids():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "multus-daemon":
                    return pid
            except OSError:
                continue
        return None
    return int(wait_for(f"the multus-daemon process on {node.name}", find, timeout=60))


def _peak(node: Node) -> Peak:
    pid = _daemon_pid(node)
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) * 1024
    path = next(line.split(":", 2)[2] for line in
                Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if line.split(":", 2)[1] == "memory")
    base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return Peak(int((base / "memory.max_usage_in_bytes").read_text()),
                int((base / "memory.limit_in_bytes").read_text()), rss)


def _wait_attached(api: Api, names: list[str], t0: float) -> float:
    """Seconds from ``t0`` until every pod of ``names`` runs with both networks."""
    want = set(names)

    def done() -> bool:
        return {p["metadata"]["name"] for p in _pods(api) if _attached(p)} >= want
    wait_for(f"{len(names)} pods attached on {NODE}", done, timeout=ATTACH_TIMEOUT_S,
             interval=1)
    return time.monotonic() - t0


def _consistent(b: Burst) -> str | None:
    """Why the pools do not hold exactly the running pods' addresses (None: they do)."""
    pods = [p for p in _pods(b.api) if not p["metadata"].get("deletionTimestamp")]
    net1: dict[str, str] = {}
    net2: dict[str, str] = {}
    for pod in pods:
        found = _statuses(pod)
        for iface, seen in (("net1", net1), ("net2", net2)):
            for ip in found.get(iface, {}).get("ips") or []:
                if ip in seen:
                    return f"{ip} on {iface} of both {seen[ip]} and {pod['metadata']['name']}"
                seen[ip] = pod["metadata"]["name"]
    if len(net1) != len(pods) or len(net2) != len(pods):
        return f"{len(pods)} pods, {len(net1)} net1 and {len(net2)} net2 addresses"
    node = b.nodes.by_name(NODE)
    reserved = {p.name for p in node.path(f"{HOST_LOCAL_DIR}/{HL}").iterdir()
                if p.name[0].isdigit()}
    if reserved != set(net1):
        return (f"host-local holds {sorted(reserved - set(net1))} no pod has, misses "
                f"{sorted(set(net1) - reserved)}")
    base = ipaddress.ip_network(WB_CIDR).network_address
    pool = next((p for p in b.api.get(IPPOOLS)["items"] if p["spec"].get("range") == WB_CIDR),
                None)
    allocated = {str(base + int(off)) for off in
                 ((pool or {}).get("spec", {}).get("allocations") or {})}
    if allocated != set(net2):
        return (f"the IPPool holds {sorted(allocated - set(net2))} no pod has, misses "
                f"{sorted(set(net2) - allocated)}")
    return None


def test_the_nodes_maximum_pods_start_at_once_with_two_networks_each(
        burst: Burst, figure: Any) -> None:
    api = burst.api
    room = _room(api)
    assert room >= MAX_PODS // 2, f"{NODE} takes only {room} more pods of {MAX_PODS}"
    multus = _multus(api)
    restarts, _ = _restarts(multus)
    names = [f"burst-{i:03d}" for i in range(room)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: api.create(f"/api/v1/namespaces/{NS}/pods", _pod(n)), names))
    created = time.monotonic() - t0
    burst.names = names
    last = _wait_attached(api, names, t0)
    peak = _peak(burst.nodes.by_name(NODE))
    wait_for("the pools holding exactly the running pods' addresses",
             lambda: _consistent(burst) is None, timeout=120, interval=2)
    after = _multus(api)
    figure(f"burst: {room} pods with two secondary networks each (host-local and whereabouts)"
           f" created at once on {NODE} (in {created:.1f}s); the last attached after "
           f"{last:.1f}s; Multus {peak}")
    assert after["metadata"]["uid"] == multus["metadata"]["uid"], "Multus pod replaced"
    assert _restarts(after) == (restarts, _restarts(multus)[1]), _restarts(after)
    assert peak.cgroup_bytes < peak.limit_bytes


def test_a_node_restart_reattaches_every_pod_at_once(burst: Burst, figure: Any) -> None:
    api, nodes = burst.api, burst.nodes
    if not burst.names:
        pytest.fail("the burst test did not leave its pods running")
    node = nodes.by_name(NODE)
    cluster = nodes.cluster
    assert cluster.info is not None and cluster.info.ports is not None
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in _pods(api)}
    containers = {p["metadata"]["name"]: _container(p) for p in _pods(api)}
    restarts, _ = _restarts(_multus(api))
    killed = harness_node.crash(node)
    assert killed, f"nothing of {NODE} was running"
    t0 = time.monotonic()
    harness_node.boot(nodes.layout, node, cluster.info.ports, say=print)
    booted = time.monotonic() - t0
    wait_for(f"{NODE} Ready again", lambda: node_ready(api.get(f"/api/v1/nodes/{NODE}")),
             timeout=180, interval=1)

    def reattached() -> bool:
        # every pod running again in a new sandbox: a new container, Ready, with both
        # networks (Multus writes network-status again on each ADD)
        pods = _pods(api)
        return len(pods) == len(before) and all(
            _attached(p) and _container(p) not in ("", containers[p["metadata"]["name"]])
            for p in pods)

    wait_for(f"{len(before)} pods attached again on {NODE}", reattached,
             timeout=ATTACH_TIMEOUT_S, interval=1)
    last = time.monotonic() - t0
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in _pods(api)} == before
    peak = _peak(node)
    wait_for("the pools holding exactly the running pods' addresses",
             lambda: _consistent(burst) is None, timeout=180, interval=2)
    multus = _multus(api)
    count, reasons = _restarts(multus)
    figure(f"node restart: every process of {NODE} killed ({len(killed)}) with {len(before)} "
           f"multi-homed pods on it; started again in {booted:.1f}s; the last pod attached "
           f"again {last:.1f}s after the start; Multus {peak}")
    assert "OOMKilled" not in reasons, reasons
    # the node's restart restarts the Multus container once; nothing more may
    assert count <= restarts + 1, (restarts, count, reasons)
    assert peak.cgroup_bytes < peak.limit_bytes
