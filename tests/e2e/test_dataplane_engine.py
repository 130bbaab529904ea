"""Pods deployed through the real engine get real interfaces from the node's Multus thick.

Needs the real nodes with their pod network (the ``pod_network`` fixture). Checks the guide's
step 6 for real: interface names and addresses in each pod's namespace (containerd's
sandbox namespace on the pod's node, found through that node's CRI), the network-status
annotation against the namespace, pings over every secondary network, a static address, and
a default route via net1.

The pods on the host-local networks (dp-macvlan, dp-bridge) are pinned to one node:
host-local allocates per node, and two of them on two nodes would get the same address on
the joined segment. static-ip (static IPAM) runs on the other node, so its pings to the
macvlan pods cross the segment between the nodes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from harness import datapath, engine, podnetwork, underlay
from harness.node import cri
from harness.nodens import PodNetns
from harness.pytest_fixtures import ClusterHandle, NetworkHandle, NodeHandle

pytestmark = pytest.mark.e2e

HOST_LOCAL_NODE = "worker-1"
"""Where the pods of the host-local networks run (one node: one allocator per pool)."""
STATIC_NODE = "worker-2"

STACK = f"""
config:
  netplumb:spec:
    install_nad_crd: false   # the node's Multus installed the CRD
    networks:
      - name: dp-macvlan
        namespace: dataplane
        type: macvlan
        master: np-dpunder0
        mode: bridge
        ipam: {{type: host-local, subnet: 192.0.2.0/24, rangeStart: 192.0.2.160,
               rangeEnd: 192.0.2.180, gateway: 192.0.2.1}}
      - name: dp-static
        namespace: dataplane
        type: macvlan
        master: np-dpunder0
        mode: bridge
        capabilities: {{ips: true}}
        ipam: {{type: static}}
      - name: dp-bridge
        namespace: dataplane
        type: bridge
        bridge: np-dpbr0
        ipam:
          type: host-local
          ranges: [[{{subnet: 203.0.113.0/24, rangeStart: 203.0.113.60,
                      rangeEnd: 203.0.113.80}}]]
    pods:
      - name: one-net
        namespace: dataplane
        node_selector: {{kubernetes.io/hostname: {HOST_LOCAL_NODE}}}
        networks: [{{name: dp-macvlan, interface: net1}}]
      - name: two-nets
        namespace: dataplane
        node_selector: {{kubernetes.io/hostname: {HOST_LOCAL_NODE}}}
        networks:
          - {{name: dp-macvlan, interface: net1}}
          - {{name: dp-bridge, interface: net2}}
      - name: bridge-only
        namespace: dataplane
        node_selector: {{kubernetes.io/hostname: {HOST_LOCAL_NODE}}}
        networks: [{{name: dp-bridge, interface: net1}}]
      - name: static-ip
        namespace: dataplane
        node_selector: {{kubernetes.io/hostname: {STATIC_NODE}}}
        networks: [{{name: dp-static, interface: net1, ips: [192.0.2.245/24]}}]
      - name: default-route
        namespace: dataplane
        node_selector: {{kubernetes.io/hostname: {HOST_LOCAL_NODE}}}
        networks: [{{name: dp-macvlan, interface: net1, default-route: [192.0.2.1]}}]
"""


@pytest.fixture(scope="module")
def deployed(pod_network: NetworkHandle, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[auto.Stack]:
    nodes = pod_network.node
    assert {HOST_LOCAL_NODE, STATIC_NODE} <= set(nodes.names), nodes.names
    cluster = nodes.cluster
    api = cluster.api()
    made_ns = api.create("/api/v1/namespaces", {"metadata": {"name": "dataplane"}})
    tmp = tmp_path_factory.mktemp("dataplane")
    project = engine.project_copy(tmp / "project", {"dataplane": STACK})
    made_links = nodes.ensure_underlay(
        podnetwork.stack_links(project / "stacks/Pulumi.dataplane.yaml"))
    st = engine.stack("dataplane", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp / "backend")
    try:
        st.up(on_output=engine.printer())
        yield st
    finally:
        try:
            st.destroy(on_output=engine.printer())
            st.workspace.remove_stack("dataplane")
        finally:
            if made_ns is not None:
                api.delete("/api/v1/namespaces/dataplane")
            nodes.remove_underlay(made_links)


def _pod(cluster: ClusterHandle, name: str) -> Any:
    return cluster.api().get(f"/api/v1/namespaces/dataplane/pods/{name}")


def _netns(node: NodeHandle, name: str) -> PodNetns:
    pod = _pod(node.cluster, name)
    return node.pod_netns("dataplane", name, pod["metadata"]["uid"])


def _ip(netns: PodNetns, *args: str) -> Any:
    return underlay.ip_json(*args, netns=netns)


def _listed(node: NodeHandle) -> set[PodNetns]:
    """Every named network namespace on every node (``ip netns list`` inside each)."""
    found: set[PodNetns] = set()
    for n in node.nodes:
        out = n.run(["ip", "-j", "netns", "list"]).stdout
        found |= {PodNetns(n.ns, str(e["name"])) for e in json.loads(out or "[]")}
    return found


def test_interfaces_and_addresses(deployed: auto.Stack, node: NodeHandle) -> None:
    ns = _netns(node, "two-nets")
    links = {link["ifname"] for link in _ip(ns, "link", "show")}
    assert {"eth0", "net1", "net2"} <= links
    _, net1 = datapath.link_state(ns, "net1")
    _, net2 = datapath.link_state(ns, "net2")
    assert any(a.startswith("192.0.2.") for a in net1), net1
    assert any(a.startswith("203.0.113.") for a in net2), net2


def test_network_status_matches_namespaces_and_pings(deployed: auto.Stack,
                                                      cluster: ClusterHandle) -> None:
    found = datapath.attachments(cluster.kubeconfig, "dataplane")
    datapath.check_reachability(found)
    by_pod = {(a.pod, a.interface): a for a in found}
    assert set(by_pod) == {("dataplane/one-net", "net1"), ("dataplane/two-nets", "net1"),
                           ("dataplane/two-nets", "net2"), ("dataplane/bridge-only", "net1"),
                           ("dataplane/static-ip", "net1"), ("dataplane/default-route", "net1")}
    bad = [(a.pod, a.interface, a.problems) for a in found if not a.ok]
    assert bad == []
    # every pod on a shared network reached a peer over it
    for key in [("dataplane/one-net", "net1"), ("dataplane/two-nets", "net2"),
                ("dataplane/bridge-only", "net1")]:
        assert by_pod[key].reached, key
    for a in found:
        assert a.mac, a


def test_static_ip(deployed: auto.Stack, node: NodeHandle) -> None:
    assert node.of_pod("dataplane", "static-ip").name == STATIC_NODE
    ns = _netns(node, "static-ip")
    _, addrs = datapath.link_state(ns, "net1")
    assert addrs == {"192.0.2.245/24"}


def test_default_route_via_secondary(deployed: auto.Stack, node: NodeHandle) -> None:
    ns = _netns(node, "default-route")
    routes = _ip(ns, "route", "show", "default")
    assert [(r.get("gateway"), r.get("dev")) for r in routes] == [("192.0.2.1", "net1")]
    plain = _netns(node, "one-net")
    assert all(r.get("dev") != "net1" for r in _ip(plain, "route", "show", "default"))


def test_destroy_releases_namespaces(deployed: auto.Stack, node: NodeHandle) -> None:
    # on both nodes: static-ip runs on the other one
    names = [_netns(node, n) for n in ("one-net", "two-nets", "static-ip")]
    assert {n.node.name for n in names} == {HOST_LOCAL_NODE, STATIC_NODE}
    assert set(names) <= _listed(node)
    deployed.destroy(on_output=engine.printer())
    deadline = time.monotonic() + 60
    left = names
    while time.monotonic() < deadline:
        left = [n for n in left if n in _listed(node)]
        if not left:
            break
        time.sleep(0.5)
    assert left == []
    # stopped (network torn down); the kubelet removes them in its next garbage collection
    assert not [s for n in node.nodes for s in cri.sandboxes(n.ns, namespace="dataplane")
                if s.ready and s.name in ("one-net", "two-nets", "static-ip")]
