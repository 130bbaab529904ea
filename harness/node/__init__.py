"""The embedded cluster's real nodes: containerd, runc, the kubelet and kube-proxy, each node
in namespaces of its own (:mod:`harness.nodens`), kind's model without a container engine.

:func:`provision` records the host (:mod:`.host`), makes the cluster network's host bridge
(:data:`~harness.cluster.layout.CLUSTER_BRIDGE`, with the apiserver's address) and then, per
node, its namespaces, its own directories, its link to the bridge (:data:`NODE_LINK` inside,
with the node's address), a cgroup parent and the CNI reference plugins the node's OS would
ship; :func:`start` starts each node's containerd, imports the images (:mod:`.images`),
starts its kubelet and kube-proxy and waits until every Node is registered with a pod CIDR;
:func:`stop` takes every pod sandbox down through the CRI, stops the processes, frees the
namespaces and puts the host back as it was.

The nodes' pod network is not the harness' business: each Node stays NotReady
(``NetworkPluginNotReady``) until a stack installs one (the platform stack deploys Flannel
and Multus thick), exactly as on a kubeadm node.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import nodens, segments, tools, underlay
from harness.cluster import processes
from harness.cluster.api import Api
from harness.cluster.controlplane import Ports
from harness.cluster.layout import (
    APISERVER_IP,
    CLUSTER_BRIDGE,
    NODE_LINK,
    NODE_SUBNET,
    Layout,
    NodeSpec,
    node_specs,
)
from harness.cluster.lifecycle import NodeDriver, use_nodes
from harness.cluster.processes import Component
from harness.nodens import NodeNs
from harness.privilege import is_root

from . import containerd, cri, host, images, kubelet, kubeproxy

COMPONENTS = ("containerd", "kubelet", "kube-proxy")
"""Each node's programs, in start order (what :func:`components` declares)."""
TOOLS = ["containerd", "runc", "kubernetes", "cri-tools", "cni-plugins"]
SYSTEM_PATH = nodens.SYSTEM_PATH
CGROUP_ROOT = Path("/sys/fs/cgroup")

Progress = Callable[[str], None]


def why_not() -> str | None:
    """Why the real nodes cannot run on this machine (None: they can)."""
    if sys.platform != "linux":
        return "the real node needs Linux"
    if not is_root():
        return "the real node needs root (containers, namespaces, mounts)"
    for prog, package in (("ip", "iproute2"), ("iptables", "iptables"), ("mount", "mount"),
                          ("unshare", "util-linux"), ("nsenter", "util-linux")):
        if shutil.which(prog, path=SYSTEM_PATH) is None:
            return f"`{prog}` is missing (apt-get install {package})"
    version = subprocess.run([shutil.which("iptables", path=SYSTEM_PATH) or "iptables",
                              "--version"], capture_output=True, text=True, check=False).stdout
    if "nf_tables" not in version:
        return (f"the host's iptables is not iptables-nft ({version.strip()}): the Flannel "
                "image carries iptables-nft, and kube-proxy on each node and flanneld in its "
                "pod must write rules through the same backend")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path(
            "/sys/fs/cgroup/cgroup.controllers").exists():
        return "no memory cgroup controller"
    return None


@dataclass(frozen=True)
class Node:
    """One node of a cluster directory: its name, address, files and namespaces."""

    spec: NodeSpec
    layout: Layout

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ip(self) -> str:
        return self.spec.ip

    @property
    def dir(self) -> Path:
        return self.layout.node_dir(self.name)

    @property
    def conf(self) -> Path:
        """The node's configs (containerd, kubelet, kube-proxy), outside its own paths."""
        return self.dir / "conf"

    @property
    def ns(self) -> NodeNs:
        return NodeNs(self.name, self.dir / "fs")

    def component(self, program: str) -> str:
        """The name of one of the node's processes (pidfile, log): ``kubelet@worker-1``."""
        return f"{program}@{self.name}"

    @property
    def components(self) -> list[str]:
        return [self.component(c) for c in COMPONENTS]

    def path(self, inside: str | Path) -> Path:
        """The host path of ``inside`` as the node sees it: the node's own directory for its
        own paths (``/var/lib/cni/...``), the path itself for what the node shares with the
        host (``/tmp/...``)."""
        try:
            return self.ns.fs(str(inside))
        except nodens.NsError:
            return Path(inside)

    def run(self, argv: list[str], *, timeout: float = 60.0, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the node."""
        return self.ns.run(argv, timeout=timeout, check=check, input=input)


def nodes(layout: Layout, count: int) -> list[Node]:
    return [Node(spec, layout) for spec in node_specs(count)] if count else []


def running(layout: Layout) -> list[Node]:
    """The nodes of the cluster in ``layout`` (as its state file records them)."""
    return nodes(layout, layout.node_count())


def by_name(layout: Layout, name: str) -> Node:
    """Node ``name`` of the cluster (also by its number: ``2`` for ``worker-2``)."""
    for n in running(layout):
        if name in (n.name, str(n.spec.index)):
            return n
    known = ", ".join(n.name for n in running(layout)) or "none"
    raise processes.ClusterError(f"no node {name!r} (nodes: {known})")


def _bin(name: str) -> Path:
    path = tools.bin_dir() / name
    if not path.exists():
        raise processes.ClusterError(f"{name} is not built: run `make tools`")
    return path.resolve()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "NOTIFY"))}
    env["PATH"] = f"{tools.bin_dir()}:{SYSTEM_PATH}"
    return env


# --------------------------------------------------------------------------- provisioning


def _make_cgroup(path: Path) -> None:
    """A cgroup directory (cpuset: with the parent's cpus and mems, or nothing can join)."""
    if path.is_dir():
        return
    path.mkdir()
    if path.parts[4:5] == ("cpuset",):
        for f in ("cpuset.cpus", "cpuset.mems"):
            with contextlib.suppress(OSError):
                (path / f).write_text((path.parent / f).read_text())


def _cgroups(node: Node) -> None:
    """The node's ``cgroupRoot`` in every v1 controller (the kubelet refuses a missing one)."""
    for controller in sorted(CGROUP_ROOT.iterdir()):
        if not controller.is_dir() or controller.is_symlink():
            continue
        parent = controller / kubelet.CGROUP_PARENT
        with contextlib.suppress(OSError):
            _make_cgroup(parent)
            _make_cgroup(parent / node.name)


def _cgroup_pids(node: Node) -> set[int]:
    pids: set[int] = set()
    for controller in CGROUP_ROOT.iterdir():
        top = controller / kubelet.CGROUP_PARENT / node.name
        if not top.is_dir():
            continue
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in procs.read_text().split()}
    return pids


def _remove_cgroups(node: Node) -> None:
    for controller in CGROUP_ROOT.iterdir():
        top = controller / kubelet.CGROUP_PARENT / node.name
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
        with contextlib.suppress(OSError):
            top.parent.rmdir()  # the parent, once no node is left in it


def clear_stale(say: Progress) -> list[str]:
    """Remove what an earlier cluster on this host left once all its processes ended (a
    session that was stopped, from this checkout or another): its nodes' namespaces (their
    host links go with them) and the cluster bridge. Raises when a node of another cluster
    still runs. Returns what was removed; called before the host is recorded, so the record
    is the host's own."""
    removed: list[str] = []
    for name in nodens.all_node_names():
        stale = NodeNs(name)
        if stale.pids():
            raise processes.ClusterError(
                f"cannot start the nodes: node {name} of another cluster runs on this host "
                f"(namespaces under {nodens.NS_ROOT}, processes {stale.pids()[:5]}); take that "
                "cluster down first (`make cluster-down` in its checkout)")
        stale.destroy()
        removed.append(f"namespaces of node {name}")
        say(f"removed the namespaces of node {name} of an earlier cluster (no process left)")
    if not nodens.all_node_names() and CLUSTER_BRIDGE in host.links():
        # a freed network namespace is torn down by the kernel a little later (its veths
        # with it): give the bridge's ports a few seconds to go
        deadline = time.monotonic() + 10
        while (ports := underlay.ip_json("link", "show", "master", CLUSTER_BRIDGE)) and (
                removed and time.monotonic() < deadline):
            time.sleep(0.1)
        if not ports:
            underlay.ip("link", "delete", CLUSTER_BRIDGE)
            removed.append(f"link {CLUSTER_BRIDGE}")
            say(f"removed the cluster bridge {CLUSTER_BRIDGE} of an earlier cluster "
                "(no node left on it)")
    return removed


def provision(layout: Layout, members: list[Node], say: Progress) -> None:
    """Record the host, make the cluster bridge, then each node's namespaces, link, cgroup
    parent and CNI reference plugins."""
    clear_stale(say)
    host.prepare(layout.host)
    prefix = NODE_SUBNET.split("/")[1]
    host.record_links(layout.host, [CLUSTER_BRIDGE, *(n.spec.host_link for n in members)])
    underlay.ensure_underlay([underlay.Link(CLUSTER_BRIDGE, "bridge")])
    addrs = underlay.ip_json("addr", "show", "dev", CLUSTER_BRIDGE)
    if APISERVER_IP not in {a["local"] for li in addrs for a in li.get("addr_info", [])}:
        underlay.ip("addr", "add", f"{APISERVER_IP}/{prefix}", "dev", CLUSTER_BRIDGE)
    plugins = tools.discover()["cni-plugins"]
    src = tools.build_dir(plugins)
    mount_points: list[str] = []
    for node in members:
        node.ns.create(mount_points)
        _cgroups(node)
        ns = node.ns
        underlay.ip("link", "add", node.spec.host_link, "type", "veth", "peer", "name",
                    NODE_LINK, "netns", str(ns.file("net")))
        underlay.ip("link", "set", node.spec.host_link, "master", CLUSTER_BRIDGE, "up")
        underlay.ip("addr", "add", f"{node.ip}/{prefix}", "dev", NODE_LINK, netns=ns)
        underlay.ip("link", "set", NODE_LINK, "up", netns=ns)
        underlay.ip("route", "add", "default", "via", APISERVER_IP, netns=ns)
        node.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        cni_bin = node.path(containerd.CNI_BIN_DIR.as_posix())
        node.path(containerd.CNI_CONF_DIR.as_posix()).mkdir(parents=True, exist_ok=True)
        cni_bin.mkdir(parents=True, exist_ok=True)
        for out in plugins.outputs:
            if not (cni_bin / out).exists():
                shutil.copy2(src / out, cni_bin / out)
        say(f"{node.name}: namespaces, {NODE_LINK} {node.ip}, CNI plugins")
    if mount_points:
        say(f"made mount points on the host: {', '.join(mount_points)} (removed at down)")


# --------------------------------------------------------------------------- processes


def ctr(node: Node) -> list[str]:
    """``ctr`` against the node's containerd, as a command line run from the host."""
    return [*node.ns.prefix(), *containerd.ctr_argv(_bin("ctr"))]


def containerd_healthy(node: Node) -> bool:
    if not node.ns.exists():
        return False
    try:
        proc = subprocess.run([*ctr(node), "version"], capture_output=True, timeout=5,
                              check=False)
    except (subprocess.TimeoutExpired, processes.ClusterError):
        return False
    return proc.returncode == 0


def components(layout: Layout, node: Node, ports: Ports) -> tuple[Component, ...]:
    """The node's processes in start order (:data:`COMPONENTS`), each run inside the node's
    namespaces with the tools' ``PATH``: containerd, then the kubelet and kube-proxy, started
    together once the images are in."""
    inside = node.ns.prefix
    return (
        Component(node.component("containerd"),
                  lambda: [*inside(), *containerd.argv(node.conf, _bin("containerd"))],
                  lambda: containerd_healthy(node), f"{node.name}: containerd", _env),
        Component(node.component("kubelet"),
                  lambda: [*inside(), *kubelet.argv(layout, node.spec, node.conf,
                                                    _bin("kubelet"))],
                  lambda: kubelet.healthy(node.spec, ports), f"{node.name}: kubelet healthy",
                  _env),
        Component(node.component("kube-proxy"),
                  lambda: [*inside(), *kubeproxy.argv(node.conf, _bin("kube-proxy"))],
                  lambda: kubeproxy.healthy(node.spec, ports),
                  f"{node.name}: kube-proxy healthy", _env),
    )


def _start_node(layout: Layout, node: Node, ports: Ports, built: dict[str, images.Built],
                say: Progress, timeout: float) -> None:
    containerd.write_config(node.conf, runc=_bin("runc"), sandbox_image=images.PAUSE_IMAGE)
    kubelet.write_config(layout, node.spec, node.conf, ports)
    kubeproxy.write_config(layout, node.spec, node.conf, ports)
    runtime, *agents = components(layout, node, ports)
    processes.start(layout, [runtime], timeout)
    t = time.monotonic()
    done = images.import_into(ctr(node), built, say=lambda m: say(f"{node.name}: {m}"))
    if done:
        say(f"{node.name}: imported {len(done)} image(s) ({time.monotonic() - t:.1f}s)")
    processes.start(layout, agents, timeout, after=[runtime])


def start(layout: Layout, members: list[Node], ports: Ports, api: Api, say: Progress,
          timeout: float) -> None:
    """Start every node's containerd, import the images, start the kubelets and kube-proxies;
    return once every Node is registered with a pod CIDR."""
    tools.ensure(TOOLS)
    built = images.build(say=say)
    with ThreadPoolExecutor(max_workers=len(members) or 1) as pool:
        for f in [pool.submit(_start_node, layout, n, ports, built, say, timeout)
                  for n in members]:
            f.result()
    for node in members:
        processes.wait(f"node {node.name} registered with a pod CIDR",
                       functools.partial(_registered, api, node.name), timeout, layout,
                       node.components)


def _registered(api: Api, name: str) -> bool:
    with contextlib.suppress(Exception):
        found = api.get_or_none(f"/api/v1/nodes/{name}")
        return bool(found and (found.get("spec") or {}).get("podCIDR"))
    return False


def restart(layout: Layout, node: Node, ports: Ports, component: str, say: Progress,
            timeout: float = 120.0) -> int:
    """Stop one of a node's processes (SIGTERM) and start it again with the same command
    line, as a service manager restarting it would; return the new pid. Containers keep
    running meanwhile: their shims do not depend on containerd or the kubelet."""
    if component not in COMPONENTS:
        raise processes.ClusterError(f"not a node component: {component}")
    comp = next(c for c in components(layout, node, ports)
                if c.name == node.component(component))
    old = processes.stop(layout, [comp.name])
    pid = comp.spawn(layout)
    processes.wait(f"{comp.name} healthy again", comp.probe, timeout, layout, [comp.name])
    say(f"restarted {comp.name}: pid {old} -> {pid}")
    return pid


def crash(node: Node) -> list[int]:
    """Kill every process of ``node`` at once (SIGKILL: containerd, kubelet, kube-proxy, the
    shims and every container), as a power cut would; the namespaces stay."""
    pids = set(node.ns.pids()) | _cgroup_pids(node)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    node.ns.kill_all()
    return sorted(pids)


def boot(layout: Layout, node: Node, ports: Ports, say: Progress,
         timeout: float = 120.0) -> None:
    """Start a crashed node's processes again (its images are still in its containerd)."""
    _start_node(layout, node, ports, images.build(say=say), say, timeout)


def stop(layout: Layout, members: Iterable[Node], say: Progress
         ) -> tuple[list[int], list[str]]:
    """Stop the nodes and restore the host. Returns (pids stopped, differences left)."""
    members = list(members)
    stopped: list[int] = []
    problems: list[str] = []

    def one(node: Node) -> tuple[list[int], list[str]]:
        pids = processes.stop(layout, [node.component("kubelet"), node.component("kube-proxy")])
        issues: list[str] = []
        if (processes.running_pid(layout, node.component("containerd")) is not None
                and node.ns.exists()):
            with contextlib.suppress(Exception):
                issues += cri.remove_all(node.ns, say)
        pids += processes.stop(layout, [node.component("containerd")])
        pids += sorted(set(node.ns.destroy()) | _cgroup_pids(node))
        _remove_cgroups(node)
        return pids, issues

    with ThreadPoolExecutor(max_workers=len(members) or 1) as pool:
        for pids, issues in pool.map(one, members):
            stopped += pids
            problems += issues
    for name in nodens.all_node_names():  # a crashed run's nodes of this cluster directory
        if layout.node_dir(name).exists():
            stopped += NodeNs(name, layout.node_dir(name) / "fs").destroy()
    left = host.restore(layout.host, say, mount_prefixes=[str(nodens.NS_ROOT)])
    for p in problems:
        say(p)
    return stopped, left


def ensure_underlay(layout: Layout, links: Iterable[underlay.Link | str]) -> list[str]:
    """Make the underlay links the cluster's NADs name on every node, joined across them
    (:mod:`harness.segments`), and record the host's side for ``cluster down``."""
    wanted = [underlay.Link(li) if isinstance(li, str) else li for li in links]
    members = [n.ns for n in running(layout)]
    host.record_links(layout.host, [h for li in wanted if not li.movable
                                    for h in segments.host_links(members, li.name)])
    return segments.ensure(members, wanted)


def remove_underlay(layout: Layout, names: Iterable[str]) -> list[str]:
    """Take underlay links down on every node, with their host side."""
    return segments.remove([n.ns for n in running(layout)], names)


def _members(layout: Layout, specs: list[NodeSpec]) -> list[Node]:
    return [Node(spec, layout) for spec in specs]


# The cluster's up, status and down run the nodes through these (harness.cluster does not
# import this package); each function is looked up at each call, as a test may replace one.
use_nodes(NodeDriver(
    why_not=lambda: why_not(),
    provision=lambda layout, specs, say: provision(layout, _members(layout, specs), say),
    start=lambda layout, specs, ports, api, say, timeout: start(
        layout, _members(layout, specs), ports, api, say, timeout),
    components=lambda layout, spec, ports: components(layout, Node(spec, layout), ports),
    stop=lambda layout, specs, say: stop(layout, _members(layout, specs), say),
))
