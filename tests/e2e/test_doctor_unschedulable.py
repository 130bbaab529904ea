"""``netplumb doctor`` names pods the real scheduler cannot place, with the cause and the fix.

Two pods no node can take: one requests ``intel.com/sriov: 1`` (no device plugin on the
embedded nodes advertises it, as on a cluster whose SR-IOV pool found no VFs), one has a
``nodeSelector`` label no node carries. kube-scheduler sets their ``PodScheduled`` condition
to ``False``/``Unschedulable`` and records ``FailedScheduling``; doctor groups them by the
cause its message gives: the device resource, and the node selection with the missing label.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.cli.main import main
from netplumb.kube import Kube
from netplumb.ops.doctor import ClusterFinding, diagnose
from netplumb.ops.live import read_snapshot
from tests.e2e.nadspace import NadSpace, nad_namespace, pod_body

pytestmark = pytest.mark.e2e

NS = "doctor-unsched"
RESOURCE = "intel.com/sriov"
LABEL, VALUE = "netplumb.test/doctor-zone", "nowhere"


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


def _unschedulable(kube: Kube) -> dict[str, ClusterFinding]:
    d = diagnose(read_snapshot(kube, [NS]))
    return {f.check: f for f in d.findings if f.check.startswith("unschedulable:")}


def test_doctor_names_unschedulable_pods_by_cause(space: NadSpace, cluster: ClusterHandle,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    device: dict[str, Any] = pod_body("wants-vf")
    device["spec"]["containers"][0]["resources"] = {"requests": {RESOURCE: "1"},
                                                    "limits": {RESOURCE: "1"}}
    space.add_pod(device)
    space.create_pod("wants-label", nodeSelector={LABEL: VALUE})

    wanted = {"unschedulable:device", "unschedulable:selector"}
    found: dict[str, ClusterFinding] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = _unschedulable(kube)
        if wanted <= set(found):
            break
        time.sleep(1)
    assert set(found) == wanted, [f.to_dict() for f in found.values()]

    # the scheduler's own verdict, as doctor read it
    for name in ("wants-vf", "wants-label"):
        pod = kube.get("v1", "Pod", name, NS)
        assert pod is not None and not pod["spec"].get("nodeName")
        [cond] = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert (cond["status"], cond["reason"]) == ("False", "Unschedulable"), cond

    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    by_check = {f["check"]: f for f in doc["findings"] if f["check"].startswith("unschedulable:")}
    assert set(by_check) == wanted
    vf = by_check["unschedulable:device"]
    assert vf["severity"] == "error" and vf["subject"] == f"Resource {RESOURCE}"
    assert vf["pods"] == [f"{NS}/wants-vf"]
    assert re.search(rf"\d+ Insufficient {re.escape(RESOURCE)}", vf["message"]), vf["message"]
    advertised = [n["metadata"]["name"] for n in kube.list("v1", "Node")
                  if (n.get("status") or {}).get("allocatable", {}).get(RESOURCE, "0") != "0"]
    if not advertised:
        assert f"{RESOURCE}, which no node advertises" in vf["message"]
    assert "resourceName sriov and prefix intel.com" in vf["fix"]
    label = by_check["unschedulable:selector"]
    assert label["subject"] == f"Node selection {LABEL}={VALUE}"
    assert label["pods"] == [f"{NS}/wants-label"]
    assert f"no node has label {LABEL}={VALUE}" in label["message"]
    assert "didn't match Pod's node affinity/selector" in label["message"]
    assert f"kubectl label node <node> {LABEL}={VALUE}" in label["fix"]

    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig)])
    text = capsys.readouterr().out
    assert code == 2
    assert f"pods: {NS}/wants-vf" in text and f"pods: {NS}/wants-label" in text
