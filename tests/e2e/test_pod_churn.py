"""Pod churn on the real nodes: create/delete cycles of real pods leave nothing behind.

Each cycle goes the whole way a pod goes: created through the apiserver, bound by the
scheduler, sandboxed by the kubelet and containerd, ADDed through the node's Multus thick
(Flannel for the cluster network plus one secondary network, alternately bridge and macvlan),
reported Running with a network-status annotation, deleted, its sandbox stopped (CNI DEL
through Multus) and removed.

``NETPLUMB_POD_CHURN_CYCLES`` (default 200; ``make test`` runs 1,000) cycles run in ``LANES``
(``NETPLUMB_POD_CHURN_LANES``, default 8) concurrent lanes, the lanes pinned to the nodes in
turn (every node churns the same share).
Afterwards no network namespace, veth, host-local reservation (of the NADs or of Flannel's
network) or Multus cache entry of a churned pod may remain on any node, and, late in the
session (once the kubelets' garbage collection has run), no containerd sandbox either.
Prints the per-cycle median and p95.

host-local pools are per node: pods on two nodes may get the same NAD address at once (the
test checks attachment and leaks, not addresses; each node's pool holds more than ``LANES``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import BridgeNetworkArgs, MacvlanNetworkArgs
from tests.e2e.churn import NodeState, cycle, sandboxes_left
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "churn"
CYCLES = int(os.environ.get("NETPLUMB_POD_CHURN_CYCLES", "200"))
LANES = int(os.environ.get("NETPLUMB_POD_CHURN_LANES", "8"))
BRIDGE, MASTER = "np-churnb0", "np-churnm0"


@dataclass
class Env:
    space: NadSpace
    networks: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(pod_network: NetworkHandle) -> Iterator[Env]:
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
    with nad_namespace(pod_network, NS) as space:
        e = Env(space)
        for name, args in configs.items():
            space.create_nad(name, args.cni_config(name))
            e.networks.append(name)
        yield e


def test_pod_churn_leaves_nothing_behind(env: Env, pod_network: NetworkHandle,
                                        figure: Callable[[str], None]) -> None:
    cluster = pod_network.node.cluster
    nodes = pod_network.node.names
    before = NodeState.now(pod_network.node)
    networks = sorted(env.networks)
    uids: list[str] = []
    times: list[float] = []
    per_node: dict[str, int] = dict.fromkeys(nodes, 0)
    lock = threading.Lock()

    def lane(k: int) -> None:
        api = cluster.api()
        for i in range(k, CYCLES, LANES):
            done = cycle(api, NS, f"churn-{i:05d}", networks[i % len(networks)],
                         node=nodes[k % len(nodes)])
            with lock:
                times.append(done.seconds)
                uids.append(done.uid)
                per_node[done.node] += 1

    t0 = time.monotonic()
    with ThreadPoolExecutor(LANES) as pool:
        for f in [pool.submit(lane, k) for k in range(LANES)]:
            f.result()
    wall = time.monotonic() - t0
    times.sort()
    figure(f"pod churn: {CYCLES} cycles in {wall:.1f}s ({LANES} lanes over "
          f"{len(nodes)} nodes: {per_node}); per cycle median "
          f"{statistics.median(times) * 1000:.0f} ms, p95 "
          f"{times[int(0.95 * (len(times) - 1))] * 1000:.0f} ms")

    assert len(uids) == CYCLES == len(set(uids))
    assert before.leaks(NS, env.space.ipam_dirs, sandboxes=False) == {}


@pytest.mark.late
def test_the_kubelets_remove_the_churned_sandboxes(pod_network: NetworkHandle) -> None:
    """The churned pods' stopped sandboxes are gone from containerd on every node: the
    kubelets' garbage collection (every minute) removed them. Checked late in the session,
    when it has had its minutes, instead of waiting for it after the churn."""
    assert sandboxes_left(pod_network.node, NS) == []
