"""``multus.default_network: auto`` on a real cluster: with another default network running
(a stand-in playing Calico's part: a ``calico-node`` DaemonSet, as Calico's manifests name
it), a stack that adds Multus plans Multus and its node plugin and no Flannel, and says what
it found.

Previewed through the engine, not applied: the session's cluster is shared, and its
platform stack owns the cluster's Multus already (the preview adopts what the ownership
check names, which a preview does not act on, as tests/e2e/test_readme_deploy.py does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from harness import engine
from harness.cluster.api import Api, wait_for
from harness.node.images import TOOLBOX_IMAGE
from harness.pytest_fixtures import NetworkHandle

pytestmark = pytest.mark.e2e

NS = "np-othercni"


@pytest.fixture
def calico(pod_network: NetworkHandle) -> Iterator[Api]:
    """A DaemonSet named and labelled as Calico's node agent, running on every node."""
    api = pod_network.node.cluster.api()
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    labels = {"k8s-app": "calico-node"}
    api.create(f"/apis/apps/v1/namespaces/{NS}/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "calico-node", "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "calico-node", "image": TOOLBOX_IMAGE,
                                     "command": ["sleep", "86400"]}],
                     "terminationGracePeriodSeconds": 0}}}})
    try:
        wait_for("the stand-in on every node", lambda: (api.get(
            f"/apis/apps/v1/namespaces/{NS}/daemonsets/calico-node").get("status") or {}
        ).get("numberReady") == len(pod_network.node.nodes), timeout=120)
        yield api
    finally:
        api.delete(f"/api/v1/namespaces/{NS}")
        wait_for(f"namespace {NS} gone",
                 lambda: api.get_or_none(f"/api/v1/namespaces/{NS}") is None,
                 timeout=120, interval=1)


def _preview(st: auto.Stack) -> tuple[bool, str]:
    try:
        result = st.preview(on_output=engine.printer(), diff=True)
        return True, result.stdout + result.stderr
    except auto.CommandError as exc:
        return False, str(exc)


def test_multus_beside_another_default_network_brings_no_flannel(
        calico: Api, pod_network: NetworkHandle, tmp_path: Path) -> None:
    stack = "config:\n  netplumb:spec:\n    multus: {}\n"
    project = engine.project_copy(tmp_path / "project", {"othercni": stack})
    st = engine.stack("othercni", work_dir=project,
                      kubeconfig=pod_network.node.cluster.kubeconfig,
                      backend=tmp_path / "backend")
    try:
        ok, out = _preview(st)
        if not ok:
            # the platform stack owns the cluster's Multus (same names): adopt what the
            # ownership check names, which a preview does not act on
            refs = sorted(set(re.findall(r"cluster_objects\.adopt: \['([^']+)'\]", out))
                          | set(re.findall(r'\(got "([^"]+)"\)', out)))
            assert refs, out[-3000:]
            path = project / "stacks" / "Pulumi.othercni.yaml"
            path.write_text(path.read_text().replace(
                "  netplumb:spec:\n",
                f"  netplumb:spec:\n    cluster_objects: {{adopt: [{', '.join(refs)}]}}\n", 1))
            ok, out = _preview(st)
        assert ok, out[-4000:]
        assert "default_network auto: the cluster runs" in out, out[-3000:]
        assert "Calico (DaemonSet np-othercni/calico-node)" in out, out[-3000:]
        # a diff preview names each resource to create on two lines: its type, then its URN
        planned = set(re.findall(r"\+ (\S+): \(create\)\s*\n\s*\[urn=urn:pulumi:[^\]]*::"
                                 r"([^\]:]+)\]", out))
        names = {n for _, n in planned}
        assert "othercni-multus-daemonset" in names, sorted(planned)
        assert not [n for n in names if "flannel" in n], sorted(planned)
        assert ("netplumb:index:Flannel", "othercni-multus-flannel") not in planned
    finally:
        st.workspace.remove_stack(st.name, force=True)
