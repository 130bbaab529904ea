"""20 pods at once on a network whose pool has 14 addresses, on one real node.

Through the apiserver, the scheduler, the kubelet, containerd and the node's Multus thick: 14
pods run with 14 distinct addresses on net1; the other 6 stay Pending with the kubelet's
FailedCreatePodSandBox event saying the range is exhausted.

The pods are pinned to one node (``nodeSelector`` on ``kubernetes.io/hostname``): host-local
allocates per node, so on two nodes the pool would be 14 addresses on each and all 20 pods
would run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import BridgeNetworkArgs
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "exhaust"
PODS = 20
BRIDGE = "np-exhaust0"
NODE = "worker-1"
"""The one node every pod runs on (one host-local allocator for the pool)."""


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


def test_twenty_pods_on_fourteen_addresses(space: NadSpace) -> None:
    pods_path = space.pod_path()
    # this pool lives on its own bridge, apart from the node's pod network (198.18.0.0/16)
    args = BridgeNetworkArgs.parse({"bridge": BRIDGE, "ipam": {
        "type": "host-local", "ranges": [[{"subnet": "203.0.113.0/24",
                                           "rangeStart": "203.0.113.201",
                                           "rangeEnd": "203.0.113.214"}]]}})
    config = args.cni_config("pool14")
    assert config.pools()[0].size == 14
    space.create_nad("pool14", config)
    assert NODE in space.nodes.names, space.nodes.names
    for i in range(PODS):
        space.create_pod(f"p{i}", [{"name": "pool14", "interface": "net1"}],
                         nodeSelector={"kubernetes.io/hostname": NODE})
    deadline = time.monotonic() + 120
    running: list[Any] = []
    failed: set[str] = set()
    while time.monotonic() < deadline:
        pods = space.api.get(pods_path)["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        events = space.events()
        failed = {e["involvedObject"].get("name") for e in events
                  if e.get("reason") == "FailedCreatePodSandBox"}
        if len(running) == 14 and len(failed - {p["metadata"]["name"] for p in running}) == 6:
            break
        time.sleep(1)
    assert len(running) == 14
    assert {p["spec"].get("nodeName") for p in running} == {NODE}
    addrs = []
    for p in running:
        status = json.loads(p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"])
        [net1] = [s for s in status if s.get("interface") == "net1"]
        addrs += net1["ips"]
    assert len(set(addrs)) == 14
    assert all(a.startswith("203.0.113.2") for a in addrs)
    pending = {p["metadata"]["name"] for p in space.api.get(pods_path)["items"]
               if p["status"].get("phase") == "Pending"}
    assert len(pending) == 6 and pending <= failed
    messages = [e.get("message") or "" for e in space.events()
                if e.get("reason") == "FailedCreatePodSandBox"]
    assert any("no IP addresses available" in m for m in messages), messages[:3]
