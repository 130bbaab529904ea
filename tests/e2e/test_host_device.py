"""A host-device network through the node's Multus thick: the node's link moves into the pod
(renamed to the pod's interface name, with its static address) and back when the pod goes.

The device is a veth pair inside every node (:mod:`harness.segments`); the pod lands on
either node, and only that node's device moves. The Multus daemon runs its delegates
chrooted into the node's root (``chrootDir``), in the pod's network namespace found through
its ``/run/netns`` mount: this is the path where the namespace and mount propagation settings
of the node matter most.
"""

from __future__ import annotations

import pytest

from harness import datapath, underlay
from harness.cluster import pod_ready, wait_for
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import HostDeviceNetworkArgs
from tests.e2e.nadspace import nad_namespace

pytestmark = pytest.mark.e2e

DEVICE = "np-thd0"


def test_host_device_moves_into_the_pod_and_back(pod_network: NetworkHandle) -> None:
    link = underlay.Link(DEVICE, movable=True)
    args = HostDeviceNetworkArgs.parse({"device": DEVICE, "ipam": {
        "type": "static", "addresses": [{"address": "192.0.2.50/24"}]}})
    nodes = pod_network.node
    with nad_namespace(pod_network, "hostdev") as space:
        space.create_nad("hostdev-conf", args.cni_config("hostdev-conf"))
        for n in nodes.nodes:
            assert DEVICE in underlay.host_links(n.ns), n.name
        pod = space.create_pod("pod-hostdev", [{"name": "hostdev-conf", "interface": "net1"}])
        api = nodes.cluster.api()
        path = "/api/v1/namespaces/hostdev/pods/pod-hostdev"
        wait_for("the pod to run", lambda: pod_ready(api.get(path)), timeout=90)
        here = nodes.of_pod("hostdev", "pod-hostdev")
        netns = nodes.pod_netns("hostdev", "pod-hostdev", pod["metadata"]["uid"])
        assert DEVICE not in underlay.host_links(here.ns)
        assert link.peer in underlay.host_links(here.ns)
        for other in nodes.nodes:
            if other.name != here.name:  # the other node's device stays where it is
                assert DEVICE in underlay.host_links(other.ns), other.name
        _, addrs = datapath.link_state(netns, "net1")
        assert addrs == {"192.0.2.50/24"}
        api.delete(path)
        wait_for("the pod to go", lambda: api.get_or_none(path) is None, timeout=90)
        wait_for(f"the device back on {here.name}",
                 lambda: DEVICE in underlay.host_links(here.ns), timeout=30)
