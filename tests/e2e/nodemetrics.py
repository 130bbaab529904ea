"""The node plugin's metrics endpoint as the e2e tests read it, and its processes on the node.

The node plugin runs on the host network, so its metrics are at ``127.0.0.1:<port>`` on the
node. :func:`scrape` parses the Prometheus text format into samples; :class:`Samples` sums
the samples matching some labels (the others summed over), and :meth:`Samples.delta` gives
the change between two scrapes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from netplumb.args.node_plugin import METRICS_PORT

METRICS_URL = f"http://127.0.0.1:{METRICS_PORT}/metrics"

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


def scrape(url: str = METRICS_URL, timeout: float = 5.0) -> Samples:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return Samples(parse(resp.read().decode()))


def node_plugin_pids(command: str) -> list[int]:
    """PIDs of the node's ``netplumb-node <command>`` processes (its containers' main
    processes, as the host sees them)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].endswith(b"/netplumb-node") and argv[1] == command.encode():
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
