"""``netplumb doctor`` on three deliberately broken NADs, through the apiserver, the node and
real Multus: each NAD is named with the pods it affects and a fix.

* ``badjson``: its spec.config is not valid JSON (Multus fails to unmarshal it);
* ``nomaster``: a macvlan whose master link does not exist on the node (the plugin's bare
  ``Link not found``);
* ``tiny``: a host-local pool of two addresses, with three pods on it, all on one node
  (host-local allocates per node: on two nodes the pool would hold two addresses on each).

A healthy NAD and pod in the same namespace are not named.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.cli.main import main
from netplumb.cni.config import parse_cni_config
from netplumb.kube import Kube
from netplumb.ops.doctor import diagnose
from netplumb.ops.live import read_snapshot
from netplumb.render.nad import NAD_API_VERSION, NAD_KIND
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "doctor-broken"
BRIDGE, OK_BRIDGE = "np-doc0", "np-doc1"
MISSING_MASTER = "ens9np7"
"""Not ``np-…``: the embedded nodes create no such link, as nodes without that NIC."""
TINY_NODE = "worker-1"
"""Where the tiny pool's three pods run: one node, one host-local allocator for its pool."""


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


def _pod(space: NadSpace, name: str, nad: str, node: str | None = None) -> None:
    space.add_pod({
        "metadata": {"name": name, "annotations": {
            "k8s.v1.cni.cncf.io/networks": json.dumps([{"name": nad, "interface": "net1"}])}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                 "command": ["sleep", "86400"]}],
                 "terminationGracePeriodSeconds": 0,
                 **({"nodeSelector": {"kubernetes.io/hostname": node}} if node else {})}})


def test_three_broken_nads_named_with_pods_and_fixes(space: NadSpace, cluster: ClusterHandle,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    kube.create({"apiVersion": NAD_API_VERSION, "kind": NAD_KIND,
                 "metadata": {"name": "badjson", "namespace": NS},
                 "spec": {"config": '{"cniVersion": "1.0.0", "name": "badjson", '
                                    '"type": "macvlan", "master": '}})
    space.create_nad("nomaster", parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": "nomaster", "type": "macvlan",
        "master": MISSING_MASTER, "ipam": {"type": "host-local", "subnet": "198.18.20.0/24"}})))
    space.create_nad("tiny", parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": "tiny", "type": "bridge", "bridge": BRIDGE,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.21.0/24",
                                                    "rangeStart": "198.18.21.10",
                                                    "rangeEnd": "198.18.21.11"}]]}})))
    space.create_nad("fine", parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": "fine", "type": "bridge", "bridge": OK_BRIDGE,
        "ipam": {"type": "host-local", "subnet": "198.18.22.0/24"}})))
    assert TINY_NODE in space.nodes.names, space.nodes.names
    for name, nad in (("a-json", "badjson"), ("b-master", "nomaster"), ("c-pool-1", "tiny"),
                      ("c-pool-2", "tiny"), ("c-pool-3", "tiny"), ("d-fine", "fine")):
        _pod(space, name, nad, TINY_NODE if nad == "tiny" else None)
    wanted = {f"NetworkAttachmentDefinition {NS}/{n}" for n in ("badjson", "nomaster", "tiny")}
    deadline = time.monotonic() + 90
    subjects: set[str] = set()
    while time.monotonic() < deadline:
        d = diagnose(read_snapshot(kube, [NS]))
        subjects = {f.subject for f in d.findings if f.severity == "error"}
        running = [p for p in kube.list("v1", "Pod", namespace=NS)
                   if p["status"].get("phase") == "Running"]
        if subjects >= wanted and len(running) == 3:
            break
        time.sleep(1)
    assert subjects == wanted

    started = time.monotonic()
    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig), "--json"])
    took = time.monotonic() - started
    doc = json.loads(capsys.readouterr().out)
    print(f"doctor on {NS}: {took:.2f}s")
    assert code == 2
    errors: dict[str, Any] = {}
    for f in doc["findings"]:
        if f["severity"] == "error":
            assert f["subject"] not in errors, f"{f['subject']} reported twice"
            errors[f["subject"]] = f
    nad = f"NetworkAttachmentDefinition {NS}/"
    bad = errors[nad + "badjson"]
    assert bad["pods"] == [f"{NS}/a-json"] and bad["field"] == "spec.config"
    assert "malformed JSON" in bad["message"] and "stuck creating" in bad["message"]
    master = errors[nad + "nomaster"]
    assert master["pods"] == [f"{NS}/b-master"] and master["check"] == "sandbox:master-missing"
    assert MISSING_MASTER in master["fix"] and "spec.config.master" in master["fix"]
    pool = errors[nad + "tiny"]
    assert pool["check"] == "sandbox:pool-exhausted"
    [stuck] = pool["pods"]
    assert stuck.startswith(f"{NS}/c-pool-")
    assert "held: 2/2 on node" in pool["message"] and "spec.config.ipam.ranges" in pool["fix"]
    assert not [f for f in doc["findings"]
                if f["subject"].endswith("/fine") or f"{NS}/d-fine" in f["pods"]]
    assert all(f["fix"] for f in errors.values())

    code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig)])
    text = capsys.readouterr().out
    assert code == 2
    for name in ("badjson", "nomaster", "tiny"):
        assert f"{NS}/{name}:" in text
    assert text.count("        fix:  ") >= 3
