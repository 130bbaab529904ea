"""What the node plugin's Go sources (``node/``) define, read from the files themselves: the
flags of each ``netplumb-node`` command and the metric names the metrics daemon exports. The
Python side renders command lines and queries against these, so a rename on either side
fails a unit test instead of a pod or a dashboard."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

NODE = Path(__file__).parents[2] / "node"
MAIN = NODE / "cmd/netplumb-node/main.go"
METRICS = NODE / "internal/metrics/metrics.go"


def _function(source: str, name: str) -> str:
    """The body of Go function ``name`` (up to the next top-level ``func``)."""
    start = source.index(f"\nfunc {name}(")
    end = source.find("\nfunc ", start + 1)
    return source[start:end if end >= 0 else None]


@cache
def command_flags(command: str) -> frozenset[str]:
    """The flags ``netplumb-node <command>`` defines (its ``run<Command>`` function)."""
    source = MAIN.read_text()
    name = "run" + "".join(part.capitalize() for part in re.split(r"[-_]", command))
    if command == "dhcp":
        name = "runDHCP"
    body = _function(source, name)
    found = re.findall(r'fs\.(?:String|Bool|Duration|Int)(?:Var)?\((?:&[\w.]+, )?"([^"]+)"', body)
    found += re.findall(r'fs\.Var\(&\w+, "([^"]+)"', body)
    return frozenset(found)


def commands() -> frozenset[str]:
    """The commands ``netplumb-node`` dispatches on."""
    source = MAIN.read_text()
    body = _function(source, "main")
    return frozenset(re.findall(r'case "([a-z][a-z-]*)"', body))


def flag_names(args: list[str]) -> list[str]:
    """The flag names of a rendered command line (``--name=value``, ``--name``)."""
    return [a[2:].split("=", 1)[0] for a in args if a.startswith("--")]


@cache
def exported_metrics() -> frozenset[str]:
    """Every metric name the metrics daemon registers."""
    source = METRICS.read_text()
    names = set(re.findall(r'Name:\s+"([a-z_]+)"', source))
    constants = dict(re.findall(r'(\w+Name)\s+=\s+"([a-z_]+)"', source))
    names |= set(constants.values())
    return frozenset(names)


@cache
def default_metrics_port() -> int:
    m = re.search(r'DefaultListen = ":(\d+)"', METRICS.read_text())
    assert m, "DefaultListen not found in node/internal/metrics/metrics.go"
    return int(m[1])
