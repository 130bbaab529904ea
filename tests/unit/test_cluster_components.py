"""The cluster's processes, one declaration each (name, command line, health probe), as up,
status and a node's restart use them; and the nodes' driver the cluster is handed. Nothing is
started: spawning and waiting are recorded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

import harness.node as node
from harness.cluster import ClusterError, controlplane, lifecycle, processes
from harness.cluster.controlplane import Ports
from harness.cluster.layout import APISERVER_IP, LOOPBACK, Layout, layout, node_specs
from harness.cluster.processes import Component

PORTS = Ports(*range(3001, 3010))


class Recorder:
    """``processes.spawn``, ``wait`` and ``stop``, recorded instead of run."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def spawn(self, lay: Layout, name: str, argv: list[str],
              env: dict[str, str] | None = None) -> int:
        self.calls.append(("spawn", name, env is not None))
        return 4242

    def wait(self, what: str, check: Callable[[], bool], timeout: float, lay: Layout,
             watch: Iterable[str], interval: float = 0.1) -> None:
        self.calls.append(("wait", what, timeout, list(watch)))

    def stop(self, lay: Layout, components: Iterable[str]) -> list[int]:
        self.calls.append(("stop", list(components)))
        return [17]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    for name in ("spawn", "wait", "stop"):
        monkeypatch.setattr(processes, name, getattr(rec, name))
    return rec


def _programs(asked: list[str]) -> Callable[[str], Path]:
    def program(name: str) -> Path:
        asked.append(name)
        return Path(f"/opt/bin/{name}")

    return program


def test_the_control_plane_in_start_order_with_what_each_wait_says(tmp_path: Path) -> None:
    asked: list[str] = []
    table = controlplane.components(layout(tmp_path), PORTS, None, LOOPBACK, _programs(asked))
    assert tuple(c.name for c in table) == controlplane.COMPONENTS
    assert [c.awaited for c in table] == [
        "etcd /health", "kube-apiserver /readyz", "kube-controller-manager /healthz",
        "kube-scheduler /healthz"]
    assert asked == []  # command lines are built when a process starts
    assert [c.argv()[0] for c in table] == [f"/opt/bin/{n}" for n in controlplane.COMPONENTS]
    assert asked == list(controlplane.COMPONENTS)
    assert all(c.env is None for c in table)
    assert not table[1].probe()  # no kubeconfig yet: the apiserver is never ready


def test_the_apiserver_binds_where_it_is_told(tmp_path: Path) -> None:
    def apiserver(ip: str) -> list[str]:
        table = controlplane.components(layout(tmp_path), PORTS, None, ip, _programs([]))
        return table[1].argv()

    assert f"--bind-address={APISERVER_IP}" in apiserver(APISERVER_IP)
    assert "--endpoint-reconciler-type=none" not in apiserver(APISERVER_IP)
    assert "--endpoint-reconciler-type=none" in apiserver(LOOPBACK)
    assert f"--etcd-servers=http://{LOOPBACK}:{PORTS.etcd_client}" in apiserver(LOOPBACK)


def test_a_group_is_spawned_then_awaited_watching_what_started_before(
        tmp_path: Path, recorder: Recorder) -> None:
    lay = layout(tmp_path)
    etcd, apiserver, *managers = controlplane.components(lay, PORTS, None, LOOPBACK,
                                                         _programs([]))
    processes.start(lay, [etcd], 5.0)
    processes.start(lay, managers, 7.0, after=[etcd, apiserver])
    everything = list(controlplane.COMPONENTS)
    assert recorder.calls == [
        ("spawn", "etcd", False), ("wait", "etcd /health", 5.0, ["etcd"]),
        ("spawn", "kube-controller-manager", False), ("spawn", "kube-scheduler", False),
        ("wait", "kube-controller-manager /healthz", 7.0, everything),
        ("wait", "kube-scheduler /healthz", 7.0, everything)]


def test_a_nodes_processes_in_start_order(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "_bin", lambda name: Path(f"/cache/bin/{name}"))
    worker = node.Node(node_specs(2)[1], layout(tmp_path))
    table = node.components(worker.layout, worker, PORTS)
    assert [c.name for c in table] == worker.components == [
        "containerd@worker-2", "kubelet@worker-2", "kube-proxy@worker-2"]
    assert [c.awaited for c in table] == [
        "worker-2: containerd", "worker-2: kubelet healthy", "worker-2: kube-proxy healthy"]
    for comp, program in zip(table, node.COMPONENTS, strict=True):
        argv = comp.argv()
        inside = worker.ns.prefix()
        assert argv[:len(inside)] == inside  # run in the node's namespaces
        assert argv[len(inside)] == f"/cache/bin/{program}"
        assert comp.env is not None and comp.env()["PATH"].endswith(node.SYSTEM_PATH)


def test_restart_stops_and_starts_one_node_process_and_waits_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    monkeypatch.setattr(node, "_bin", lambda name: Path(f"/cache/bin/{name}"))
    worker = node.Node(node_specs(1)[0], layout(tmp_path))
    said: list[str] = []
    assert node.restart(worker.layout, worker, PORTS, "kubelet", said.append, 9.0) == 4242
    assert recorder.calls == [
        ("stop", ["kubelet@worker-1"]), ("spawn", "kubelet@worker-1", True),
        ("wait", "kubelet@worker-1 healthy again", 9.0, ["kubelet@worker-1"])]
    assert said == ["restarted kubelet@worker-1: pid [17] -> 4242"]
    with pytest.raises(ClusterError, match="not a node component: etcd"):
        node.restart(worker.layout, worker, PORTS, "etcd", said.append)


def _state(root: Path, nodes: int) -> Layout:
    lay = layout(root)
    lay.root.mkdir(parents=True)
    lay.state_file.write_text(json.dumps({
        "ports": {"etcd_client": 1, "etcd_peer": 2, "apiserver": 3, "controller_manager": 4,
                  "scheduler": 5},
        "server": "https://198.19.255.1:3", "nodes": nodes}))
    return lay


def test_status_probes_each_process_of_the_table(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lay = _state(tmp_path / "c", nodes=1)
    probed: list[str] = []

    def probe(program: str) -> Callable[[], bool]:
        def healthy() -> bool:
            probed.append(program)
            return program != "kubelet"

        return healthy

    def table(lay: Layout, spec: object, ports: Ports) -> list[Component]:
        return [Component(f"{p}@worker-1", list, probe(p), p) for p in node.COMPONENTS]

    monkeypatch.setattr(lifecycle, "_node_driver", lifecycle.NodeDriver(
        why_not=lambda: None, provision=lambda *_: None, start=lambda *_: None,
        components=table, stop=lambda *_: ([], [])))
    monkeypatch.setattr(processes, "running_pid",
                        lambda lay, name: None if name == "kube-proxy@worker-1" else 7)
    monkeypatch.setattr(controlplane, "etcd_healthy", lambda ports: True)
    monkeypatch.setattr(controlplane, "loopback_healthy", lambda lay, port: port == 4)
    info = lifecycle._status(lay)
    assert info.nodes == ["worker-1"] and info.node and not info.ready
    assert [(c.name, c.running, c.healthy) for c in info.components] == [
        ("etcd", True, True), ("kube-apiserver", True, False),
        ("kube-controller-manager", True, True), ("kube-scheduler", True, False),
        ("containerd@worker-1", True, True), ("kubelet@worker-1", True, False),
        ("kube-proxy@worker-1", False, False)]
    assert probed == ["containerd", "kubelet"]  # a process that does not run is not probed


def test_without_the_nodes_driver_what_needs_the_nodes_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "_node_driver", None)

    def no_binaries(name: str) -> Path:
        raise AssertionError("up went on without the nodes' driver")

    monkeypatch.setattr(lifecycle, "find_binary", no_binaries)
    with pytest.raises(ClusterError, match=r"import harness\.node"):
        lifecycle.up(tmp_path / "c")
    assert not (tmp_path / "c").exists()  # nothing done
    lay = _state(tmp_path / "c", nodes=2)
    with pytest.raises(ClusterError, match=r"2 node.*import harness\.node"):
        lifecycle.status(lay.root)


def test_importing_the_nodes_hands_their_driver_to_the_cluster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    driver = lifecycle._node_driver
    assert driver is not None
    monkeypatch.setattr(node, "why_not", lambda: "replaced by a test")
    assert driver.why_not() == "replaced by a test"  # looked up at each call
