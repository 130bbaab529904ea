"""The embedded cluster's real node: containerd, runc, the kubelet and kube-proxy on this host.

:func:`provision` prepares the host (records it first: :mod:`.host`), makes the node's
underlay link and installs the CNI reference plugins the node's OS would ship;
:func:`start` starts containerd, imports the images (:mod:`.images`), starts the kubelet and
kube-proxy and waits until the Node is registered with a pod CIDR; :func:`stop` takes every
pod sandbox down through the CRI, stops the processes and puts the host back as it was.

The node's pod network is not the harness' business: the Node stays NotReady
(``NetworkPluginNotReady``) until a stack installs one (the dev stack deploys Flannel and
Multus thick), exactly as on a kubeadm node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness import tools, underlay
from harness.cluster import processes
from harness.cluster.api import Api
from harness.cluster.controlplane import Ports
from harness.cluster.layout import NODE_IP, NODE_LINK, NODE_NAME, NODE_SUBNET, Layout

from . import containerd, cri, host, images, kubelet, kubeproxy

COMPONENTS = ("containerd", "kubelet", "kube-proxy")
"""The node's processes, in start order."""
TOOLS = ["containerd", "runc", "kubernetes", "cri-tools", "cni-plugins"]
SHIM = "containerd-shim-runc-v2"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Progress = Callable[[str], None]


def why_not() -> str | None:
    """Why the real node cannot run on this machine (None: it can)."""
    if sys.platform != "linux":
        return "the real node needs Linux"
    if os.geteuid() != 0:
        return "the real node needs root (containers, network namespaces, mounts)"
    for prog, package in (("ip", "iproute2"), ("iptables", "iptables"), ("mount", "mount")):
        if shutil.which(prog, path=SYSTEM_PATH) is None:
            return f"`{prog}` is missing (apt-get install {package})"
    version = subprocess.run([shutil.which("iptables", path=SYSTEM_PATH) or "iptables",
                              "--version"], capture_output=True, text=True, check=False).stdout
    if "nf_tables" not in version:
        return (f"the host's iptables is not iptables-nft ({version.strip()}): the Flannel "
                "image carries iptables-nft, and kube-proxy on the host and flanneld in its "
                "pod must write rules through the same backend")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path(
            "/sys/fs/cgroup/cgroup.controllers").exists():
        return "no memory cgroup controller"
    return None


def _bin(name: str) -> Path:
    path = tools.bin_dir() / name
    if not path.exists():
        raise processes.ClusterError(f"{name} is not built: run `make tools`")
    return path.resolve()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "NOTIFY"))}
    env["PATH"] = f"{tools.bin_dir()}:{SYSTEM_PATH}"
    return env


def provision(layout: Layout, say: Progress) -> None:
    """Record the host, make the node's underlay link (``NODE_IP`` on ``np-node0``) and put
    the CNI reference plugins into ``/opt/cni/bin``."""
    busy = host.busy_reason()
    if busy:
        raise processes.ClusterError(f"cannot start the node: {busy}")
    host.prepare(layout.host)
    host.record_links(layout.host, [NODE_LINK])
    underlay.ensure_underlay([NODE_LINK])
    prefix = NODE_SUBNET.split("/")[1]
    addrs = underlay.ip_json("addr", "show", "dev", NODE_LINK)
    have = {a["local"] for li in addrs for a in li.get("addr_info", [])}
    if NODE_IP not in have:
        underlay.ip("addr", "add", f"{NODE_IP}/{prefix}", "dev", NODE_LINK)
    plugins = tools.discover()["cni-plugins"]
    src = tools.build_dir(plugins)
    containerd.CNI_BIN_DIR.mkdir(parents=True, exist_ok=True)
    containerd.CNI_CONF_DIR.mkdir(parents=True, exist_ok=True)
    for out in plugins.outputs:
        dest = containerd.CNI_BIN_DIR / out
        if not dest.exists():
            shutil.copy2(src / out, dest)
    say(f"host recorded; {NODE_LINK} {NODE_IP}; CNI plugins in {containerd.CNI_BIN_DIR}")


def start(layout: Layout, ports: Ports, api: Api, say: Progress, timeout: float) -> None:
    """Start containerd, import the images, start the kubelet and kube-proxy; return once
    the Node is registered and has its pod CIDR."""
    tools.ensure(TOOLS)
    built = images.build(say=say)
    containerd.write_config(layout, runc=_bin("runc"), sandbox_image=images.PAUSE_IMAGE)
    kubelet.write_config(layout, ports)
    kubeproxy.write_config(layout, ports)
    env = _env()
    processes.spawn(layout, "containerd", containerd.argv(layout, _bin("containerd")), env)
    ctr = _bin("ctr")
    processes.wait("containerd", lambda: containerd.healthy(ctr), timeout, layout,
                   ["containerd"])
    images.import_into(ctr, containerd.ADDRESS, built, say=say)
    processes.spawn(layout, "kubelet", kubelet.argv(layout, _bin("kubelet")), env)
    processes.spawn(layout, "kube-proxy", kubeproxy.argv(layout, _bin("kube-proxy")), env)
    watch = list(COMPONENTS)
    processes.wait("kubelet /healthz", lambda: kubelet.healthy(ports), timeout, layout, watch)
    processes.wait("kube-proxy /livez", lambda: kubeproxy.healthy(ports), timeout, layout,
                   watch)

    def registered() -> bool:
        with contextlib.suppress(Exception):
            node = api.get_or_none(f"/api/v1/nodes/{NODE_NAME}")
            return bool(node and (node.get("spec") or {}).get("podCIDR"))
        return False

    processes.wait(f"node {NODE_NAME} registered with a pod CIDR", registered, timeout, layout,
                   watch)


def healthy(layout: Layout, ports: Ports) -> dict[str, bool]:
    ctr = tools.bin_dir() / "ctr"
    return {
        "containerd": processes.running_pid(layout, "containerd") is not None
        and containerd.healthy(ctr),
        "kubelet": processes.running_pid(layout, "kubelet") is not None
        and kubelet.healthy(ports),
        "kube-proxy": processes.running_pid(layout, "kube-proxy") is not None
        and kubeproxy.healthy(ports),
    }


def restart(layout: Layout, ports: Ports, component: str, say: Progress,
            timeout: float = 120.0) -> int:
    """Stop one of the node's processes (SIGTERM) and start it again with the same command
    line, as a service manager restarting it would; return the new pid. Containers keep
    running meanwhile: their shims do not depend on containerd or the kubelet."""
    argvs = {
        "containerd": lambda: containerd.argv(layout, _bin("containerd")),
        "kubelet": lambda: kubelet.argv(layout, _bin("kubelet")),
        "kube-proxy": lambda: kubeproxy.argv(layout, _bin("kube-proxy")),
    }
    checks = {
        "containerd": lambda: containerd.healthy(_bin("ctr")),
        "kubelet": lambda: kubelet.healthy(ports),
        "kube-proxy": lambda: kubeproxy.healthy(ports),
    }
    if component not in argvs:
        raise processes.ClusterError(f"not a node component: {component}")
    old = processes.stop(layout, [component])
    pid = processes.spawn(layout, component, argvs[component](), _env())
    processes.wait(f"{component} healthy again", checks[component], timeout, layout,
                   [component])
    say(f"restarted {component}: pid {old} -> {pid}")
    return pid


def shim_pids() -> list[int]:
    """containerd runc shims serving this node's containerd socket."""
    out = []
    for pid in processes.all_pids():
        args = processes.process_cmdline(pid)
        if args and Path(args[0]).name == SHIM and containerd.ADDRESS in " ".join(args):
            out.append(pid)
    return out


def stop(layout: Layout, say: Progress) -> tuple[list[int], list[str]]:
    """Stop the node and restore the host. Returns (pids stopped, differences left)."""
    stopped = processes.stop(layout, ["kubelet", "kube-proxy"])
    problems: list[str] = []
    if processes.running_pid(layout, "containerd") is not None and containerd.SOCKET.exists():
        with contextlib.suppress(Exception):
            problems += cri.remove_all(say)
    stopped += processes.stop(layout, ["containerd"])
    shims = shim_pids()
    if shims:
        doomed = processes.children_of(shims) + shims
        processes.kill(doomed, timeout=5.0)
        stopped += shims
    left = host.restore(layout.host, say, mount_prefixes=[str(layout.node)])
    for p in problems:
        say(p)
    return stopped, left


def ensure_underlay(layout: Layout, links: list[underlay.Link]) -> list[str]:
    """Make underlay links for the cluster's NADs and record them for ``cluster down``."""
    host.record_links(layout.host, [li.name for li in links])
    return underlay.ensure_underlay(links)
