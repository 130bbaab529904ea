"""A host-device network through the node's Multus thick: the host link moves into the pod
(renamed to the pod's interface name, with its static address) and back when the pod goes.

The Multus daemon runs its delegates chrooted into the host's root (``chrootDir``), in the
pod's network namespace found through its ``/run/netns`` mount: this is the path where the
namespace and mount propagation settings of the node matter most.
"""

from __future__ import annotations

import pytest

from harness import underlay, verify
from harness.cluster import pod_ready, wait_for
from harness.node import cri
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import HostDeviceNetworkArgs
from tests.e2e.nadspace import nad_namespace

pytestmark = pytest.mark.e2e

DEVICE = "np-thd0"


def test_host_device_moves_into_the_pod_and_back(pod_network: NetworkHandle) -> None:
    link = underlay.Link(DEVICE, movable=True)
    args = HostDeviceNetworkArgs.parse({"device": DEVICE, "ipam": {
        "type": "static", "addresses": [{"address": "192.0.2.50/24"}]}})
    with nad_namespace(pod_network, "hostdev") as space:
        space.create_nad("hostdev-conf", args.cni_config("hostdev-conf"))
        pod = space.create_pod("pod-hostdev", [{"name": "hostdev-conf", "interface": "net1"}])
        api = pod_network.node.cluster.api()
        path = "/api/v1/namespaces/hostdev/pods/pod-hostdev"
        wait_for("the pod to run", lambda: pod_ready(api.get(path)), timeout=90)
        netns = cri.pod_netns("hostdev", "pod-hostdev", pod.metadata.uid)
        assert DEVICE not in underlay.host_links()
        assert link.peer in underlay.host_links()
        _, addrs = verify.link_state(netns, "net1")
        assert addrs == {"192.0.2.50/24"}
        api.delete(path)
        wait_for("the pod to go", lambda: api.get_or_none(path) is None, timeout=90)
        wait_for("the device back on the host", lambda: DEVICE in underlay.host_links(),
                 timeout=30)
