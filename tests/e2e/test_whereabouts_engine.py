"""whereabouts allocates for real on the nodes: a prod-style whereabouts network (a range with
start, end and gateway, like the prod stack's ``mgmt``) and a two-replica Deployment, deployed
through the engine by a team stack that relies on the platform's whereabouts
(``whereabouts: {installed: external}``).

The two pods get distinct addresses from the range (wherever they are scheduled: the pool is
cluster-wide, so they are not pinned), the cluster-wide IPPool holds both allocations, the
node plugin on every node reports the pool's size and use (each lists the cluster's IPPools),
and destroying the stack frees the addresses (the IPPool's allocations empty again).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from harness import engine, podnetwork
from harness.cluster.api import Api, wait_for
from harness.node import Node
from harness.node.images import TOOLBOX_IMAGE
from harness.pytest_fixtures import NetworkHandle
from tests.e2e import nodemetrics as nm

pytestmark = pytest.mark.e2e

NS = "wbtest"
RANGE = "203.0.113.0/24"
START, END = "203.0.113.221", "203.0.113.240"
IPPOOLS = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/kube-system/ippools"
WHEREABOUTS_DS = "/apis/apps/v1/namespaces/kube-system/daemonsets/whereabouts"

STACK = f"""
config:
  netplumb:spec:
    whereabouts: {{installed: external}}
    networks:
      - name: wb-mgmt
        namespace: {NS}
        type: macvlan
        master: np-wbunder0
        mode: bridge
        ipam:
          type: whereabouts
          range: {RANGE}
          range_start: {START}
          range_end: {END}
          gateway: 203.0.113.1
    workloads:
      - kind: Deployment
        name: wb-app
        namespace: {NS}
        image: {TOOLBOX_IMAGE}
        command: [sleep, "86400"]
        replicas: 2
        termination_grace_period_seconds: 0
        networks:
          - {{name: wb-mgmt, interface: mgmt0}}
"""


def _pool(api: Api) -> Any:
    pools = api.get(IPPOOLS)["items"]
    return next((p for p in pools if p["spec"].get("range") == RANGE), None)


def _ours(pool: Any) -> dict[str, str]:
    """Offset -> podref of this test's allocations in the pool."""
    allocations = ((pool or {}).get("spec") or {}).get("allocations") or {}
    return {k: v["podref"] for k, v in allocations.items()
            if v.get("podref", "").startswith(f"{NS}/")}


@pytest.fixture(scope="module")
def deployed(pod_network: NetworkHandle, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[auto.Stack, Api]]:
    cluster = pod_network.node.cluster
    api = cluster.api()
    ds = api.get_or_none(WHEREABOUTS_DS)
    if ds is None:
        pytest.fail("the platform stack did not install whereabouts (kube-system/whereabouts)")
    pool_before = _pool(api)
    assert not _ours(pool_before), "allocations of an earlier run are left"
    made_ns = api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    tmp = tmp_path_factory.mktemp("whereabouts")
    project = engine.project_copy(tmp / "project", {"wbtest": STACK})
    made_links = pod_network.node.ensure_underlay(
        podnetwork.stack_links(project / "stacks/Pulumi.wbtest.yaml"))
    st = engine.stack("wbtest", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp / "backend")
    try:
        st.up(on_output=engine.printer())
        yield st, api
    finally:
        try:
            st.destroy(on_output=engine.printer())
            st.workspace.remove_stack("wbtest")
        finally:
            if made_ns is not None:
                api.delete(f"/api/v1/namespaces/{NS}")
                wait_for(f"namespace {NS} gone",
                         lambda: api.get_or_none(f"/api/v1/namespaces/{NS}") is None,
                         timeout=120, interval=1)
            pod_network.node.remove_underlay(made_links)
            pool = _pool(api)
            if pool_before is None and pool is not None and not (
                    pool["spec"].get("allocations")):
                api.delete(f"{IPPOOLS}/{pool['metadata']['name']}")


def _addresses(api: Api) -> dict[str, str]:
    pods = api.get(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": "app=wb-app"})["items"]
    out = {}
    for p in pods:
        status = json.loads((p["metadata"].get("annotations") or {}).get(
            "k8s.v1.cni.cncf.io/network-status", "[]"))
        for s in status:
            if s.get("interface") == "mgmt0" and p["status"].get("phase") == "Running":
                [ip] = s["ips"]
                out[p["metadata"]["name"]] = ip
    return out


def test_two_replicas_get_distinct_addresses_and_free_them(
        deployed: tuple[auto.Stack, Api], pod_network: NetworkHandle) -> None:
    st, api = deployed
    def both() -> dict[str, str] | None:
        found = _addresses(api)
        return found if len(found) == 2 else None
    addrs = wait_for("both replicas Running with an address", both, timeout=120)
    assert len(set(addrs.values())) == 2
    lo, hi = ipaddress.IPv4Address(START), ipaddress.IPv4Address(END)
    assert all(lo <= ipaddress.IPv4Address(ip) <= hi for ip in addrs.values()), addrs
    pool = _pool(api)
    assert pool is not None
    assert sorted(_ours(pool).values()) == sorted(f"{NS}/{name}" for name in addrs)
    base = ipaddress.IPv4Network(RANGE).network_address
    assert {str(base + int(off)) for off in _ours(pool)} == set(addrs.values())

    # the node plugin lists IPPools every 30 s: pool size (20 addresses) and use, the
    # cluster-wide pool's on every node (not only on the nodes that run the replicas)
    for node in pod_network.node.nodes:
        def reported(node: Node = node) -> nm.Samples | None:
            s = nm.scrape(node)
            used = s.value("netplumb_ipam_pool_allocated", ipam="whereabouts",
                           network="wb-mgmt")
            return s if used == 2 else None
        samples = wait_for(f"the pool's use in {node.name}'s node plugin's metrics", reported,
                           timeout=75, interval=2)
        assert samples.value("netplumb_ipam_pool_size", ipam="whereabouts",
                             network="wb-mgmt") == 20, node.name

    st.destroy(on_output=engine.printer())
    wait_for("the IPPool's allocations freed", lambda: not _ours(_pool(api)), timeout=90,
             interval=1)
