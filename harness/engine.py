"""Running the netplumb Pulumi project through the real engine (Automation API).

Shared by ``make run`` and the e2e tests: a local file backend, a documented dev
passphrase, the built CLI and kubernetes plugin from the tool cache, never a download.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from . import tools
from .paths import REPO_ROOT, pulumi_backend_dir

DEV_PASSPHRASE = "netplumb-dev"
"""Passphrase of the local dev stacks' secrets (documented; never use it for real secrets)."""

PROJECT_FILES = ("Pulumi.yaml", "__main__.py")


ENGINE_TOOLS = ["pulumi", "pulumi-language-python", "pulumi-kubernetes"]


def engine_env(kubeconfig: Path | None, backend: Path) -> dict[str, str]:
    tools.ensure(ENGINE_TOOLS)  # warm: a stat per tool; cold: builds them
    env = tools.env_with_tools()
    backend.mkdir(parents=True, exist_ok=True)
    env["PULUMI_BACKEND_URL"] = backend.as_uri()
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", DEV_PASSPHRASE)
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def project_copy(dest: Path, stack_files: dict[str, str] | None = None) -> Path:
    """A copy of the project in ``dest`` using the repo's virtualenv (tests edit stacks freely)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, dest / name)
    venv = REPO_ROOT / ".venv"
    text = (dest / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {venv}")
    (dest / "Pulumi.yaml").write_text(text)
    shutil.copytree(REPO_ROOT / "stacks", dest / "stacks", dirs_exist_ok=True)
    for name, body in (stack_files or {}).items():
        (dest / "stacks" / f"Pulumi.{name}.yaml").write_text(body)
    return dest


def stack(name: str, *, work_dir: Path = REPO_ROOT, kubeconfig: Path | None = None,
          backend: Path | None = None) -> auto.Stack:
    """Create or select stack ``name`` of the project in ``work_dir``.

    A stack whose state was written against another cluster (the embedded cluster is
    recreated by ``cluster down``/``up``; the state outlives it) is refreshed first, so the
    engine does not update objects that no longer exist. Clusters are told apart by the UID
    of their ``kube-system`` namespace, recorded beside the state."""
    backend = backend or pulumi_backend_dir()
    env = engine_env(kubeconfig, backend)
    bin_dir = Path(env["PATH"].split(os.pathsep)[0])
    ws = auto.LocalWorkspace(
        work_dir=str(work_dir), env_vars=env, pulumi_home=env["PULUMI_HOME"],
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent), skip_version_check=True))
    st = auto.Stack.create_or_select(name, ws)
    if kubeconfig is not None:
        _same_cluster(st, kubeconfig, backend / ".netplumb-clusters" / f"{name}.uid")
    return st


def cluster_uid(kubeconfig: Path) -> str | None:
    """The UID of the cluster's ``kube-system`` namespace (``None``: not readable)."""
    from netplumb.kube import Kube, KubeConfigError, KubeError

    try:
        ns = Kube.from_kubeconfig(str(kubeconfig), timeout=10.0).get("v1", "Namespace",
                                                                    "kube-system")
    except (KubeConfigError, KubeError):
        return None
    return str(ns["metadata"]["uid"]) if ns else None


def _same_cluster(st: auto.Stack, kubeconfig: Path, marker: Path) -> None:
    uid = cluster_uid(kubeconfig)
    if uid is None:
        return
    known = marker.read_text().strip() if marker.is_file() else None
    if known == uid:
        return
    if known is not None or st.info() is not None:
        print(f"  [{st.name}] state was written against another cluster: refreshing it",
              flush=True)
        st.refresh(on_output=printer(f"  [{st.name}] "))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(uid + "\n")


def printer(prefix: str = "  ") -> Callable[[str], None]:
    def out(line: str) -> None:
        print(prefix + line.rstrip(), flush=True)
    return out


class EngineError(RuntimeError):
    """The stack cannot be deployed (e.g. another ``pulumi`` is updating it right now)."""


def _stale_locks(backend: Path, name: str) -> tuple[list[Path], list[str]]:
    """Lock files of stack ``name`` in a file backend: (left by dead processes, held by live
    ones). The file backend writes ``.pulumi/locks/<org>/<project>/<stack>/<id>.json`` with
    the pid and host of the ``pulumi`` holding it."""
    stale: list[Path] = []
    live: list[str] = []
    me = socket.gethostname()
    for lock in sorted(backend.glob(f".pulumi/locks/*/*/{name}/*.json")):
        try:
            content = json.loads(lock.read_text())
            pid, host = int(content.get("pid", 0)), str(content.get("hostname", ""))
        except (OSError, ValueError):
            continue
        if host == me and pid > 0 and not Path(f"/proc/{pid}").exists():
            stale.append(lock)
        else:
            live.append(f"pid {pid} on {host}")
    return stale, live


def clear_interrupted(st: auto.Stack, backend: Path,
                      say: Callable[[str], None] | None = None) -> list[str]:
    """Undo what an interrupted ``pulumi up`` (killed, say) leaves behind, the ways Pulumi
    documents: ``pulumi cancel`` removes the file backend's lock of a process that no longer
    runs, and ``pulumi refresh --clear-pending-creates`` reads the real state back and drops
    the pending operations (creates whose outcome is unknown are created again by the next
    ``up``; server-side apply adopts an object the interrupted run did create). Returns what
    was done."""
    done: list[str] = []
    stale, live = _stale_locks(backend, st.name)
    if live:
        raise EngineError(f"stack {st.name} is being updated by another pulumi "
                          f"({', '.join(live)})")
    if stale:
        st.cancel()
        done.append(f"removed {len(stale)} lock(s) of an interrupted pulumi (pulumi cancel)")
    deployment: Any = st.export_stack().deployment or {}
    pending = deployment.get("pending_operations") or []
    if pending:
        st.refresh(clear_pending_creates=True, on_output=printer("    ") if say else None)
        done.append(f"cleared {len(pending)} pending operation(s) of an interrupted update "
                    "(pulumi refresh --clear-pending-creates)")
    for line in done:
        if say:
            say(line)
    return done


def up(st: auto.Stack, backend: Path, on_output: Callable[[str], None] | None = None,
       say: Callable[[str], None] | None = None) -> auto.UpResult:
    """``pulumi up``, after clearing what an interrupted earlier run left behind."""
    clear_interrupted(st, backend, say)
    return st.up(on_output=on_output)
