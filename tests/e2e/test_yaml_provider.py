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
from harness.paths import REPO_ROOT
from harness.privilege import is_root
from harness.pytest_fixtures import ClusterHandle, NodeHandle
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION

pytestmark = pytest.mark.e2e

NAMESPACE = "np-yaml"
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
    from kubernetes import client

    core: Any = client.CoreV1Api(cluster.api_client())
    created = False
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        created = True
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        yield NAMESPACE
    finally:
        if created:
            core.delete_namespace(NAMESPACE)


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


def _nad(custom: Any, name: str) -> Any:
    from kubernetes import client

    try:
        return custom.get_namespaced_custom_object(NAD_GROUP, NAD_VERSION, NAMESPACE,
                                                   NAD_PLURAL, name)
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _pod(core: Any, name: str) -> Any:
    from kubernetes import client

    try:
        return core.read_namespaced_pod(name, NAMESPACE)
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _network_status(core: Any, pod: str, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = _pod(core, pod)
        notes = (found.metadata.annotations or {}) if found is not None else {}
        if NETWORK_STATUS_ANNOTATION in notes:
            status: list[dict[str, Any]] = json.loads(notes[NETWORK_STATUS_ANNOTATION])
            if any(s.get("interface") == "net1" for s in status):
                return status
        if time.monotonic() > deadline:
            raise AssertionError(f"pod {NAMESPACE}/{pod} has no net1 in its network-status "
                                 f"after {timeout:.0f}s: {notes}")
        time.sleep(1)


def test_yaml_program_up_attaches_and_destroys(cluster: ClusterHandle, namespace: str,
                                               master_link: str, tmp_path: Path) -> None:
    from kubernetes import client

    core: Any = client.CoreV1Api(cluster.api_client())
    custom: Any = client.CustomObjectsApi(cluster.api_client())
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

        nad = _nad(custom, "storage")
        assert nad is not None
        config = json.loads(nad["spec"]["config"])
        assert (config["type"], config["master"], config["mtu"]) == ("macvlan", MASTER, 1400)
        assert config["ipam"]["rangeStart"] == POOL[0]

        status = _network_status(core, "app")
        [net1] = [s for s in status if s.get("interface") == "net1"]
        assert net1["name"] == f"{NAMESPACE}/storage", net1
        first, last = (ipaddress.IPv4Address(a) for a in POOL)
        addrs = [ipaddress.IPv4Address(a.split("/")[0]) for a in net1.get("ips", [])]
        assert addrs and all(first <= a <= last for a in addrs), net1

        started = time.monotonic()
        gone = st.destroy(on_output=engine.printer())
        print(f"pulumi destroy (YAML program): {time.monotonic() - started:.1f}s")
        assert gone.summary.result == "succeeded"
        deadline = time.monotonic() + 60
        while _pod(core, "app") is not None and time.monotonic() < deadline:
            time.sleep(1)
        assert _pod(core, "app") is None
        assert _nad(custom, "storage") is None
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
    from kubernetes import client

    custom: Any = client.CustomObjectsApi(cluster.api_client())
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
        assert _nad(custom, "storage") is None
        deployment = st.export_stack().deployment or {}
        assert deployment.get("resources") in (None, [])
    finally:
        st.workspace.remove_stack("bad")
