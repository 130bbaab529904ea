"""A kind backend for the e2e tests, for machines with Docker (``NETPLUMB_CLUSTER=kind``).

It cannot run on the development machines netplumb is built on (no Docker engine there), so
it is kept to the minimum: create the cluster from ``harness/kind/cluster.yaml``, write its
kubeconfig into the state directory, delete it afterwards. Tests that look inside the
embedded node's network namespaces skip on it; the engine tests run unchanged.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .paths import REPO_ROOT, state_dir

CONFIG = REPO_ROOT / "harness" / "kind" / "cluster.yaml"
NAME = "netplumb"


def kubeconfig_path() -> Path:
    return state_dir() / "kind.kubeconfig"


def up() -> Path:
    """Create the kind cluster (or reuse it) and return its kubeconfig path."""
    kind = shutil.which("kind")
    if kind is None or shutil.which("docker") is None:
        raise RuntimeError("NETPLUMB_CLUSTER=kind needs the kind and docker commands")
    existing = subprocess.run([kind, "get", "clusters"], capture_output=True, text=True,
                              check=True).stdout.split()
    path = kubeconfig_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if NAME not in existing:
        subprocess.run([kind, "create", "cluster", "--config", str(CONFIG), "--kubeconfig",
                        str(path), "--wait", "120s"], check=True)
    else:
        subprocess.run([kind, "export", "kubeconfig", "--name", NAME, "--kubeconfig",
                        str(path)], check=True)
    return path


def down() -> None:
    kind = shutil.which("kind")
    if kind is not None:
        subprocess.run([kind, "delete", "cluster", "--name", NAME], check=False)
    kubeconfig_path().unlink(missing_ok=True)
