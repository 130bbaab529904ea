"""``netplumb doctor``: the Multus troubleshooting checklist through the Kubernetes API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..args.stack import load_stack_file
from ..errors import PlanError
from ..ops.doctor import EXIT_UNKNOWN, diagnose, format_json, format_text
from ..ops.live import read_snapshot
from ..plan import Plan, build_plan
from .common import add_cluster_flags, connect, existing_stack_file, read_or_say

HELP = """Check what the hand-run guide checks when secondary networks fail: the Multus
DaemonSet is ready on every node (and its ConfigMaps parse); the NADs pods select exist and
their configs parse (named with the field); pods stuck creating, their sandbox failures
grouped by cause and NAD (pool exhausted, host link missing, NAD missing, plugin missing, ...);
pods the scheduler cannot place, grouped by cause (a device resource no node has, a node
selection no node matches, taints); whereabouts allocations of pods that are gone and
reservations without allocations; NADs whose IPAM needs a controller that does not run
(whereabouts node slices); pool use per network (whereabouts' from its IPPools). Every finding
has a fix. Exit status: 0 nothing to fix, 1 warnings, 2 errors, 3 the cluster could not be
read."""


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="diagnose secondary networking on a cluster "
                                      "(Kubernetes API only)", description=HELP)
    p.add_argument("stack", nargs="?",
                   help="look only at the namespaces of this stack (default: all namespaces)")
    p.add_argument("-n", "--namespace", action="append", default=[],
                   help="look only at this namespace (repeatable)")
    add_cluster_flags(p)
    p.set_defaults(func=run)


def _stack_plan(args: argparse.Namespace) -> Plan:
    path = existing_stack_file(args.stack, args.stacks_dir)
    return build_plan(load_stack_file(path))


def _stack_namespaces(plan: Plan) -> set[str]:
    out = {net.namespace for net, _ in plan.networks}
    out |= {p.namespace for _, p in plan.pods}
    out |= {w.namespace for _, w in plan.workloads}
    return out


def device_pools(plan: Plan, stack: str) -> dict[str, str]:
    """Device resource → where the stack gets it: its SR-IOV pools (what doctor names as the
    fix for pods no node has the device for)."""
    sriov = plan.spec.sriov
    if sriov is None:
        return {}
    where = f"the SR-IOV network device plugin in namespace {sriov.namespace}" + (
        " on nodes labelled " + ", ".join(f"{k}={v}" for k, v in
                                          sorted(sriov.node_selector.items()))
        if sriov.node_selector else "")
    return {full: f"pool {pool!r} of stack {stack}'s sriov: ({where})"
            for pool, full in sriov.resource_names().items()}


def run(args: argparse.Namespace) -> int:
    namespaces: set[str] | None = set(args.namespace) or None
    plan: Plan | None = None
    if args.stack:
        try:
            plan = _stack_plan(args)
            namespaces = (namespaces or set()) | _stack_namespaces(plan)
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
    if plan is not None:
        snap.device_pools = device_pools(plan, args.stack)
    diagnosis = diagnose(snap)
    sys.stdout.write(format_json(diagnosis) if args.json else format_text(diagnosis))
    return diagnosis.exit_code
