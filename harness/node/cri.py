"""A node's pod sandboxes through the CRI (``crictl`` against its containerd, run inside the
node's namespaces).

Used to find a pod's network namespace (verification, tests), to count sandboxes (churn
tests), and to take every sandbox down before containerd stops (``cluster down``), pods on
the pod network first so their CNI DEL still reaches the Multus daemon.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import tools
from harness.nodens import NodeNs, PodNetns

from . import containerd


class CriError(RuntimeError):
    """crictl failed."""


def _crictl() -> Path:
    path = tools.bin_dir() / "crictl"
    if not path.exists():
        path = tools.ensure(["cri-tools"]) / "crictl"
    return path


def crictl(node: NodeNs, *args: str, timeout: float = 60.0, check: bool = True) -> str:
    proc = subprocess.run(
        [*node.prefix(), str(_crictl()), "--runtime-endpoint", containerd.ENDPOINT,
         "--image-endpoint", containerd.ENDPOINT, "--timeout", f"{int(timeout)}s", *args],
        capture_output=True, text=True, timeout=timeout + 10, check=False)
    if check and proc.returncode != 0:
        raise CriError(f"crictl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Sandbox:
    id: str
    name: str
    namespace: str
    uid: str
    state: str
    host_network: bool

    @property
    def ready(self) -> bool:
        return self.state == "SANDBOX_READY"


def sandboxes(node: NodeNs, *, namespace: str | None = None,
              name: str | None = None) -> list[Sandbox]:
    """Pod sandboxes on the node (all states), newest first."""
    args = ["pods", "-o", "json"]
    if namespace:
        args += ["--namespace", namespace]
    if name:
        args += ["--name", name]
    items = json.loads(crictl(node, *args) or "{}").get("items") or []
    out = []
    for item in items:
        meta = item.get("metadata") or {}
        opts = ((item.get("linux") or {}).get("security") or {}).get("namespaceOptions") or {}
        out.append(Sandbox(str(item["id"]), str(meta.get("name")), str(meta.get("namespace")),
                           str(meta.get("uid")), str(item.get("state")),
                           opts.get("network") == "NODE"))
    return out


def netns_path(node: NodeNs, sandbox_id: str) -> str | None:
    """The network namespace path of a sandbox inside the node (None for hostNetwork pods)."""
    info = json.loads(crictl(node, "inspectp", "-o", "json", sandbox_id)).get("info") or {}
    spec: Any = (info.get("runtimeSpec") or {}).get("linux") or {}
    for ns in spec.get("namespaces") or []:
        if ns.get("type") == "network":
            return str(ns["path"]) if ns.get("path") else None
    return None


def pod_netns(node: NodeNs, namespace: str, name: str, uid: str | None = None) -> PodNetns:
    """A running pod's network namespace on ``node`` (``cni-…``, as ``ip netns`` lists it
    inside the node)."""
    for sb in sandboxes(node, namespace=namespace, name=name):
        if sb.ready and sb.name == name and (uid is None or sb.uid == uid):
            path = netns_path(node, sb.id)
            if path is None:
                raise CriError(f"{namespace}/{name} uses the host network")
            return PodNetns(node, Path(path).name)
    raise CriError(f"no ready sandbox for pod {namespace}/{name} on {node.name}"
                   + (f" (uid {uid})" if uid else ""))


def remove_all(node: NodeNs, say: Any = None, timeout: float = 120.0) -> list[str]:
    """Stop and remove every sandbox: pod-network pods first (their CNI DEL needs the Multus
    daemon, itself a hostNetwork pod), then hostNetwork pods. Returns problems left."""
    problems: list[str] = []
    deadline = time.monotonic() + timeout
    for host_network in (False, True):
        for sb in [s for s in sandboxes(node) if s.host_network == host_network]:
            left = max(5.0, deadline - time.monotonic())
            for cmd in ("stopp", "rmp"):
                try:
                    crictl(node, cmd, sb.id, timeout=min(left, 60.0))
                except (CriError, subprocess.TimeoutExpired) as e:
                    problems.append(f"{cmd} {sb.namespace}/{sb.name}: {e}")
                    break
    if say and problems:
        say(f"{node.name}: {len(problems)} sandbox(es) could not be removed cleanly")
    return problems
