"""The node plugin's metrics endpoints as the e2e tests read them, and its processes on a node.

The node plugin runs on each node's host network (a DaemonSet, ``hostNetwork``), so every
node has its own metrics endpoint, at ``<node IP>:<port>``, reachable from the host over the
cluster bridge. Each counts what happened on its node only: a pod's CNI ADD and DEL are
counted by the node that ran the pod, and host-local pools are that node's. :func:`scrape`
reads one node's endpoint and parses the Prometheus text format into samples;
:func:`scrape_all` adds up every node's (for cluster-wide counts); :class:`Samples` sums the
samples matching some labels (the others summed over), and :meth:`Samples.delta` gives the
change between two scrapes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.node import Node
from netplumb.args.node_plugin import METRICS_PORT

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of the Prometheus text exposition format, by (name, labels)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels: dict[str, str] = {}
        rest = m.group(2) or ""
        pos = 0
        while pos < len(rest):
            lm = _LABEL.match(rest, pos)
            if not lm:
                raise ValueError(f"bad labels in {line!r}")
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


@dataclass(frozen=True)
class Samples:
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]

    def matching(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        want = set(labels.items())
        return {lbls: v for (n, lbls), v in self.samples.items() if n == name and want <= lbls}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` carrying ``labels`` (0 when there are none)."""
        return sum(self.matching(name, **labels).values())

    def delta(self, before: Samples, name: str, **labels: str) -> float:
        return self.value(name, **labels) - before.value(name, **labels)


def metrics_url(node: Node) -> str:
    """The node plugin's metrics endpoint on ``node`` (it listens on every address of the
    node's network namespace; the node's own address is reachable from the host)."""
    return f"http://{node.ip}:{METRICS_PORT}/metrics"


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy: the nodes' addresses are on the host's own cluster bridge."""


def scrape(node: Node, timeout: float = 5.0) -> Samples:
    """One scrape of ``node``'s node plugin: what happened on that node."""
    with _DIRECT.open(metrics_url(node), timeout=timeout) as resp:
        return Samples(parse(resp.read().decode()))


def scrape_all(nodes: Iterable[Node], timeout: float = 5.0) -> Samples:
    """Every node's samples added up, series by series (cluster-wide counts; a gauge every
    node reports for the whole cluster, such as a whereabouts pool's, adds up too)."""
    total: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for node in nodes:
        for key, value in scrape(node, timeout).samples.items():
            total[key] = total.get(key, 0.0) + value
    return Samples(total)


def node_plugin_pids(node: Node, command: str) -> list[int]:
    """PIDs of ``node``'s ``netplumb-node <command>`` processes (its containers' main
    processes, as the host sees them): the node plugin's containers share the node's
    network namespace (``hostNetwork``), which tells one node's from another's."""
    want = f"net:[{node.ns.inode('net')}]"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not (len(argv) >= 2 and argv[0].endswith(b"/netplumb-node")
                    and argv[1] == command.encode()):
                continue
            if os.readlink(entry / "ns" / "net") != want:
                continue
        except OSError:
            continue
        pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    """The processes stopped (SIGSTOP) inside the block, continued (SIGCONT) after it, also
    when the block fails."""
    stopped = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
