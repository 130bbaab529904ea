"""pytest plugin: the session-scoped ``cluster`` fixture.

Use with ``pytest_plugins = ["harness.pytest_fixtures"]`` (root conftest or a test module).

* ``KUBECONFIG`` set: the fixture targets that cluster and never starts or stops anything.
* ``NETPLUMB_CLUSTER=kind`` (machines with Docker): a kind cluster from
  ``harness/kind/cluster.yaml`` (:mod:`harness.kind`).
* Otherwise it brings up the embedded cluster (:func:`harness.cluster.up`; a healthy one
  already running is reused) and, if this session started it, tears it down at the end --
  unless ``NETPLUMB_KEEP_CLUSTER=1``.

The session-scoped ``platform`` fixture makes sure the cluster has what team stacks build on
(the NAD CRD), as ``make run`` does: it runs ``pulumi up`` of the ``platform`` stack on the
embedded cluster (a no-op when ``make run`` already did), in the project's own backend. On
an external cluster it deploys nothing and skips the tests that need it when the CRD is
missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import cluster as _cluster


@dataclass
class ClusterHandle:
    """What the ``cluster`` fixture yields."""

    kubeconfig: Path
    embedded: bool
    """True for the harness' embedded cluster (False: an external ``KUBECONFIG``)."""
    started: bool
    """True if this session started it (and so will stop it)."""
    info: _cluster.ClusterInfo | None = None

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
    if _cluster.missing_binaries():
        from harness import tools

        tools.ensure(["etcd", "kubernetes"])
    t0 = time.monotonic()
    info = _cluster.up(progress=lambda msg: print(f"[cluster +{time.monotonic() - t0:.1f}s] {msg}"))
    handle = ClusterHandle(info.kubeconfig, embedded=True, started=not info.reused, info=info)
    try:
        yield handle
    finally:
        if handle.started and os.environ.get("NETPLUMB_KEEP_CLUSTER") != "1":
            _cluster.down()


PLATFORM_STACK = "platform"
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"


@pytest.fixture(scope="session")
def platform(cluster: ClusterHandle) -> str:
    """The owner of the cluster-wide objects (``netplumb/platform`` on the embedded cluster)."""
    from netplumb.kube import Kube
    from netplumb.ownership import owner_of

    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    if cluster.embedded:
        from harness import engine

        st = engine.stack(PLATFORM_STACK, kubeconfig=cluster.kubeconfig)
        st.up(on_output=engine.printer("  [platform] "))
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", NAD_CRD)
    if crd is None:
        pytest.skip(f"the cluster has no {NAD_CRD} CRD (no platform installed)")
    return owner_of(crd) or "unknown"
