"""pytest plugin: the session's cluster, its real node, and the node's installed network.

Use with ``pytest_plugins = ["harness.pytest_fixtures"]`` (the root conftest does).

* ``cluster``: the session's target (:mod:`harness.target`). By default the embedded cluster
  (:func:`harness.cluster.up`; a healthy one already running is reused), and an exported
  ``KUBECONFIG`` is ignored, saying so; ``NETPLUMB_CLUSTER=kind`` -> a kind cluster (machines
  with Docker); ``NETPLUMB_TARGET=current-context`` (``make test-cluster``) -> KUBECONFIG's
  current context, nothing started or stopped, and the run ends with what it could not test
  there. A cluster this session started is stopped at the end (the host restored) unless
  ``NETPLUMB_KEEP_CLUSTER=1``.
* ``node``: the one gate for tests that need the real node (pods that run, namespaces to look
  into, host state): it skips, saying why, when the session's cluster has none, and fails the
  test instead when the target is the embedded cluster on a machine where the node can run (a
  green ``make test`` always proved the data path).
* ``platform``: what team stacks build on, as ``make run`` brings it up: ``pulumi up`` of the
  ``platform`` stack on the embedded cluster, in the project's own backend (a no-op when
  ``make run`` already did). On the embedded cluster it installs the node's network (Flannel
  and Multus thick, which brings the NAD CRD), so it needs the node. On an external cluster it
  deploys nothing and skips the tests that need it when the CRD is missing. Returns the owner
  of the cluster-wide objects.
* ``pod_network``: the node and its installed network, ready (the platform's DaemonSets
  Ready, the Node Ready, Multus' config on the node).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import cluster as _cluster
from harness import node as _node
from harness import target as _target
from harness import underlay
from harness.cluster.api import Api
from harness.nodens import PodNetns

_TARGET = pytest.StashKey[_target.Target]()


def pytest_configure(config: pytest.Config) -> None:
    try:
        where = _target.resolve()
    except _target.TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_TARGET] = where
    _target.ignore_exported_kubeconfig(where, lambda m: print(f"netplumb: {m}", flush=True))
    if where.external:
        print(f"netplumb: testing against {where.describe()}", flush=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _SKIPS[reason] = _SKIPS.get(reason, 0) + 1


_SKIPS: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    where = config.stash.get(_TARGET, None)
    if where is None or not where.external:
        return
    terminalreporter.section(f"not tested on {where.context} ({where.server})")
    if not _SKIPS:
        terminalreporter.write_line("nothing: every collected test ran")
    for reason, count in sorted(_SKIPS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{count:4d} test(s): {reason}")


def session_target(config: pytest.Config) -> _target.Target:
    """The cluster this session tests (:mod:`harness.target`)."""
    return config.stash[_TARGET]


@dataclass
class ClusterHandle:
    """What the ``cluster`` fixture yields."""

    kubeconfig: Path
    embedded: bool
    """True for the harness' embedded cluster (False: an external ``KUBECONFIG`` or kind)."""
    started: bool
    """True if this session started it (and so will stop it)."""
    info: _cluster.ClusterInfo | None = None
    host_before: dict[str, Any] | None = None
    """The host as recorded just before this session started the cluster and its node."""
    stopped: bool = False
    """Already taken down (by the host-restore test): nothing left to stop."""

    def api(self) -> Api:
        """The harness' API client for this cluster."""
        return Api(self.kubeconfig)

    def env(self) -> dict[str, str]:
        """``os.environ`` with ``KUBECONFIG`` pointing at this cluster (for subprocesses)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env


@dataclass
class NodeHandle:
    """The real nodes of the session's embedded cluster (each in its own namespaces)."""

    cluster: ClusterHandle
    layout: _cluster.Layout

    @property
    def nodes(self) -> list[_node.Node]:
        return _node.running(self.layout)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def by_name(self, name: str) -> _node.Node:
        return _node.by_name(self.layout, name)

    def of_pod(self, namespace: str, name: str) -> _node.Node:
        """The node a pod is bound to (``spec.nodeName``)."""
        pod = self.cluster.api().get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        bound = (pod.get("spec") or {}).get("nodeName")
        if not bound:
            raise AssertionError(f"pod {namespace}/{name} is not bound to a node")
        return self.by_name(str(bound))

    def pod_netns(self, namespace: str, name: str, uid: str | None = None) -> PodNetns:
        """A running pod's network namespace, on whichever node runs it."""
        from harness.node import cri

        return cri.pod_netns(self.of_pod(namespace, name).ns, namespace, name, uid)

    def ensure_underlay(self, links: Iterable[underlay.Link | str]) -> list[str]:
        """Underlay links on every node, joined across them (:mod:`harness.segments`)."""
        return _node.ensure_underlay(self.layout, links)

    def remove_underlay(self, names: Iterable[str]) -> list[str]:
        return _node.remove_underlay(self.layout, names)


@dataclass
class NetworkHandle:
    """The node and its pod network (Flannel + Multus thick, from the platform stack)."""

    node: NodeHandle
    owner: str
    """Who owns the cluster-wide objects (``netplumb/platform`` on the embedded cluster)."""


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Iterator[ClusterHandle]:
    """The cluster the session's tests run against (see the module docstring)."""
    where = session_target(pytestconfig)
    if where.external:
        assert where.kubeconfig is not None
        yield ClusterHandle(where.kubeconfig, embedded=False, started=False)
        return
    if where.kind == "kind":
        from harness import kind

        handle = ClusterHandle(kind.up(), embedded=False, started=True)
        try:
            yield handle
        finally:
            if os.environ.get("NETPLUMB_KEEP_CLUSTER") != "1":
                kind.down()
        return
    from harness import node, tools

    tools.ensure()
    before = None
    if node.why_not() is None and not _cluster.status().ready:
        from harness.node import host

        if _cluster.layout().root.exists():
            # a cluster that crashed (or was killed) left its state: putting the host back as
            # it was before that cluster comes first, so the record below is the host's own
            _cluster.down(progress=lambda msg: print(f"[cluster] {msg}"))
        # and so does what a cluster of another checkout left when its session was stopped
        node.clear_stale(lambda msg: print(f"[cluster] {msg}"))
        before = host.snapshot()
    t0 = time.monotonic()
    info = _cluster.up(progress=lambda msg: print(f"[cluster +{time.monotonic() - t0:.1f}s] "
                                                  f"{msg}"))
    handle = ClusterHandle(info.kubeconfig, embedded=True, started=not info.reused, info=info,
                           host_before=before if not info.reused else None)
    try:
        yield handle
    finally:
        if (handle.started and not handle.stopped
                and os.environ.get("NETPLUMB_KEEP_CLUSTER") != "1"):
            _cluster.down(progress=lambda msg: print(f"[cluster down] {msg}"))


def node_unavailable(handle: ClusterHandle) -> str | None:
    """Why the session's cluster has no real node (None: it has one)."""
    if not handle.embedded:
        return "the cluster is not the embedded one (KUBECONFIG or kind): no node to look into"
    if handle.info is None or not handle.info.node:
        from harness import node

        return f"the embedded cluster runs without the real node: {node.why_not()}"
    return None


def skip_without_node(where: _target.Target, reason: str) -> None:
    """Skip a test that needs the real node, or fail it where a skip would hide that the
    embedded cluster's node should have run on this machine and did not."""
    from harness import node as _node

    if where.kind == "embedded" and _node.why_not() is None:
        pytest.fail(f"this machine can run the real node, but the session has none: {reason}",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node(cluster: ClusterHandle, pytestconfig: pytest.Config) -> NodeHandle:
    """The real node (skips the test, saying why, where there is none)."""
    reason = node_unavailable(cluster)
    if reason:
        skip_without_node(session_target(pytestconfig), reason)
    assert cluster.info is not None
    return NodeHandle(cluster, _cluster.layout(cluster.info.cluster_dir))


PLATFORM_STACK = "platform"
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"


@pytest.fixture(scope="session")
def platform(cluster: ClusterHandle, pytestconfig: pytest.Config) -> str:
    """The owner of the cluster-wide objects (``netplumb/platform`` on the embedded cluster)."""
    from netplumb.kube import Kube
    from netplumb.ownership import owner_of

    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    if cluster.embedded:
        reason = node_unavailable(cluster)
        if reason:
            skip_without_node(session_target(pytestconfig),
                              f"the platform stack installs the node's network: {reason}")
        from harness import engine
        from harness.paths import pulumi_backend_dir

        backend = pulumi_backend_dir()
        backend.mkdir(parents=True, exist_ok=True)
        # several pytest sessions on one cluster (one file each, say) take turns
        with (backend / ".platform.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            st = engine.stack(PLATFORM_STACK, kubeconfig=cluster.kubeconfig)
            engine.up(st, backend, on_output=engine.printer("  [platform] "))
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", NAD_CRD)
    if crd is None:
        pytest.skip(f"the cluster has no {NAD_CRD} CRD (no platform installed)")
    return owner_of(crd) or "unknown"


@pytest.fixture(scope="session")
def pod_network(node: NodeHandle, platform: str) -> NetworkHandle:
    """The node's pod network, installed by the platform stack and ready."""
    from harness import podnetwork as net

    try:
        net.wait_ready(node.cluster.api(), 180)
    except TimeoutError as e:
        pytest.fail(str(e))
    return NetworkHandle(node, platform)
