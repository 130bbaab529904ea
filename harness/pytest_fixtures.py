"""pytest plugin: the session's cluster, its real node, and the node's installed network.

Use with ``pytest_plugins = ["harness.pytest_fixtures"]`` (the root conftest does).

* ``cluster``: ``KUBECONFIG`` set -> that cluster, nothing started or stopped;
  ``NETPLUMB_CLUSTER=kind`` -> a kind cluster (machines with Docker); otherwise the embedded
  cluster (:func:`harness.cluster.up`; a healthy one already running is reused). A cluster
  this session started is stopped at the end (the host restored) unless
  ``NETPLUMB_KEEP_CLUSTER=1``.
* ``node``: the one gate for tests that need the real node (pods that run, namespaces to look
  into, host state): it skips, saying why, when the session's cluster has none.
* ``pod_network``: the node's network installed by a stack (Flannel + Multus thick). If the
  cluster has none yet (a fresh cluster), the session deploys the dev stack the way
  ``make run`` does, into a session-private Pulumi backend, and removes it afterwards (unless
  it goes down with the cluster). If ``make run`` installed it, it is used as it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import cluster as _cluster
from harness.cluster.api import Api


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

    def api_client(self) -> Any:
        """A new ``kubernetes.client.ApiClient`` for this cluster."""
        from kubernetes import config

        load: Any = config.new_client_from_config
        return load(config_file=str(self.kubeconfig))

    def env(self) -> dict[str, str]:
        """``os.environ`` with ``KUBECONFIG`` pointing at this cluster (for subprocesses)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env


@dataclass
class NodeHandle:
    """The real node of the session's embedded cluster."""

    cluster: ClusterHandle
    layout: _cluster.Layout
    name: str = _cluster.NODE_NAME


@dataclass
class NetworkHandle:
    """The node's pod network (Flannel + Multus thick) and who installed it."""

    node: NodeHandle
    deployed_by_session: bool
    run_output: str = ""
    """``make run``'s output when this session deployed the dev stack."""


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterHandle]:
    """The cluster the session's tests run against (see the module docstring)."""
    external = os.environ.get("KUBECONFIG")
    if external:
        yield ClusterHandle(Path(external), embedded=False, started=False)
        return
    if os.environ.get("NETPLUMB_CLUSTER") == "kind":
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


@pytest.fixture(scope="session")
def node(cluster: ClusterHandle) -> NodeHandle:
    """The real node (skips the test, saying why, where there is none)."""
    reason = node_unavailable(cluster)
    if reason:
        pytest.skip(reason)
    assert cluster.info is not None
    return NodeHandle(cluster, _cluster.layout(cluster.info.cluster_dir))


@pytest.fixture(scope="session")
def pod_network(node: NodeHandle) -> Iterator[NetworkHandle]:
    """The node's pod network, installed by a stack (see the module docstring)."""
    from harness import platform

    api = node.cluster.api()
    if platform.installed(api):
        _wait_network(api)
        yield NetworkHandle(node, deployed_by_session=False)
        return
    handle, cleanup = _deploy_dev_stack(node)
    try:
        yield handle
    finally:
        cleanup()


def _wait_network(api: Api, timeout: float = 180.0) -> None:
    from harness import platform

    deadline = time.monotonic() + timeout
    state = platform.network_state(api)
    while not state.ready and time.monotonic() < deadline:
        time.sleep(1)
        state = platform.network_state(api)
    if not state.ready:
        pytest.fail(f"the node's pod network is not ready: {'; '.join(state.problems)}")


def _deploy_dev_stack(node: NodeHandle) -> tuple[NetworkHandle, Any]:
    """``make run``'s path (``harness.run.main``) on a copy of the project (removing the
    stack later must not touch the checkout's stack file) into a session-private backend."""
    import contextlib
    import io

    from harness import engine, run

    state = Path(tempfile.mkdtemp(prefix="netplumb-session-"))
    project = engine.project_copy(state / "project")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run.main(["dev"], work_dir=project, backend=state / "pulumi",
                        cluster_dir=node.layout.root)
    text = out.getvalue()
    print(text[-3000:])
    handle = NetworkHandle(node, deployed_by_session=True, run_output=text)

    def cleanup() -> None:
        try:
            if not (node.cluster.started and os.environ.get("NETPLUMB_KEEP_CLUSTER") != "1"):
                st = engine.stack("dev", work_dir=project, kubeconfig=node.cluster.kubeconfig,
                                  backend=state / "pulumi")
                st.destroy(on_output=engine.printer())
                st.workspace.remove_stack("dev")
        finally:
            shutil.rmtree(state, ignore_errors=True)

    if code != 0:
        cleanup()
        pytest.fail(f"deploying the dev stack (make run's path) failed:\n{text[-3000:]}")
    return handle, cleanup
