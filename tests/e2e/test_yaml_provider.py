"""netplumb from Pulumi YAML: `pulumi package add` of the component provider, then up/destroy.

The provider (``provider/``: ``PulumiPlugin.yaml`` + ``component_provider_host``) runs through
the project's own Python language host (its RunPlugin) and the YAML program through
``pulumi-language-yaml``, both from the tool cache. A YAML program declaring a
``netplumb:index:MacvlanNetwork`` and a ``netplumb:index:MultiHomedPod`` goes up on the
embedded cluster; the pod's ``k8s.v1.cni.cncf.io/network-status`` (what Multus reports)
names the network with an address from its pool; destroy removes both. Bad args fail the
preview naming the field as the YAML program spells it, and nothing reaches the apiserver.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from harness import engine, tools
from harness.cluster.api import Api, wait_for
from harness.paths import REPO_ROOT
from harness.privilege import is_root
from harness.pytest_fixtures import ClusterHandle, NodeHandle
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION

pytestmark = pytest.mark.e2e

NAMESPACE = "np-yaml"
NADS = f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{NAMESPACE}/{NAD_PLURAL}"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
MASTER = "np-yaml0"
POOL = ("198.51.100.210", "198.51.100.219")

PROGRAM = f"""\
name: netplumb-yaml
description: A Pulumi YAML program using netplumb's components
runtime: yaml
resources:
  storage:
    type: netplumb:index:MacvlanNetwork
    properties:
      namespace: {NAMESPACE}
      master: {MASTER}
      mode: bridge
      mtu: 1400
      ipam:
        type: host-local
        subnet: 198.51.100.0/24
        rangeStart: {POOL[0]}
        rangeEnd: {POOL[1]}
  app:
    type: netplumb:index:MultiHomedPod
    properties:
      namespace: {NAMESPACE}
      networks:
        - name: storage
          interface: net1
    options:
      dependsOn:
        - ${{storage}}
outputs:
  nad: ${{storage.nadName}}
  config: ${{storage.config}}
  pod: ${{app.podName}}
"""


def _tools_env(cluster: ClusterHandle, backend: Path) -> dict[str, str]:
    tools.ensure(["pulumi-language-yaml"])
    return engine.engine_env(cluster.kubeconfig, backend)


def _package_add(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["pulumi", "package", "add", str(REPO_ROOT / "provider")],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    print(proc.stdout, proc.stderr)
    return proc


def _project(root: Path, program: str, env: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(program)
    proc = _package_add(root, env)
    assert proc.returncode == 0, proc.stderr
    assert "Added package netplumb" in proc.stderr
    return root


def _stack(name: str, project: Path, cluster: ClusterHandle, backend: Path) -> auto.Stack:
    return engine.stack(name, work_dir=project, kubeconfig=cluster.kubeconfig, backend=backend)


@pytest.fixture(scope="module")
def namespace(cluster: ClusterHandle, platform: str) -> Iterator[str]:
    api = cluster.api()
    # None: it was there already (409), and stays
    created = api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}) is not None
    try:
        yield NAMESPACE
    finally:
        if created:
            api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")


@pytest.fixture(scope="module")
def master_link(node: NodeHandle) -> Iterator[str]:
    """The macvlan master on every node (the pod may land on either), joined across them."""
    if not is_root():
        pytest.skip("needs root to create the macvlan master link")
    created = node.ensure_underlay([MASTER])
    try:
        yield MASTER
    finally:
        node.remove_underlay(created)


def _nad(api: Api, name: str) -> Any:
    return api.get_or_none(f"{NADS}/{name}")


def _pod(api: Api, name: str) -> Any:
    return api.get_or_none(f"{PODS}/{name}")


def _network_status(api: Api, pod: str, timeout: float = 90) -> list[dict[str, Any]]:
    def net1() -> list[dict[str, Any]] | None:
        found = _pod(api, pod)
        notes = (found["metadata"].get("annotations") or {}) if found is not None else {}
        if NETWORK_STATUS_ANNOTATION in notes:
            status: list[dict[str, Any]] = json.loads(notes[NETWORK_STATUS_ANNOTATION])
            if any(s.get("interface") == "net1" for s in status):
                return status
        return None
    return wait_for(f"pod {NAMESPACE}/{pod} with net1 in its network-status", net1,
                    timeout=timeout, interval=1)


def test_yaml_program_up_attaches_and_destroys(cluster: ClusterHandle, namespace: str,
                                               master_link: str, tmp_path: Path) -> None:
    api = cluster.api()
    env = _tools_env(cluster, tmp_path / "backend")
    started = time.monotonic()
    project = _project(tmp_path / "program", PROGRAM, env)
    print(f"pulumi package add: {time.monotonic() - started:.1f}s")
    packages = (project / "Pulumi.yaml").read_text().split("packages:", 1)[1]
    assert str(REPO_ROOT / "provider") in packages

    st = _stack("yaml", project, cluster, tmp_path / "backend")
    try:
        started = time.monotonic()
        result = st.up(on_output=engine.printer())
        print(f"pulumi up (YAML program): {time.monotonic() - started:.1f}s")
        assert result.summary.result == "succeeded"
        outputs = {k: v.value for k, v in result.outputs.items()}
        assert outputs["nad"] == "storage" and outputs["pod"] == "app"
        assert json.loads(outputs["config"])["master"] == MASTER

        nad = _nad(api, "storage")
        assert nad is not None
        config = json.loads(nad["spec"]["config"])
        assert (config["type"], config["master"], config["mtu"]) == ("macvlan", MASTER, 1400)
        assert config["ipam"]["rangeStart"] == POOL[0]

        status = _network_status(api, "app")
        [net1] = [s for s in status if s.get("interface") == "net1"]
        assert net1["name"] == f"{NAMESPACE}/storage", net1
        first, last = (ipaddress.IPv4Address(a) for a in POOL)
        addrs = [ipaddress.IPv4Address(a.split("/")[0]) for a in net1.get("ips", [])]
        assert addrs and all(first <= a <= last for a in addrs), net1

        started = time.monotonic()
        gone = st.destroy(on_output=engine.printer())
        print(f"pulumi destroy (YAML program): {time.monotonic() - started:.1f}s")
        assert gone.summary.result == "succeeded"
        with contextlib.suppress(TimeoutError):
            wait_for(f"pod {NAMESPACE}/app gone", lambda: _pod(api, "app") is None,
                     timeout=60, interval=1)
        assert _pod(api, "app") is None
        assert _nad(api, "storage") is None
    finally:
        try:
            st.destroy(on_output=engine.printer())
        finally:
            st.workspace.remove_stack("yaml")


@pytest.mark.parametrize(("fault", "path", "words"), [
    (("mode: bridge", "mode: bridgee"), "mode", ["bridgee", "bridge"]),
    ((f"rangeStart: {POOL[0]}", "rangeStart: 203.0.113.5"), "ipam.rangeStart",
     ["203.0.113.5", "198.51.100.0/24"]),
    (("interface: net1", "interface: this-name-is-too-long"), "networks[0].interface",
     ["this-name-is-too-long"]),
])
def test_bad_args_fail_at_preview_naming_the_field(
        cluster: ClusterHandle, namespace: str, tmp_path: Path, fault: tuple[str, str],
        path: str, words: list[str]) -> None:
    api = cluster.api()
    before, after = fault
    assert before in PROGRAM
    env = _tools_env(cluster, tmp_path / "backend")
    project = _project(tmp_path / "program", PROGRAM.replace(before, after), env)
    st = _stack("bad", project, cluster, tmp_path / "backend")
    try:
        with pytest.raises(auto.CommandError) as failed:
            st.preview(on_output=engine.printer())
        text = str(failed.value)
        assert f"{path}:" in text, text
        for word in words:
            assert word in text, (word, text)
        assert "Traceback" not in text
        assert _nad(api, "storage") is None
        deployment = st.export_stack().deployment or {}
        assert deployment.get("resources") in (None, [])
    finally:
        st.workspace.remove_stack("bad")
