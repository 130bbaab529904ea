"""The dev stack's networks and pods through the real Pulumi engine on the real node.

up → objects in the apiserver exactly as rendered, pods Running → a second up changes nothing
→ a manual edit shows in ``preview --refresh`` and the next up undoes it → destroy removes all.
An invalid stack fails at preview with netplumb's error and nothing reaches the apiserver.

The node's network (Flannel, Multus, the NAD CRD) belongs to whoever installed it (``make
run``'s dev stack, or the session's): one Multus per cluster. So this test deploys the dev
stack's networks and pods without its ``multus`` block, into a namespace of its own.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from harness import engine, podnetwork
from harness.cluster.api import Api, wait_for
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.args.stack import CONFIG_KEY, load_stack_file
from netplumb.ownership import OWNER_ANNOTATION
from netplumb.plan import build_plan, render_plan
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION

pytestmark = pytest.mark.e2e

STACK = "devapps"
NS = "stack-e2e"


def dev_apps_stack(namespace: str = NS) -> str:
    """The dev stack file without its ``multus`` block, its networks and pods moved into
    ``namespace``."""
    doc = yaml.safe_load((REPO_ROOT / "stacks/Pulumi.dev.yaml").read_text())
    spec = doc["config"][CONFIG_KEY]
    spec.pop("multus", None)
    spec["install_nad_crd"] = False
    spec["guardrails"] = {"pod_security": [{"namespace": namespace, "enforce": "baseline",
                                            "create": True}],
                          # the network roles are cluster-wide: the platform's to declare
                          "rbac": None}
    # the namespace is cluster-wide and this stack made it: its destroy removes it
    spec["cluster_objects"] = {"on_destroy": "delete"}
    for item in spec["networks"] + spec["pods"]:
        item["namespace"] = namespace
    return str(yaml.safe_dump(doc, sort_keys=False))


NADS = f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{{ns}}/{NAD_PLURAL}"
NAD_CRD = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{NAD_PLURAL}.{NAD_GROUP}"


def _nads(api: Api, namespace: str = NS) -> dict[str, Any]:
    items = api.get(NADS.format(ns=namespace))["items"]
    return {i["metadata"]["name"]: i for i in items
            if i["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") == "netplumb"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return engine.project_copy(tmp_path_factory.mktemp("project"), {STACK: dev_apps_stack()})


@pytest.fixture(scope="module")
def dev(pod_network: NetworkHandle, project: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    cluster = pod_network.node.cluster
    backend = tmp_path_factory.mktemp("backend")
    # the stack's underlay links on every node, joined across them
    made = pod_network.node.ensure_underlay(
        podnetwork.stack_links(project / f"stacks/Pulumi.{STACK}.yaml"))
    st = engine.stack(STACK, work_dir=project, kubeconfig=cluster.kubeconfig, backend=backend)
    try:
        yield st
    finally:
        try:
            st.destroy(on_output=engine.printer())
        finally:
            st.workspace.remove_stack(STACK)
            pod_network.node.remove_underlay(made)


def test_up_creates_exactly_the_rendered_objects(dev: auto.Stack, cluster: ClusterHandle,
                                                 pod_network: NetworkHandle,
                                                 project: Path) -> None:
    """(The CRD is the node's Multus installation's: checked to be there.)"""
    started = time.monotonic()
    result = dev.up(on_output=engine.printer())
    print(f"pulumi up (cold): {time.monotonic() - started:.1f}s")
    assert result.summary.result == "succeeded"
    api = cluster.api()
    expected = render_plan(build_plan(load_stack_file(project / f"stacks/Pulumi.{STACK}.yaml")))
    want_nads = {m["metadata"]["name"]: m for m in expected
                 if m["kind"] == "NetworkAttachmentDefinition"}
    got_nads = _nads(api)
    assert set(got_nads) == set(want_nads)
    for name, want in want_nads.items():
        got = got_nads[name]
        assert json.loads(got["spec"]["config"]) == json.loads(want["spec"]["config"])
        assert want["metadata"]["labels"].items() <= got["metadata"]["labels"].items()
        assert got["metadata"]["annotations"][OWNER_ANNOTATION] == f"netplumb/{STACK}"
    crd = api.get(NAD_CRD)
    assert crd["spec"]["names"]["kind"] == "NetworkAttachmentDefinition"
    assert crd["metadata"]["annotations"][OWNER_ANNOTATION] == pod_network.owner  # not taken over
    want_pods = {m["metadata"]["name"]: m for m in expected if m["kind"] == "Pod"}
    pods = {p["metadata"]["name"]: p for p in api.get(
        f"/api/v1/namespaces/{NS}/pods",
        {"labelSelector": "app.kubernetes.io/managed-by=netplumb"})["items"]}
    assert set(pods) == set(want_pods)
    for name, want in want_pods.items():
        got_ann = pods[name]["metadata"].get("annotations") or {}
        key = "k8s.v1.cni.cncf.io/networks"
        assert json.loads(got_ann[key]) == json.loads(want["metadata"]["annotations"][key])
        assert pods[name]["status"].get("phase") == "Running"


def test_second_up_changes_nothing(dev: auto.Stack) -> None:
    started = time.monotonic()
    result = dev.up(on_output=engine.printer())
    print(f"pulumi up (no-op): {time.monotonic() - started:.1f}s")
    changes = result.summary.resource_changes or {}
    assert set(changes) == {"same"}, changes


def test_manual_edit_is_seen_and_undone(dev: auto.Stack, cluster: ClusterHandle) -> None:
    api = cluster.api()
    before = _nads(api)["bridge-conf"]["spec"]["config"]
    edited = json.loads(before)
    edited["ipam"]["ranges"][0][0]["rangeEnd"] = "203.0.113.20"
    api.merge_patch(NADS.format(ns=NS) + "/bridge-conf",
                    {"spec": {"config": json.dumps(edited)}})
    preview = dev.preview(refresh=True, diff=True, on_output=engine.printer())
    assert preview.change_summary.get(auto.OpType.UPDATE, 0) >= 1, preview.change_summary
    assert "203.0.113.20" in preview.stdout
    dev.up(on_output=engine.printer())
    after = _nads(api)["bridge-conf"]["spec"]["config"]
    assert json.loads(after) == json.loads(before)


def test_invalid_stack_fails_at_preview_and_reaches_nothing(
        cluster: ClusterHandle, platform: str, tmp_path: Path) -> None:
    bad = (Path(__file__).parents[2] / "stacks/Pulumi.dev.yaml").read_text().replace(
        "rangeEnd: 192.0.2.150", "rangeEnd: 192.0.3.150").replace(
        "name: macvlan-conf\n", "name: macvlan-invalid\n").replace(
        "{name: macvlan-conf,", "{name: macvlan-invalid,")
    project = engine.project_copy(tmp_path / "project", {"broken": bad})
    st = engine.stack("broken", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp_path / "backend")
    try:
        with pytest.raises(auto.CommandError) as err:
            st.preview(on_output=engine.printer())
        text = str(err.value)
        assert "PlanError" in text or "netplumb" in text
        assert "networks[0].ipam.rangeEnd" in text
        assert "192.0.3.150" in text
        assert "macvlan-invalid" not in _nads(cluster.api())
    finally:
        st.workspace.remove_stack("broken")


def test_destroy_removes_what_the_stack_made(dev: auto.Stack, cluster: ClusterHandle,
                                             platform: str) -> None:
    dev.destroy(on_output=engine.printer())
    api = cluster.api()
    gone = False
    with contextlib.suppress(TimeoutError):
        gone = wait_for(f"namespace {NS} gone",
                        lambda: api.get_or_none(f"/api/v1/namespaces/{NS}") is None,
                        timeout=90, interval=0.5)
    assert gone, f"namespace {NS} (its pods and NADs) still there"
    # the CRD belongs to the platform (the node's Multus installation), not to this stack
    crd = api.get(NAD_CRD)
    assert crd["metadata"]["annotations"][OWNER_ANNOTATION] == platform


def _capacity_stack(pods: int) -> str:
    # host-local allocates per node: the pods are pinned to one node, so that their demand
    # really meets the one pool of 20 addresses (as it did on the single node)
    pod_list = "\n".join(f"      - {{name: cap-{i}, networks: [{{name: small}}],\n"
                         f"         node_selector: {{kubernetes.io/hostname: worker-1}}}}"
                         for i in range(pods))
    return f"""config:
  netplumb:spec:
    networks:
      - name: small
        type: bridge
        bridge: np-cap0
        ipam: {{type: host-local, subnet: 192.0.2.0/24, rangeStart: 192.0.2.10,
               rangeEnd: 192.0.2.29}}
    pods:
{pod_list}
"""


@pytest.mark.parametrize(("pods", "fails"), [(21, True), (17, False)])
def test_capacity_at_preview(cluster: ClusterHandle, platform: str, tmp_path: Path, pods: int,
                             fails: bool) -> None:
    """20 addresses: 21 pods fail at preview naming network, pool and demand; 17 (85 %) warn."""
    project = engine.project_copy(tmp_path / "project", {"cap": _capacity_stack(pods)})
    st = engine.stack("cap", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp_path / "backend")
    try:
        if fails:
            with pytest.raises(auto.CommandError) as err:
                st.preview(on_output=engine.printer())
            text = str(err.value)
            assert "network default/small: demand 21 addresses" in text, text[-2000:]
            assert "against a pool of size 20" in text
        else:
            result = st.preview(on_output=engine.printer())
            out = result.stdout
            assert "network default/small: demand 17 addresses" in out, out[-2000:]
            assert "pool of size 20" in out and "85% used" in out
            assert result.change_summary.get(auto.OpType.CREATE, 0) >= 1
            # the pods go as one object set: every one of them is in the preview
            assert all(f'"default/cap-{i}"' in out or f"Pod/default/cap-{i}" in out
                       for i in range(pods)), out[-3000:]
    finally:
        st.workspace.remove_stack("cap")
