"""``up``, ``down`` and ``status`` of the embedded cluster: the control plane and, where they
can run (root, Linux), its real nodes (:data:`~.layout.DEFAULT_NODES` unless told otherwise),
each in namespaces of its own.

``up()`` is idempotent (a healthy running cluster is reused). ``down()`` stops every process
it started -- also those of a crashed earlier run, recognised by their ``/proc`` command line
naming the cluster directory -- takes the node's pods down, puts the host back as it was
before ``up`` and removes the state. ``status()`` reports without changing anything.

The nodes are run through the :class:`NodeDriver` that :mod:`harness.node` hands in when it
is imported: this module does not import them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import nodens, tools

from . import controlplane, pki, processes
from .api import Api, ApiError
from .controlplane import Ports
from .layout import (
    APISERVER_IP,
    LOOPBACK,
    Layout,
    NodeSpec,
    layout,
    node_specs,
    requested_nodes,
)
from .processes import ClusterError, Component

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
    """The real nodes run (containerd, kubelet, kube-proxy on each)."""
    nodes: list[str] = field(default_factory=list)
    """The nodes' names (empty: the control plane alone)."""
    reused: bool = False
    elapsed: float = 0.0
    components: list[ComponentStatus] = field(default_factory=list)
    version: str | None = None


# --------------------------------------------------------------------------- the nodes


@dataclass(frozen=True)
class NodeDriver:
    """What ``up``, ``status`` and ``down`` do with the real nodes. :mod:`harness.node` builds
    on this package and hands its driver in when it is imported (:func:`use_nodes`): the
    dependency runs one way, this package never imports the nodes' code."""

    why_not: Callable[[], str | None]
    """Why the nodes cannot run on this machine (None: they can)."""
    provision: Callable[[Layout, list[NodeSpec], Progress], None]
    """Prepare the host and each node (namespaces, links), before the control plane starts."""
    start: Callable[[Layout, list[NodeSpec], Ports, Api, Progress, float], None]
    """Start each node's processes once the control plane is healthy (the float: the timeout
    of each wait); return once every Node is registered."""
    components: Callable[[Layout, NodeSpec, Ports], Sequence[Component]]
    """A node's processes, in start order."""
    stop: Callable[[Layout, list[NodeSpec], Progress], tuple[list[int], list[str]]]
    """Stop the nodes (a crashed run's too) and restore the host: (pids stopped, differences
    from the host as it was that are left)."""


_node_driver: NodeDriver | None = None


def use_nodes(driver: NodeDriver) -> None:
    """Run the real nodes through ``driver`` (what importing :mod:`harness.node` does)."""
    global _node_driver
    _node_driver = driver


def _nodes(why: str) -> NodeDriver:
    if _node_driver is None:
        raise ClusterError(f"{why} needs the real nodes' driver, which harness.node hands in "
                           "when it is imported: import harness.node first")
    return _node_driver


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
        node_specs(int(data["nodes"])) if data["nodes"] else None
    except (TypeError, KeyError, ValueError):
        return None
    return data


def _components(lay: Layout, state: Mapping[str, Any], api: Api | None) -> list[Component]:
    """The processes of the cluster ``state`` records: the control plane's, then each node's."""
    ports = Ports(**state["ports"])
    apiserver_ip = urlsplit(str(state["server"])).hostname or LOOPBACK
    table = list(controlplane.components(lay, ports, api, apiserver_ip, find_binary))
    count = int(state["nodes"])
    if count:
        driver = _nodes(f"the status of the {count} node(s) of {lay.root}")
        table += [c for spec in node_specs(count) for c in driver.components(lay, spec, ports)]
    return table


def _status(lay: Layout) -> ClusterInfo:
    state = _load_state(lay)
    ports = Ports(**state["ports"]) if state else None
    count = int(state["nodes"]) if state else 0
    api = Api(lay.admin_kubeconfig, timeout=10.0) if lay.admin_kubeconfig.exists() else None
    # without a state file (none yet, or a crashed run's leftovers) nothing can be probed:
    # the control plane's processes by name alone
    table = _components(lay, state, api) if state else []
    rows: list[tuple[str, Callable[[], bool] | None]] = (
        [(c.name, c.probe) for c in table] or [(n, None) for n in controlplane.COMPONENTS])
    components: list[ComponentStatus] = []
    for name, probe in rows:
        pid = processes.running_pid(lay, name)
        healthy = pid is not None and probe is not None and probe()
        components.append(ComponentStatus(name, pid, pid is not None, healthy, lay.log(name)))
    ready = bool(state) and all(c.healthy for c in components)
    version = None
    if ready and api is not None:
        with contextlib.suppress(Exception):
            version = str(api.get("/version")["gitVersion"])
    return ClusterInfo(
        cluster_dir=lay.root, kubeconfig=lay.admin_kubeconfig,
        server=str(state["server"]) if state else None, ports=ports, ready=ready,
        node=bool(count), nodes=[s.name for s in node_specs(count)] if count else [],
        components=components, version=version)


def status(cluster_dir: Path | None = None) -> ClusterInfo:
    """Report each component's pid, liveness and health, without changing anything."""
    return _status(layout(cluster_dir))


# --------------------------------------------------------------------------- up


def up(cluster_dir: Path | None = None, progress: Progress | None = None,
       timeout: float = 120.0, node: bool | None = None,
       nodes: int | None = None) -> ClusterInfo:
    """Start the embedded cluster, or reuse the healthy one already running there.

    ``node``: run the real nodes (default: wherever they can run, see
    :func:`harness.node.why_not`). ``True`` where they cannot is an error. ``nodes``: how many
    (default ``NETPLUMB_NODES``, else :data:`~.layout.DEFAULT_NODES`). A running cluster is
    reused as it is unless ``node`` or ``nodes`` is given and differs.

    Returns once the control plane is healthy, the ``default`` ServiceAccount exists and, with
    the nodes, each node's containerd, kubelet and kube-proxy run and every Node is
    registered with a pod CIDR (they turn Ready once a stack installs the pod network).
    Unless ``node`` is False, the nodes' driver must be loaded (:func:`use_nodes`).
    """
    say = progress or (lambda _msg: None)
    lay = layout(cluster_dir)
    t0 = time.monotonic()
    driver = (_nodes("starting the cluster with its nodes (node=False: without them)")
              if node is not False else _node_driver)
    reason = driver.why_not() if driver else "the real nodes' driver is not loaded"
    if node and reason:
        raise ClusterError(f"the node cannot run here: {reason}")
    with_node = reason is None if node is None else node
    count = (nodes if nodes is not None else requested_nodes()) if with_node else 0
    specs = node_specs(count) if count else []
    with _locked(lay):
        current = _status(lay)
        deadline = time.monotonic() + 30
        while (not current.ready and current.components and time.monotonic() < deadline
               and all(c.running for c in current.components)):
            # every process runs but a health check failed: on a busy machine (a check
            # enters a node's namespaces) that is often a slow answer, not a dead cluster
            time.sleep(1)
            current = _status(lay)
        if current.ready and (node is None or current.node == node) and (
                nodes is None or len(current.nodes) == nodes):
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
        apiserver_ip = APISERVER_IP if with_node else LOOPBACK
        pki.generate(lay, specs)
        ports = Ports.allocate()
        server = f"https://{apiserver_ip}:{ports.apiserver}"
        for client in (*pki.KUBECONFIG_CLIENTS, *(pki.kubelet_client(s) for s in specs)):
            path = lay.admin_kubeconfig if client is pki.ADMIN else lay.kubeconfig(client.stem)
            pki.write_kubeconfig(lay, client, server, path)
        state = {"ports": asdict(ports), "server": server, "nodes": count,
                 "binaries": {k: str(v) for k, v in bins.items()}}
        lay.state_file.write_text(json.dumps(state, indent=2) + "\n")
        step("certificates and kubeconfigs written", t)
        api = Api(lay.admin_kubeconfig, timeout=10.0)
        plane = controlplane.components(lay, ports, api, apiserver_ip, bins.__getitem__)
        etcd, apiserver, *managers = plane
        try:
            if specs:
                t = time.monotonic()
                _nodes("preparing the nodes").provision(lay, specs, say)
                step(f"host prepared for {count} node(s)", t)
            t = time.monotonic()
            processes.start(lay, [etcd], timeout)
            step(f"etcd healthy on {LOOPBACK}:{ports.etcd_client}", t)
            t = time.monotonic()
            processes.start(lay, [apiserver], timeout, after=[etcd])
            step(f"kube-apiserver ready at {server}", t)
            t = time.monotonic()
            processes.start(lay, managers, timeout, after=[etcd, apiserver])
            processes.wait("the default ServiceAccount", lambda: _default_sa(api), timeout,
                           lay, [c.name for c in plane])
            step("kube-controller-manager and kube-scheduler healthy", t)
            if specs:
                t = time.monotonic()
                _nodes("starting the nodes").start(lay, specs, ports, api, say, timeout)
                step(f"nodes {', '.join(s.name for s in specs)}: containerd, kubelet, "
                     "kube-proxy running", t)
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
            lay.node_dir(n).exists() for n in nodens.all_node_names()) or any(
            processes.program_of(p) in ("containerd", "kubelet", "kube-proxy")
            for p in processes.scan_ours(lay)):
        driver = _nodes(f"stopping the nodes of {lay.root}")
        state = _load_state(lay)
        count = int(state["nodes"]) if state else 0
        pids, left = driver.stop(lay, node_specs(count) if count else [], say)
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
