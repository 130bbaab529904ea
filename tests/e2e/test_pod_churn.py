"""Pod churn on the embedded node: create/delete cycles of real pods leave nothing behind.

Each cycle goes the whole way a pod goes on a real node: created through the apiserver,
bound by the scheduler, given a network namespace by the node agent, ADDed through Multus
(cluster network plus one secondary network, alternately bridge and macvlan), reported
Running with a network-status annotation, deleted with its grace period, torn down (CNI DEL
through Multus, namespace removed) and finalised by the node agent.

``NETPLUMB_POD_CHURN_CYCLES`` (default 200; ``make test`` runs 1,000) cycles run in
``LANES`` concurrent lanes. Afterwards no namespace, sandbox record, Multus cache entry,
host link or host-local reservation of any churned pod may remain.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import podnet, underlay
from harness.node import DEFAULT_NODE_NAME
from harness.pytest_fixtures import ClusterHandle
from netplumb.args.nad import BridgeNetworkArgs, MacvlanNetworkArgs
from netplumb.cni.selection import NETWORKS_ANNOTATION
from tests.dataplane.netns import reservations
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "churn"
CYCLES = int(os.environ.get("NETPLUMB_POD_CHURN_CYCLES", "200"))
LANES = 8
BRIDGE, MASTER = "np-churnb0", "np-churnm0"
STEP_TIMEOUT_S = 60.0


@dataclass
class Env:
    space: NadSpace
    state: Path
    networks: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(cluster: ClusterHandle) -> Iterator[Env]:
    if os.environ.get("NETPLUMB_PODNET", "null") != "multus" or os.geteuid() != 0:
        pytest.skip("needs root and the Multus pod network (NETPLUMB_PODNET=multus)")
    if not cluster.embedded or cluster.info is None:
        pytest.skip("inspects the embedded node's namespaces, links and CNI state")
    configs = {
        "churn-br": BridgeNetworkArgs.parse({"bridge": BRIDGE, "ipam": {
            "type": "host-local", "ranges": [[{"subnet": "203.0.113.0/25",
                                               "rangeStart": "203.0.113.10",
                                               "rangeEnd": "203.0.113.60"}]]}}),
        "churn-mv": MacvlanNetworkArgs.parse({"master": MASTER, "mode": "bridge", "ipam": {
            "type": "host-local", "ranges": [[{"subnet": "203.0.113.128/25",
                                               "rangeStart": "203.0.113.140",
                                               "rangeEnd": "203.0.113.190"}]]}}),
    }
    state = cluster.info.cluster_dir / "node" / DEFAULT_NODE_NAME
    with nad_namespace(cluster, NS, links=[BRIDGE, MASTER]) as space:
        e = Env(space, state)
        for name, args in configs.items():
            space.create_nad(name, args.cni_config(name))
            e.networks.append(name)
        yield e


def _reservations(d: Path) -> set[str]:
    """host-local's reservation files in ``d`` (one per address; named by the address)."""
    return set(reservations(d.parent, d.name))


def _cycle(core: Any, name: str, network: str) -> tuple[float, str]:
    """One pod's life; returns (seconds, its UID). Raises on any step not done in time."""
    from kubernetes import client

    t0 = time.monotonic()
    selection = json.dumps([{"name": network, "interface": "net1"}])
    pod = core.create_namespaced_pod(NS, {
        "metadata": {"name": name, "annotations": {NETWORKS_ANNOTATION: selection}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    uid = pod.metadata.uid
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        pod = core.read_namespaced_pod(name, NS)
        status = (pod.metadata.annotations or {}).get("k8s.v1.cni.cncf.io/network-status")
        if pod.status.phase == "Running" and status:
            attached = {s.get("interface"): s for s in json.loads(status)}
            assert attached["net1"]["name"] == f"{NS}/{network}", attached
            assert attached["net1"]["ips"], attached
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not Running with network-status in "
                                 f"{STEP_TIMEOUT_S:.0f}s: phase {pod.status.phase}")
        time.sleep(0.05)
    core.delete_namespaced_pod(name, NS)  # the pod's grace period: the node finalises it
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        try:
            core.read_namespaced_pod(name, NS)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                break
            raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not finalised in {STEP_TIMEOUT_S:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - t0, uid


def test_pod_churn_leaves_nothing_behind(env: Env, cluster: ClusterHandle) -> None:
    from kubernetes import client

    ipam_dirs = env.space.ipam_dirs
    cluster_ipam = env.state / "ipam" / podnet.CLUSTER_NETWORK_NAME
    links_before = set(underlay.host_links())
    cluster_reserved_before = _reservations(cluster_ipam)
    networks = sorted(env.networks)
    uids: list[str] = []
    times: list[float] = []
    lock = threading.Lock()

    def lane(k: int) -> None:
        core: Any = client.CoreV1Api(cluster.api_client())
        for i in range(k, CYCLES, LANES):
            seconds, uid = _cycle(core, f"churn-{i:05d}", networks[i % len(networks)])
            with lock:
                times.append(seconds)
                uids.append(uid)

    t0 = time.monotonic()
    with ThreadPoolExecutor(LANES) as pool:
        for f in [pool.submit(lane, k) for k in range(LANES)]:
            f.result()
    wall = time.monotonic() - t0
    times.sort()
    print(f"\npod churn: {CYCLES} cycles in {wall:.1f}s ({LANES} lanes); per cycle median "
          f"{statistics.median(times) * 1000:.0f} ms, p95 "
          f"{times[int(0.95 * (len(times) - 1))] * 1000:.0f} ms")

    assert len(uids) == CYCLES == len(set(uids))
    churned_ns = {podnet.netns_name(u) for u in uids}
    assert churned_ns.isdisjoint(podnet.list_netns())
    records = {p.stem for p in (env.state / "sandboxes").glob("*.json")}
    assert records.isdisjoint(uids)
    cache = {p.name for p in (env.state / "multus" / "cache").iterdir()}
    assert cache.isdisjoint(podnet.sandbox_id(u) for u in uids)
    for d in ipam_dirs:
        assert _reservations(d) == set(), d
    assert _reservations(cluster_ipam) == cluster_reserved_before
    # the underlay the NADs name (bridge, macvlan master and its veth peer) and the cluster
    # bridge may be new; nothing else is (every pod's host-side cluster veth is gone)
    expected = {BRIDGE, MASTER, underlay.peer_name(MASTER), podnet.CLUSTER_BRIDGE}
    new_links = set(underlay.host_links()) - links_before
    assert new_links <= expected, sorted(new_links - expected)
