"""Where the harness keeps things: the project state directory and the tool cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Project state (cluster data, logs, Pulumi file backend).

    ``$NETPLUMB_STATE``, else ``.netplumb/`` in the checkout."""
    return Path(os.environ.get("NETPLUMB_STATE", REPO_ROOT / ".netplumb")).resolve()


def cluster_dir() -> Path:
    """Embedded cluster state: certificates, etcd data, logs, admin kubeconfig."""
    return state_dir() / "cluster"


def pulumi_backend_dir() -> Path:
    """Local Pulumi file backend used by ``make run`` and the e2e tests."""
    return state_dir() / "pulumi"


def tools_cache_root() -> Path:
    """Built toolchain cache, outside the repo.

    ``$NETPLUMB_TOOLS_CACHE``, else ``~/.cache/netplumb/tools``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "netplumb" / "tools"
    return Path(os.environ.get("NETPLUMB_TOOLS_CACHE", default)).resolve()
