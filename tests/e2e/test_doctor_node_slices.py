"""``netplumb doctor`` names a NAD whose whereabouts IPAM sets ``node_slice_size`` on a
cluster where the node-slice controller does not run (the platform's default), and the pod
waiting on it.

With ``node_slice_size``, whereabouts allocates from the node's slice of the range, which it
looks up in the network's NodeSlicePool; only the node-slice controller makes that object.
Without it every ADD on the network fails and the pod stays ContainerCreating, its
``FailedCreatePodSandBox`` events saying nothing about why. Doctor names the NAD, the pod, the
missing controller and the fix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.cli.main import main
from netplumb.cni.config import parse_cni_config
from netplumb.kube import Kube
from netplumb.ops.doctor import ClusterFinding, diagnose
from netplumb.ops.ipam_state import NODE_SLICE_CONTROLLER, running_command
from netplumb.ops.live import read_snapshot
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "doctor-slices"
NAD = "sliced"


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


def _finding(kube: Kube) -> ClusterFinding | None:
    d = diagnose(read_snapshot(kube, [NS]))
    return next((f for f in d.findings if f.check == "ipam-controller"
                 and f.subject == f"NetworkAttachmentDefinition {NS}/{NAD}"), None)


def test_doctor_names_node_slices_without_their_controller(
        space: NadSpace, cluster: ClusterHandle, capsys: pytest.CaptureFixture[str]) -> None:
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    controllers = [d for d in kube.list("apps/v1", "Deployment")
                   if running_command(d, NODE_SLICE_CONTROLLER)]
    assert controllers == [], "the platform runs no node-slice controller (its default)"
    space.create_nad(NAD, parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": NAD, "type": "bridge", "bridge": "np-dslice0",
        "ipam": {"type": "whereabouts", "range": "192.0.2.128/25", "node_slice_size": "/28",
                 "network_name": "np-doctor-slices"}})))
    space.create_pod("waits", [{"name": NAD, "interface": "net1"}])

    found: ClusterFinding | None = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = _finding(kube)
        pod = kube.get("v1", "Pod", "waits", NS)
        if found is not None and found.pods and pod is not None and pod["spec"].get(
                "nodeName"):
            break
        time.sleep(1)
    assert found is not None
    pod = kube.get("v1", "Pod", "waits", NS)
    assert pod is not None
    assert pod["status"].get("phase") == "Pending", pod["status"]

    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    [f] = [f for f in doc["findings"] if f["check"] == "ipam-controller"]
    assert f["severity"] == "error"
    assert f["subject"] == f"NetworkAttachmentDefinition {NS}/{NAD}"
    assert f["pods"] == [f"{NS}/waits"]
    assert f["field"] == "spec.config.ipam.node_slice_size"
    assert "sets node_slice_size /28" in f["message"]
    assert "NodeSlicePool np-doctor-slices" in f["message"]
    assert "no node-slice controller runs in the cluster" in f["message"]
    assert "node_slice_controller: true" in f["fix"]

    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig)])
    text = capsys.readouterr().out
    assert code == 2
    assert f"NetworkAttachmentDefinition {NS}/{NAD}:" in text and f"pods: {NS}/waits" in text
