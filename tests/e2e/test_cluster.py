"""The embedded control plane and node agent, end to end.

Needs the built toolchain (``make tools``); runs against the session ``cluster`` fixture,
except the lifecycle test at the bottom, which runs its own cluster in a temporary directory
so that ``down`` can be checked without disturbing the shared one.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness import cluster as embedded
from harness import node as node_agent
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def wait_for(
    what: str, fn: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2
) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})")


@pytest.fixture(scope="module")
def api(cluster: ClusterHandle) -> node_agent.Api:
    """A small JSON client (the node agent's) on the admin kubeconfig."""
    return node_agent.Api(cluster.kubeconfig)


@pytest.fixture
def namespace(api: node_agent.Api) -> Iterator[str]:
    name = f"np-e2e-{uuid.uuid4().hex[:8]}"
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    wait_for(
        "the default ServiceAccount",
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"),
    )
    try:
        yield name
    finally:
        api.request("DELETE", f"/api/v1/namespaces/{name}")


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    conds = {c["type"]: c["status"] for c in st.get("conditions") or []}
    return bool(
        st.get("phase") == "Running"
        and all(
            conds.get(t) == "True"
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        )
        and st.get("podIP")
        and st.get("hostIP") == "127.0.0.1"
        and st.get("startTime")
    )


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}], **spec},
    }


def _expected_version() -> str:
    data = tomllib.loads((REPO_ROOT / "tools/kubernetes/tool.toml").read_text())
    return str(data["version"])


# --------------------------------------------------------------------------- control plane


def test_version_is_stamped(cluster: ClusterHandle, api: node_agent.Api) -> None:
    version = api.get("/version")
    if not cluster.embedded:
        pytest.skip("external cluster: its version is not ours to check")
    want = _expected_version()
    assert version["gitVersion"] == want
    assert (version["major"], version["minor"].rstrip("+")) == ("1", want.split(".")[1])
    binary = embedded.find_binary("kube-apiserver")
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"Kubernetes {want}"


def test_node_is_ready_with_a_fresh_lease(cluster: ClusterHandle, api: node_agent.Api) -> None:
    if not cluster.embedded:
        pytest.skip("external cluster")
    node = api.get(f"/api/v1/nodes/{embedded.NODE_NAME}")
    assert embedded.node_ready(node)
    conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conds == {
        "Ready": "True",
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
    }
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    for key in ("cpu", "memory", "pods"):
        assert node["status"]["allocatable"][key] == node["status"]["capacity"][key]
    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == api.get("/version")["gitVersion"]

    lease_path = (
        f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{embedded.NODE_NAME}"
    )
    first = api.get(lease_path)["spec"]["renewTime"]
    second = wait_for(
        "a lease renewal",
        lambda: (t := api.get(lease_path)["spec"]["renewTime"]) != first and t,
        timeout=node_agent.LEASE_RENEW_S * 2 + 5,
    )
    renewed = dt.datetime.fromisoformat(second.replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - renewed).total_seconds()) < 5


def test_everything_listens_on_loopback_only(cluster: ClusterHandle) -> None:
    if not cluster.embedded:
        pytest.skip("external cluster")
    pids = embedded.component_pids()
    assert len(pids) == len(embedded.COMPONENTS)
    sockets = embedded.listening_sockets(pids)
    assert sockets, "the components should be listening somewhere"
    assert {addr for _pid, addr, _port in sockets} == {"127.0.0.1"}, sockets


# --------------------------------------------------------------------------- workloads


def test_daemonset_pod_runs_on_the_node(api: node_agent.Api, namespace: str) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "containers": [
                        {"name": "agent", "image": "registry.k8s.io/pause:3.10"},
                        {"name": "sidecar", "image": "busybox:1.36"},
                    ],
                    "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                },
            },
        },
    }
    api.request("POST", f"/apis/apps/v1/namespaces/{namespace}/daemonsets", ds)

    def ready_ds() -> Any:
        d = api.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/agent")
        st = d.get("status") or {}
        return st.get("desiredNumberScheduled") == 1 and st.get("numberReady") == 1 and d

    wait_for("the DaemonSet to be ready", ready_ds)
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    assert len(pods) == 1
    pod = pods[0]
    assert pod["spec"]["nodeName"] == embedded.NODE_NAME
    assert _pod_ready(pod)
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert set(statuses) == {"agent", "sidecar"}
    for c in statuses.values():
        assert c["ready"] is True and c["started"] is True and "running" in c["state"]
        assert c["containerID"].startswith("containerd://") and "@sha256:" in c["imageID"]
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed"


def test_deployment_becomes_available(api: node_agent.Api, namespace: str) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    api.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", dep)

    def available() -> Any:
        d = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        conds = {c["type"]: c["status"] for c in (d.get("status") or {}).get("conditions") or []}
        return conds.get("Available") == "True" and d["status"].get("readyReplicas") == 3 and d

    wait_for("the Deployment to be Available", available)
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": "app=web"})["items"]
    assert len(pods) == 3 and all(_pod_ready(p) for p in pods)
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3, f"pod IPs must be distinct: {ips}"


def test_deleted_pod_is_finalised(api: node_agent.Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    api.request("POST", path, _pod("victim"))
    wait_for("the pod to run", lambda: _pod_ready(api.get(f"{path}/victim")))
    t = time.monotonic()
    # default grace period (30 s): the node agent must finalise it long before that
    api.request("DELETE", f"{path}/victim")

    def gone() -> bool:
        try:
            api.get(f"{path}/victim")
        except node_agent.ApiError as e:
            return e.status == 404
        return False

    wait_for("the pod to be finalised", gone, timeout=20)
    assert time.monotonic() - t < 20


def test_host_network_pod_gets_the_host_ip(api: node_agent.Api, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    api.request("POST", path, _pod("hostnet", hostNetwork=True))
    pod = wait_for(
        "the pod to run", lambda: (p := api.get(f"{path}/hostnet")) and _pod_ready(p) and p
    )
    assert pod["status"]["podIP"] == "127.0.0.1"


# --------------------------------------------------------------------------- node agent


class FlakyNet(node_agent.NullPodNetwork):
    """Fails while ``broken`` is set; records calls."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = threading.Event()
        self.setups: list[str] = []
        self.teardowns: list[str] = []
        self.gc_calls: list[set[str]] = []

    def setup(self, pod: node_agent.Pod) -> list[str]:
        self.setups.append(pod["metadata"]["name"])
        if self.broken.is_set():
            raise node_agent.PodNetworkError("bridge cni0 is on fire")
        return super().setup(pod)

    def teardown(self, pod: node_agent.Pod) -> None:
        self.teardowns.append(pod["metadata"]["name"])
        super().teardown(pod)

    def gc(self, live: Mapping[str, node_agent.Pod]) -> None:
        self.gc_calls.append(set(live))
        super().gc(live)


@pytest.fixture
def extra_node(
    cluster: ClusterHandle, api: node_agent.Api
) -> Iterator[Callable[[FlakyNet], node_agent.NodeAgent]]:
    """Run in-process agents for a second node (cleaned up: agents stopped, Node deleted)."""
    if not cluster.embedded:
        pytest.skip("adds a Node to the cluster")
    name = f"np-test-node-{uuid.uuid4().hex[:6]}"
    agents: list[node_agent.NodeAgent] = []

    def start(net: FlakyNet) -> node_agent.NodeAgent:
        agent = node_agent.NodeAgent(node_agent.Api(cluster.kubeconfig), name, net)
        threading.Thread(target=agent.run, daemon=True).start()
        agents.append(agent)
        return agent

    try:
        yield start
    finally:
        for a in agents:
            a.stop.set()
        for path in (
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
            f"/api/v1/nodes/{name}",
        ):
            try:
                api.request("DELETE", path)
            except node_agent.ApiError as e:
                if e.status != 404:
                    raise


def test_setup_failure_is_an_event_and_retried_then_restart_adopts(
    api: node_agent.Api,
    namespace: str,
    extra_node: Callable[[FlakyNet], node_agent.NodeAgent],
) -> None:
    net = FlakyNet()
    net.broken.set()
    agent = extra_node(net)
    node = agent.node_name
    wait_for(
        "the extra node to be Ready", lambda: embedded.node_ready(api.get(f"/api/v1/nodes/{node}"))
    )
    path = f"/api/v1/namespaces/{namespace}/pods"
    api.request("POST", path, _pod("flaky", nodeName=node))

    def sandbox_events() -> list[Any]:
        evs = api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
        return [
            e
            for e in evs
            if e["involvedObject"]["name"] == "flaky" and e["reason"] == "FailedCreatePodSandBox"
        ]

    (event,) = wait_for("a FailedCreatePodSandBox event", sandbox_events, timeout=30)
    assert event["type"] == "Warning"
    assert "bridge cni0 is on fire" in event["message"]
    assert event["source"] == {"component": "kubelet", "host": node}
    wait_for("a retry", lambda: net.setups.count("flaky") >= 3, timeout=30)
    assert api.get(f"{path}/flaky")["status"]["phase"] == "Pending"
    assert sandbox_events()[0]["count"] >= 2  # repeats are counted on one event

    net.broken.clear()
    pod = wait_for(
        "the pod to run", lambda: (p := api.get(f"{path}/flaky")) and _pod_ready(p) and p, 45
    )
    ip = pod["status"]["podIP"]

    # restart: a new agent (new pod network state) reconciles the running pod and keeps its IP
    agent.stop.set()
    net2 = FlakyNet()
    extra_node(net2)
    wait_for("the new agent to adopt the pod", lambda: "flaky" in net2.setups, timeout=30)
    assert net2.gc_calls and pod["metadata"]["uid"] in net2.gc_calls[0]
    time.sleep(1)
    again = api.get(f"{path}/flaky")
    assert again["status"]["podIP"] == ip and _pod_ready(again)

    api.request("DELETE", f"{path}/flaky")
    wait_for("the teardown", lambda: "flaky" in net2.teardowns, timeout=20)


# --------------------------------------------------------------------------- lifecycle


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_up_is_idempotent_and_down_leaves_nothing(tmp_path: Path) -> None:
    """A private cluster: up, up again (reused), crash-like loss of pidfiles, down."""
    cdir = tmp_path / "cluster"
    if os.environ.get("KUBECONFIG"):
        pytest.skip("external cluster: not starting an embedded one")
    try:
        t = time.monotonic()
        info = embedded.up(cdir, podnet="null")
        elapsed = time.monotonic() - t
        assert info.ready and not info.reused
        print(f"embedded cluster start to Ready: {elapsed:.1f}s")
        assert info.kubeconfig == cdir.resolve() / "admin.kubeconfig"
        pids = embedded.component_pids(cdir)
        assert len(pids) == len(embedded.COMPONENTS)
        ports = {port for _pid, _addr, port in embedded.listening_sockets(pids)}
        assert info.ports is not None and info.ports.apiserver in ports

        again = embedded.up(cdir, podnet="null")
        assert again.reused and again.ready
        assert embedded.component_pids(cdir) == pids

        # a crashed CLI loses its bookkeeping: down must still find the processes
        for pidfile in (cdir / "run").glob("*.pid"):
            pidfile.unlink()
        assert not embedded.status(cdir).ready
        stopped = embedded.down(cdir)
        assert sorted(stopped) == sorted(pids)
    finally:
        embedded.down(cdir)

    assert not cdir.exists()
    assert [p for p in pids if _alive(p)] == []
    assert embedded.listening_sockets(pids) == []
    listening = _listening_ports()
    assert not (ports & listening), f"still listening: {ports & listening}"


def _listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A":
                ports.add(int(parts[1].split(":")[1], 16))
    return ports
