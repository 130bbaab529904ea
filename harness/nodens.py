"""A node's own namespaces: kind's model without a container engine.

Each node of the embedded cluster runs its containerd, kubelet and kube-proxy in a mount, a
network and a UTS namespace of its own, made with util-linux ``unshare`` and kept alive by
bind mounts of their ``/proc/<pid>/ns/*`` files under :data:`NS_ROOT` (a private mount, so
the bind mounts hold). Programs enter them with ``nsenter`` (which execs the program, so its
pid and command line are the program's own).

Inside the node:

* the hostname is the node's name;
* :data:`NODE_PATHS` are the node's own directories (bind mounts of ``<cluster>/nodes/<name>/
  fs/...``): ``/run`` (containerd's state and socket, ``/run/netns``, Flannel's lease, the
  node plugin's state), ``/etc/cni`` and ``/opt/cni`` (CNI configs and plugins),
  ``/var/lib/kubelet``, ``/var/lib/containerd``, ``/var/lib/cni`` (IPAM reservations, Multus'
  cache) and ``/var/log`` (pod logs); the rest of the host's file system is shared, read and
  write, as a kind node shares the host's kernel;
* ``/sys`` is mounted again, so it shows the node's network devices (the host's cgroup
  mounts are carried over), and ``/`` is made a shared mount inside the node (the Multus and
  node plugin DaemonSets use ``mountPropagation``), which the host never sees;
* the network namespace holds the node's own links, routes, iptables and per-namespace
  sysctls (``net.ipv4.ip_forward`` and the like).

Nothing of a node outlives :meth:`NodeNs.destroy`: every process in its namespaces (and
their descendants: pods' containers) is killed, and the namespace files are unmounted, which
frees the namespaces and every mount and link inside them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from netplumb import hostpaths

NS_ROOT = Path("/run/netplumb-nodes")
"""Where the nodes' namespace files live (a private bind mount of itself)."""
KINDS = ("mnt", "net", "uts")
NODE_PATHS = (hostpaths.RUN_DIR, "/etc/cni", "/opt/cni", hostpaths.KUBELET_DIR,
              "/var/lib/containerd", "/var/lib/cni", hostpaths.LOG_DIR)
"""Host paths that are the node's own inside it (each a directory of the node's file tree)."""
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NsError(RuntimeError):
    """A node's namespaces could not be made, entered or removed."""


def _run(argv: list[str], *, timeout: float = 60.0, input: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                          check=False, env={**os.environ, "PATH": SYSTEM_PATH})
    if check and proc.returncode != 0:
        raise NsError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _mount_points() -> set[str]:
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


def ensure_root() -> None:
    """Make :data:`NS_ROOT` a private mount (namespace bind mounts need one)."""
    NS_ROOT.mkdir(parents=True, exist_ok=True)
    if str(NS_ROOT) not in _mount_points():
        _run(["mount", "--bind", str(NS_ROOT), str(NS_ROOT)])
    _run(["mount", "--make-private", str(NS_ROOT)])


def release_root() -> None:
    """Unmount and remove :data:`NS_ROOT` once no node is left in it."""
    if not NS_ROOT.exists():
        return
    if any(NS_ROOT.iterdir()):
        return
    if str(NS_ROOT) in _mount_points():
        _run(["umount", str(NS_ROOT)], check=False)
    with contextlib.suppress(OSError):
        NS_ROOT.rmdir()


def all_node_names() -> list[str]:
    """Every node whose namespace files exist on this host (also a crashed run's)."""
    if not NS_ROOT.is_dir():
        return []
    return sorted(p.name for p in NS_ROOT.iterdir() if p.is_dir())


class NodeNs:
    """The namespaces of node ``name``, whose own directories live under ``fs_root`` (needed
    only to make them, or to find a node path on the host: entering takes the name alone)."""

    def __init__(self, name: str, fs_root: Path | None = None) -> None:
        self.name = name
        self._fs_root = fs_root
        self.dir = NS_ROOT / name

    @property
    def fs_root(self) -> Path:
        if self._fs_root is None:
            raise NsError(f"node {self.name}: its file tree was not given")
        return self._fs_root

    def __repr__(self) -> str:
        return f"NodeNs({self.name!r})"

    def file(self, kind: str) -> Path:
        return self.dir / kind

    def fs(self, path: str) -> Path:
        """The host directory that is ``path`` inside the node (``path`` under one of
        :data:`NODE_PATHS`)."""
        for root in NODE_PATHS:
            if path == root or path.startswith(root + "/"):
                return self.fs_root / path.lstrip("/")
        raise NsError(f"{path} is the host's own inside node {self.name}, not the node's")

    def exists(self) -> bool:
        points = _mount_points()
        return all(str(self.file(k)) in points for k in KINDS)

    def inode(self, kind: str) -> int:
        return os.stat(self.file(kind)).st_ino

    def prefix(self, *, mount: bool = True, net: bool = True) -> list[str]:
        """``nsenter`` arguments that run the rest of a command line inside the node."""
        argv = [shutil.which("nsenter", path=SYSTEM_PATH) or "nsenter"]
        if mount:
            argv.append(f"--mount={self.file('mnt')}")
        if net:
            argv.append(f"--net={self.file('net')}")
        argv += [f"--uts={self.file('uts')}", "--"]
        return argv

    def run(self, argv: list[str], *, timeout: float = 60.0, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node (its mount, network and UTS namespaces)."""
        return _run([*self.prefix(), *argv], timeout=timeout, input=input, check=check)

    # ----------------------------------------------------------------------- lifecycle

    def create(self, host_mount_points: list[str]) -> None:
        """Make the namespaces: hostname, loopback, the node's own directories, ``/sys``, a
        shared ``/`` inside. ``host_mount_points`` collects the :data:`NODE_PATHS` that had to
        be made on the host to mount over (empty directories; the host record removes them)."""
        if self.exists():
            raise NsError(f"node {self.name}'s namespaces exist already")
        ensure_root()
        self.dir.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            self.file(kind).touch()
        binds = []
        for path in NODE_PATHS:
            (self.fs_root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
            if not os.path.isdir(path):
                os.makedirs(path)
                host_mount_points.append(path)
            binds.append(f"mount --bind {self.fs_root / path.lstrip('/')} {path}")
        keep = self.fs_root / ".cgroup-keep"
        keep.mkdir(exist_ok=True)
        script = "\n".join([
            "set -e",
            f"hostname {self.name}",
            "ip link set lo up",
            *binds,
            "mkdir -p /run/netns /var/log/pods /var/log/containers",
            # a /sys of the node's network namespace, with the host's cgroup mounts moved in
            f"mount --rbind /sys/fs/cgroup {keep}",
            "mount -t sysfs sysfs /sys",
            f"mount --move {keep} /sys/fs/cgroup",
            "mount --make-rshared /",
        ])
        try:
            _run(["unshare", f"--mount={self.file('mnt')}", f"--net={self.file('net')}",
                  f"--uts={self.file('uts')}", "--propagation", "private",
                  "sh", "-c", script])
        except NsError:
            self.destroy()
            raise

    def pids(self) -> list[int]:
        """Processes inside the node's mount or network namespace, and their descendants
        (pods' containers, which have namespaces of their own)."""
        if not self.dir.exists():
            return []
        want: set[str] = set()
        for kind, link in (("mnt", "mnt"), ("net", "net")):
            with contextlib.suppress(OSError):
                if str(self.file(kind)) in _mount_points():
                    want.add(f"{link}:[{self.inode(kind)}]")
        me = os.getpid()
        parents: dict[int, list[int]] = {}
        inside: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[-1].split()[1])
                links = {os.readlink(entry / "ns" / k) for k in ("mnt", "net")}
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(pid)
            if pid != me and links & want:
                inside.add(pid)
        todo = list(inside)
        while todo:
            for child in parents.get(todo.pop(), []):
                if child not in inside and child != me:
                    inside.add(child)
                    todo.append(child)
        return sorted(inside)

    def kill_all(self, timeout: float = 10.0) -> list[int]:
        """SIGKILL every process of the node; return their pids."""
        killed: list[int] = []
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return killed
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed += [p for p in pids if p not in killed]
            if time.monotonic() > deadline:
                raise NsError(f"node {self.name}: processes still alive after SIGKILL: {pids}")
            time.sleep(0.05)

    def destroy(self) -> list[int]:
        """Kill every process of the node and free its namespaces (with every mount and link
        inside them). Returns the pids killed. Idempotent."""
        killed = self.kill_all()
        for kind in KINDS:
            path = self.file(kind)
            if str(path) in _mount_points():
                _run(["umount", str(path)], check=False)
                if str(path) in _mount_points():
                    _run(["umount", "-l", str(path)], check=False)
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        release_root()
        return killed


class PodNetns:
    """A pod's network namespace on a node: ``name`` (``cni-…``) as ``ip netns`` lists it
    inside the node."""

    def __init__(self, node: NodeNs, name: str) -> None:
        self.node = node
        self.name = name

    def __repr__(self) -> str:
        return f"PodNetns({self.node.name!r}, {self.name!r})"

    def __str__(self) -> str:
        return f"{self.node.name}:{self.name}"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PodNetns) and other.node.name == self.node.name
                and other.name == self.name)

    def __hash__(self) -> int:
        return hash((self.node.name, self.name))

    def exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the pod's network namespace (and the node's mount namespace,
        where the namespace file lives)."""
        return [*self.node.prefix(net=False), "ip", "netns", "exec", self.name, *argv]


Netns = str | PodNetns
"""A named network namespace on the host (a test's own), or a pod's on a node."""
