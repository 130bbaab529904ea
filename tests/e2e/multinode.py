"""Helpers of the two-node tests: pods pinned to a node, their secondary addresses, TCP from
inside a pod's network namespace, and a router namespace on an underlay segment."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness import underlay
from harness.cluster.api import Api, pod_ready, wait_for
from harness.nodens import PodNetns
from harness.pytest_fixtures import NodeHandle
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION
from tests.e2e.nadspace import NadSpace

HOSTNAME = "kubernetes.io/hostname"


def on(node: str) -> dict[str, Any]:
    """Pod spec fields that pin a pod to ``node``."""
    return {"nodeSelector": {HOSTNAME: node}}


def running(api: Api, namespace: str, name: str, timeout: float = 120) -> Any:
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"
    return wait_for(f"pod {namespace}/{name} Running",
                    lambda: (p if pod_ready(p := api.get(path)) else None), timeout=timeout)


def addresses(pod: Any, interface: str) -> list[str]:
    """The addresses Multus reports for ``interface`` of ``pod`` (network-status)."""
    notes = pod["metadata"].get("annotations") or {}
    status = json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]"))
    return [str(ip) for s in status if s.get("interface") == interface
            for ip in s.get("ips") or []]


@dataclass
class Placed:
    """A running pod and the namespace it runs in, on its node."""

    name: str
    node: str
    pod: Any
    netns: PodNetns

    def ip(self, interface: str) -> str:
        [found] = addresses(self.pod, interface)
        return found


def place(space: NadSpace, nodes: NodeHandle, name: str, node: str,
          selections: list[dict[str, Any]] | None = None, **spec: Any) -> Placed:
    """Create a toolbox pod on ``node`` and wait until it runs."""
    space.create_pod(name, selections, **on(node), **spec)
    api = nodes.cluster.api()
    pod = running(api, space.namespace, name)
    assert pod["spec"]["nodeName"] == node, pod["spec"].get("nodeName")
    return Placed(name, node, pod, nodes.pod_netns(space.namespace, name))


_TCP = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.decode(errors="replace"))
"""


def http_get(netns: PodNetns, host: str, port: int, timeout: float = 5.0) -> str:
    """An HTTP/1.0 GET from inside ``netns`` (Python from the host, in the pod's namespace);
    the whole answer, or ``""`` when the connection fails."""
    proc = subprocess.run(
        underlay.exec_argv(netns, [sys.executable, "-c", _TCP, host, str(port),
                                   str(timeout)]),
        capture_output=True, text=True, timeout=timeout + 15, check=False)
    return proc.stdout if proc.returncode == 0 else ""


@dataclass
class Router:
    """A network namespace on an underlay segment: the gateway address on its segment link
    and one address beyond it on its loopback; iptables counts what arrives for the latter."""

    netns: str
    link: str
    gateway: str
    beyond: str

    def _iptables(self, *args: str) -> str:
        return subprocess.run([underlay.ip_binary(), "netns", "exec", self.netns, *args],
                              capture_output=True, text=True, check=True).stdout

    def watch(self, source: str) -> None:
        """Count ICMP from ``source`` to :attr:`beyond` arriving on the segment link."""
        self._iptables("iptables", "-w", "-A", "INPUT", "-i", self.link, "-s", source,
                       "-d", self.beyond, "-p", "icmp", "-j", "ACCEPT")

    def arrived(self, source: str) -> int:
        """Packets counted by :meth:`watch` for ``source``."""
        for line in self._iptables("iptables-save", "-c", "-t", "filter").splitlines():
            if (f"-s {source}/32" in line and f"-d {self.beyond}/32" in line
                    and line.startswith("[")):
                return int(line[1:].split(":")[0])
        return 0


@contextlib.contextmanager
def router(segment: str, gateway: str, prefix: int, beyond: str,
           name: str = "np-mnrouter") -> Iterator[Router]:
    """A router namespace attached to the host bridge of ``segment`` (removed on the way out,
    with its links)."""
    link, peer = f"{name[:10]}-s", f"{name[:10]}-r"
    underlay.ip("netns", "add", name)
    try:
        underlay.ip("link", "add", link, "type", "veth", "peer", "name", peer)
        underlay.ip("link", "set", link, "master", segment, "up")
        underlay.ip("link", "set", peer, "netns", name)
        underlay.ip("addr", "add", f"{gateway}/{prefix}", "dev", peer, netns=name)
        underlay.ip("link", "set", peer, "up", netns=name)
        underlay.ip("link", "set", "lo", "up", netns=name)
        underlay.ip("addr", "add", f"{beyond}/32", "dev", "lo", netns=name)
        yield Router(name, peer, gateway, beyond)
    finally:
        underlay.ip("link", "del", link, check=False)
        underlay.ip("netns", "del", name, check=False)
