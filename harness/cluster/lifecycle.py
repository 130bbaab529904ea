"""``up``, ``down`` and ``status`` of the embedded cluster: the control plane and, where it can
run (root, Linux), the real node.

``up()`` is idempotent (a healthy running cluster is reused). ``down()`` stops every process
it started -- also those of a crashed earlier run, recognised by their ``/proc`` command line
naming the cluster directory -- takes the node's pods down, puts the host back as it was
before ``up`` and removes the state. ``status()`` reports without changing anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import tools

from . import controlplane, pki, processes
from .api import Api, ApiError
from .controlplane import Ports
from .layout import LOOPBACK, NODE_IP, NODE_NAME, Layout, layout
from .processes import ClusterError

Progress = Callable[[str], None]
GO_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    log: Path


@dataclass
class ClusterInfo:
    """What ``up()`` returns and ``status()`` reports."""

    cluster_dir: Path
    kubeconfig: Path
    server: str | None
    ports: Ports | None
    ready: bool
    """Every process runs and answers its health check."""
    node: bool = False
    """The real node runs (containerd, kubelet, kube-proxy)."""
    reused: bool = False
    elapsed: float = 0.0
    components: list[ComponentStatus] = field(default_factory=list)
    version: str | None = None


# --------------------------------------------------------------------------- binaries


def find_binary(name: str) -> Path:
    """Locate a control-plane binary: ``$NETPLUMB_BIN_DIR`` (a hand-built set, say), else the
    tool cache for the current pins. ``$PATH`` is not searched: Debian's etcd 3.4 is too old
    for Kubernetes 1.36, and the versions must match the pins."""
    candidates: list[Path] = []
    if env := os.environ.get("NETPLUMB_BIN_DIR"):
        candidates += [Path(p) / name for p in env.split(os.pathsep) if p]
    with contextlib.suppress(Exception):
        candidates.append(tools.bin_dir() / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    raise ClusterError(f"{name} not found: run `make tools` (python -m harness.tools build) "
                       "or set NETPLUMB_BIN_DIR")


def missing_binaries() -> list[str]:
    """Which of the control-plane binaries :func:`find_binary` cannot find."""
    missing = []
    for name in GO_BINARIES:
        try:
            find_binary(name)
        except ClusterError:
            missing.append(name)
    return missing


# --------------------------------------------------------------------------- state


@contextlib.contextmanager
def _locked(lay: Layout) -> Iterator[None]:
    lay.root.parent.mkdir(parents=True, exist_ok=True)
    with lay.lock_file.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load_state(lay: Layout) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(lay.state_file.read_text())
    except (OSError, ValueError):
        return None
    # a state file in another shape (written by an older harness) names a cluster this code
    # cannot reuse: it reads as no state, so the cluster is not ready and up() cleans it up
    # as it does a crashed one
    try:
        Ports(**data["ports"])
        str(data["server"])
    except (TypeError, KeyError):
        return None
    return data


def _components(with_node: bool) -> tuple[str, ...]:
    from harness import node

    return controlplane.COMPONENTS + (node.COMPONENTS if with_node else ())


def _status(lay: Layout) -> ClusterInfo:
    state = _load_state(lay)
    ports = Ports(**state["ports"]) if state else None
    with_node = bool(state and state.get("node"))
    api = Api(lay.admin_kubeconfig, timeout=10.0) if lay.admin_kubeconfig.exists() else None
    node_health: dict[str, bool] = {}
    if with_node and ports is not None:
        from harness import node

        node_health = node.healthy(lay, ports)
    components: list[ComponentStatus] = []
    for comp in _components(with_node):
        pid = processes.running_pid(lay, comp)
        healthy = False
        if pid is not None and ports is not None:
            if comp == "etcd":
                healthy = controlplane.etcd_healthy(ports)
            elif comp == "kube-apiserver":
                healthy = api is not None and api.healthy("/readyz")
            elif comp == "kube-controller-manager":
                healthy = controlplane.loopback_healthy(lay, ports.controller_manager)
            elif comp == "kube-scheduler":
                healthy = controlplane.loopback_healthy(lay, ports.scheduler)
            else:
                healthy = node_health.get(comp, False)
        components.append(ComponentStatus(comp, pid, pid is not None, healthy, lay.log(comp)))
    ready = bool(state) and all(c.healthy for c in components)
    version = None
    if ready and api is not None:
        with contextlib.suppress(Exception):
            version = str(api.get("/version")["gitVersion"])
    return ClusterInfo(
        cluster_dir=lay.root, kubeconfig=lay.admin_kubeconfig,
        server=str(state["server"]) if state else None, ports=ports, ready=ready,
        node=with_node, components=components, version=version)


def status(cluster_dir: Path | None = None) -> ClusterInfo:
    """Report each component's pid, liveness and health, without changing anything."""
    return _status(layout(cluster_dir))


# --------------------------------------------------------------------------- up


def up(cluster_dir: Path | None = None, progress: Progress | None = None,
       timeout: float = 120.0, node: bool | None = None) -> ClusterInfo:
    """Start the embedded cluster, or reuse the healthy one already running there.

    ``node``: run the real node (default: wherever it can run, see
    :func:`harness.node.why_not`). ``True`` where it cannot is an error. A running cluster is
    reused as it is unless ``node`` is given and differs.

    Returns once the control plane is healthy, the ``default`` ServiceAccount exists and, with
    the node, containerd, the kubelet and kube-proxy run and the Node is registered with a pod
    CIDR (it turns Ready once a stack installs the pod network).
    """
    from harness import node as node_mod

    say = progress or (lambda _msg: None)
    lay = layout(cluster_dir)
    t0 = time.monotonic()
    reason = node_mod.why_not()
    if node and reason:
        raise ClusterError(f"the node cannot run here: {reason}")
    with_node = reason is None if node is None else node
    with _locked(lay):
        current = _status(lay)
        if current.ready and (node is None or current.node == node):
            current.reused = True
            current.elapsed = time.monotonic() - t0
            say(f"reusing the running cluster at {current.server}")
            return current
        bins = {name: find_binary(name) for name in GO_BINARIES}
        if lay.root.exists() or processes.scan_ours(lay):
            say("cleaning up a previous cluster that is not healthy")
            _down(lay, say)
        if not with_node:
            say(f"control plane only: {reason}")

        def step(msg: str, t: float) -> None:
            say(f"{msg} ({time.monotonic() - t:.1f}s)")

        t = time.monotonic()
        lay.root.mkdir(parents=True, exist_ok=True)
        apiserver_ip = NODE_IP if with_node else LOOPBACK
        pki.generate(lay)
        ports = Ports.allocate()
        server = f"https://{apiserver_ip}:{ports.apiserver}"
        for client in pki.KUBECONFIG_CLIENTS:
            path = lay.admin_kubeconfig if client is pki.ADMIN else lay.kubeconfig(client.stem)
            pki.write_kubeconfig(lay, client, server, path)
        state = {"ports": asdict(ports), "server": server, "node": with_node,
                 "binaries": {k: str(v) for k, v in bins.items()}}
        lay.state_file.write_text(json.dumps(state, indent=2) + "\n")
        step("certificates and kubeconfigs written", t)
        argv = controlplane.argv(lay, ports, bins, apiserver_ip)
        api = Api(lay.admin_kubeconfig, timeout=10.0)
        try:
            if with_node:
                t = time.monotonic()
                node_mod.provision(lay, say)
                step("host prepared for the node", t)
            t = time.monotonic()
            processes.spawn(lay, "etcd", argv["etcd"])
            processes.wait("etcd /health", lambda: controlplane.etcd_healthy(ports), timeout,
                           lay, ["etcd"])
            step(f"etcd healthy on {LOOPBACK}:{ports.etcd_client}", t)
            t = time.monotonic()
            processes.spawn(lay, "kube-apiserver", argv["kube-apiserver"])
            processes.wait("kube-apiserver /readyz", lambda: api.healthy("/readyz"), timeout,
                           lay, ["etcd", "kube-apiserver"])
            step(f"kube-apiserver ready at {server}", t)
            t = time.monotonic()
            for comp in ("kube-controller-manager", "kube-scheduler"):
                processes.spawn(lay, comp, argv[comp])
            watch = list(controlplane.COMPONENTS)
            processes.wait("kube-controller-manager /healthz",
                           lambda: controlplane.loopback_healthy(lay, ports.controller_manager),
                           timeout, lay, watch)
            processes.wait("kube-scheduler /healthz",
                           lambda: controlplane.loopback_healthy(lay, ports.scheduler),
                           timeout, lay, watch)
            processes.wait("the default ServiceAccount", lambda: _default_sa(api), timeout,
                           lay, watch)
            step("kube-controller-manager and kube-scheduler healthy", t)
            if with_node:
                t = time.monotonic()
                node_mod.start(lay, ports, api, say, timeout)
                step(f"node {NODE_NAME}: containerd, kubelet, kube-proxy running", t)
        except BaseException:
            # Keep the logs for inspection; stop the processes and put the host back.
            _stop(lay, say)
            raise
    info = _status(lay)
    info.elapsed = time.monotonic() - t0
    if not info.ready:
        bad = ", ".join(c.name for c in info.components if not c.healthy)
        raise ClusterError(f"cluster started but not healthy: {bad}")
    return info


def _default_sa(api: Api) -> bool:
    try:
        return api.get_or_none("/api/v1/namespaces/default/serviceaccounts/default") is not None
    except (ApiError, OSError):
        return False


# --------------------------------------------------------------------------- down


def _stop(lay: Layout, say: Progress) -> list[int]:
    """Stop the node (pods first, host restored), then the control plane, newest first."""
    stopped: list[int] = []
    if (lay.host / "before.json").exists() or any(
            processes.program_of(p) in ("containerd", "kubelet", "kube-proxy")
            for p in processes.scan_ours(lay)):
        from harness import node

        pids, left = node.stop(lay, say)
        stopped += pids
        for line in left:
            say(f"host not fully restored: {line}")
    stopped += processes.stop(lay, ["kube-scheduler", "kube-controller-manager",
                                    "kube-apiserver"])
    stopped += processes.stop(lay, ["etcd"])
    if stopped:
        say(f"stopped {len(stopped)} process(es)")
    return stopped


def _down(lay: Layout, say: Progress) -> list[int]:
    stopped = _stop(lay, say)
    if lay.root.exists():
        shutil.rmtree(lay.root, ignore_errors=True)
        if lay.root.exists():  # e.g. a file being written while we removed
            shutil.rmtree(lay.root)
    return stopped


def down(cluster_dir: Path | None = None, progress: Progress | None = None) -> list[int]:
    """Stop every process of this cluster (also left over from a crashed run), put the host
    back as before ``up``, and remove the state. Returns the pids that were stopped."""
    lay = layout(cluster_dir)
    with _locked(lay):
        return _down(lay, progress or (lambda _msg: None))


def component_pids(cluster_dir: Path | None = None) -> list[int]:
    """Pids of every running process of this cluster (pidfiles and /proc scan)."""
    return sorted(processes.scan_ours(layout(cluster_dir)))
