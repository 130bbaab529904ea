"""``netplumb doctor``: the Multus troubleshooting checklist through the Kubernetes API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..args.stack import load_stack_file
from ..errors import PlanError
from ..ops.doctor import EXIT_UNKNOWN, diagnose, format_json, format_text
from ..ops.live import read_snapshot
from ..plan import build_plan
from .common import add_cluster_flags, connect, existing_stack_file, read_or_say

HELP = """Check what the hand-run guide checks when secondary networks fail: the Multus
DaemonSet is ready on every node (and its ConfigMaps parse); the NADs pods select exist and
their configs parse (named with the field); pods stuck creating, their sandbox failures
grouped by cause and NAD (pool exhausted, host link missing, NAD missing, plugin missing, ...);
pool use per network. Every finding has a fix. Exit status: 0 nothing to fix, 1 warnings,
2 errors, 3 the cluster could not be read."""


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="diagnose secondary networking on a cluster "
                                      "(Kubernetes API only)", description=HELP)
    p.add_argument("stack", nargs="?",
                   help="look only at the namespaces of this stack (default: all namespaces)")
    p.add_argument("-n", "--namespace", action="append", default=[],
                   help="look only at this namespace (repeatable)")
    add_cluster_flags(p)
    p.set_defaults(func=run)


def _stack_namespaces(args: argparse.Namespace) -> set[str]:
    path = existing_stack_file(args.stack, args.stacks_dir)
    plan = build_plan(load_stack_file(path))
    out = {net.namespace for net, _ in plan.networks}
    out |= {p.namespace for _, p in plan.pods}
    out |= {w.namespace for _, w in plan.workloads}
    return out


def run(args: argparse.Namespace) -> int:
    namespaces: set[str] | None = set(args.namespace) or None
    if args.stack:
        try:
            namespaces = (namespaces or set()) | _stack_namespaces(args)
        except PlanError as exc:
            print("netplumb doctor: the stack's plan fails:\n  "
                  + "\n  ".join(map(str, exc.findings)), file=sys.stderr)
            return EXIT_UNKNOWN
    kube = connect(args, "netplumb doctor")
    if kube is None:
        return EXIT_UNKNOWN
    snap = read_or_say("netplumb doctor",
                       lambda progress: read_snapshot(kube, namespaces, progress),
                       quiet=args.json)
    if snap is None:
        return EXIT_UNKNOWN
    diagnosis = diagnose(snap)
    sys.stdout.write(format_json(diagnosis) if args.json else format_text(diagnosis))
    return diagnosis.exit_code
