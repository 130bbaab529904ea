"""``netplumb verify <stack>``: the stack's pods have what the plan asked (any cluster)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..ops.probes import DEFAULT_IMAGE
from ..ops.verify import VerifyOptions, format_json, format_text, verify
from .common import add_cluster_flags, connect, existing_stack_file, read_or_say, stack_plan

HELP = """Compare each pod's k8s.v1.cni.cncf.io/network-status with what the stack's plan
asks (interface, addresses, MAC, MTU, default route), then per network start two probe pods
that ping across it and reach every pod address of the plan there, and remove them. Uses the
Kubernetes API only: pods get/list/create/delete in the stack's namespaces. Exit 0 when every
attachment and every probe that ran is as planned, 1 otherwise, 3 when the cluster cannot be
read."""


def _address_pair(text: str) -> tuple[str, tuple[str, str]]:
    net, eq, rest = text.partition("=")
    pair = [a.strip() for a in rest.split(",")]
    if not eq or len(pair) != 2 or not all("/" in a for a in pair):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NETWORK=ADDRESS/PREFIX,ADDRESS/PREFIX")
    return net, (pair[0], pair[1])


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="compare pods' attachments with the plan and ping "
                                      "across each network (Kubernetes API only)",
                       description=HELP)
    p.add_argument("stack", help="stack name (dev, prod) or a stack YAML file")
    add_cluster_flags(p)
    p.add_argument("--network", action="append", default=[],
                   help="only this network (name or namespace/name; repeatable)")
    p.add_argument("--no-probes", action="store_true",
                   help="compare network-status only; start no probe pods")
    p.add_argument("--require-probes", action="store_true",
                   help="fail when a network's probe is skipped")
    p.add_argument("--image", default=os.environ.get("NETPLUMB_PROBE_IMAGE", DEFAULT_IMAGE),
                   help=f"probe pods' toolbox image with sh, ip and ping (default "
                        f"$NETPLUMB_PROBE_IMAGE or {DEFAULT_IMAGE})")
    p.add_argument("--probe-address", action="append", default=[], type=_address_pair,
                   metavar="NET=ADDR/P,ADDR/P",
                   help="two free addresses for the probes of a static-IPAM network")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="seconds to wait for probe pods to run, and to finish (default 180)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = existing_stack_file(args.stack, args.stacks_dir)
    plan = stack_plan(path)
    if plan is None:
        return 1
    kube = connect(args, "netplumb verify")
    if kube is None:
        return 3
    options = VerifyOptions(probes=not args.no_probes, image=args.image,
                            probe_addresses=dict(args.probe_address),
                            networks=frozenset(args.network) or None, timeout=args.timeout)
    report = read_or_say("netplumb verify",
                         lambda progress: verify(kube, args.stack, plan, options, progress),
                         quiet=args.json)
    if report is None:
        return 3
    sys.stdout.write(format_json(report) if args.json else format_text(report))
    if not report.ok:
        return 1
    if args.require_probes and report.probes("skipped"):
        return 1
    return 0
