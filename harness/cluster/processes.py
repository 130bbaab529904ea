"""The cluster's processes: started with a pidfile and a log, found again through ``/proc``
(also after a crash lost the pidfiles), stopped TERM-then-KILL.

A process is *ours* if its program is one of :data:`PROGRAMS` and one of its arguments names
the cluster directory (every component gets a config, data dir or kubeconfig path in it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import http.client
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import paths

from .layout import LOOPBACK, Layout

PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
            "containerd", "kubelet", "kube-proxy")
"""Programs the cluster runs as its own processes (the node programs once per node: their
components are named ``<program>@<node>``, and their arguments name ``nodes/<node>/``)."""


class ClusterError(RuntimeError):
    """The embedded cluster could not be started or stopped (the message names the log)."""


def process_cmdline(pid: int) -> list[str]:
    """``/proc/<pid>/cmdline`` as arguments; empty when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not is_zombie(pid)


def program_of(pid: int) -> str:
    args = process_cmdline(pid)
    return Path(args[0]).name if args else "?"


def is_ours(pid: int, layout: Layout) -> bool:
    """True if ``pid`` is one of :data:`PROGRAMS` serving this cluster directory."""
    args = process_cmdline(pid)
    if not args or is_zombie(pid) or Path(args[0]).name not in PROGRAMS:
        return False
    root = str(layout.root)
    return any(a.endswith(root) or f"{root}/" in a for a in args[1:])


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def all_pids() -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()]


def scan_ours(layout: Layout) -> list[int]:
    me = os.getpid()
    return [pid for pid in all_pids() if pid != me and is_ours(pid, layout)]


def children_of(pids: Iterable[int]) -> list[int]:
    """Every descendant of ``pids`` (from ``/proc/*/stat`` parent links)."""
    parents: dict[int, list[int]] = {}
    for pid in all_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[-1].split()[1])
        parents.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(pids)
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


# Processes started by this Python process: their exit is seen through Popen (a /proc
# command-line check can race with exec right after the fork).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    # nodes stop in parallel threads, each reaping: another may have removed a pid already
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            _children.pop(pid, None)


def kill(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    left = _wait_gone(pids, timeout)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(left, 5.0)


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left:
        _reap()
        left = [p for p in left if alive(p)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return left


def spawn(layout: Layout, component: str, argv: list[str],
          env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session, output appended to the component's log."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    with layout.log(component).open("ab") as log:
        log.write(f"==> {dt.datetime.now().isoformat()} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=str(paths.REPO_ROOT), env=env, close_fds=True)
    layout.pidfile(component).write_text(f"{proc.pid}\n")
    _children[proc.pid] = proc
    return proc.pid


def exited(layout: Layout, component: str) -> bool:
    pid = read_pid(layout.pidfile(component))
    if pid is None:
        return True
    proc = _children.get(pid)
    if proc is not None:
        return proc.poll() is not None
    return not is_ours(pid, layout)


def running_pid(layout: Layout, component: str) -> int | None:
    pid = read_pid(layout.pidfile(component))
    return pid if pid is not None and is_ours(pid, layout) else None


def serves(pid: int, component: str) -> bool:
    """Whether ``pid`` runs ``component`` (``kubelet@worker-1``: the kubelet whose arguments
    name that node's directory; ``etcd``: any etcd)."""
    program, _, node = component.partition("@")
    if program_of(pid) != program:
        return False
    return not node or any(f"/nodes/{node}/" in a for a in process_cmdline(pid)[1:])


def stop(layout: Layout, components: Iterable[str]) -> list[int]:
    """Stop these components together (SIGTERM to all, then wait): pidfile first, else a
    /proc scan by program (and node). Returns the pids stopped."""
    wanted = set(components)
    pids = {p for p in scan_ours(layout) if any(serves(p, c) for c in wanted)}
    pids |= {pid for comp in wanted if (pid := running_pid(layout, comp)) is not None}
    if pids:
        kill(sorted(pids))
    return sorted(pids)


def tail(layout: Layout, comp: str, lines: int = 15) -> str:
    try:
        text = layout.log(comp).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return f"\n--- {layout.log(comp)} (last {len(text)} lines)\n" + "\n".join(text)


def wait(what: str, check: Callable[[], bool], timeout: float, layout: Layout,
         watch: Iterable[str], interval: float = 0.1) -> None:
    """Poll ``check`` until true; fail early (with log tails) if a watched component exits."""
    watch = list(watch)
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        for comp in watch:
            if exited(layout, comp):
                raise ClusterError(f"{comp} exited while waiting for {what}: "
                                   f"{tail(layout, comp)}")
        if time.monotonic() > deadline:
            tails = "\n".join(tail(layout, c) for c in watch)
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval)


@dataclass(frozen=True)
class Component:
    """One process of the cluster, declared once for ``up`` (start it, wait until healthy),
    ``status`` (its health) and a node's ``restart``."""

    name: str
    """Its pidfile and log: ``etcd``, ``kubelet@worker-1``."""
    argv: Callable[[], list[str]]
    """Its command line, built when it starts (its program is looked up then)."""
    probe: Callable[[], bool]
    """Its health check (no exception: a failed check is False)."""
    awaited: str
    """What a wait for its health says (progress and errors): ``etcd /health``."""
    env: Callable[[], dict[str, str]] | None = None
    """Its environment, built when it starts (None: this process's)."""

    def spawn(self, layout: Layout) -> int:
        return spawn(layout, self.name, self.argv(), self.env() if self.env else None)


def start(layout: Layout, group: Sequence[Component], timeout: float,
          after: Sequence[Component] = ()) -> None:
    """Spawn ``group``, then wait for each one's health in turn; one of them, or of the
    components started ``after``, that exits meanwhile fails the wait at once."""
    for comp in group:
        comp.spawn(layout)
    watch = [c.name for c in (*after, *group)]
    for comp in group:
        wait(comp.awaited, comp.probe, timeout, layout, watch)


def http_ok(conn: http.client.HTTPConnection, path: str,
            body_ok: Callable[[bytes], bool] = lambda _: True) -> bool:
    """A health probe: ``GET path`` on ``conn`` answers 200 (and ``body_ok`` holds of the body).
    A refused or failed connection, or a body ``body_ok`` cannot read (ValueError), is no."""
    try:
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        return resp.status == 200 and body_ok(body)
    except (OSError, http.client.HTTPException, ValueError):
        return False


def free_port(address: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < count:
        p = free_port()
        if p not in chosen:
            chosen.append(p)
    return chosen


def listening_sockets(pids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(pid, local address, port) of each TCP socket in LISTEN state owned by ``pids``."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    result: list[tuple[int, str, int]] = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue
            raise
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc/net/tcp* stores the address as host-order 32-bit words.
            words = [raw[i: i + 4][::-1] for i in range(0, width, 4)]
            addr = ipaddress.ip_address(b"".join(words))
            result.append((inodes[inode], str(addr), int(port_hex, 16)))
    return result
