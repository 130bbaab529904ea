"""``netplumb graph <stack>``: the stack's topology as SVG, PNG, Graphviz DOT or Mermaid."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import PlanError
from ..kube import Kube
from ..ops.doctor import EXIT_UNKNOWN
from ..ops.graph import (
    Topology,
    compare,
    from_objects,
    networks_changed,
    to_dot,
    to_mermaid,
    with_live,
)
from ..ops.progress import QUIET, Progress
from ..ops.revisions import RevisionError, StackAt, render_at, resolve_commit
from ..plan import Plan, nad_manifests, pod_manifests, workload_manifests
from ..render.nad import NAD_API_VERSION, NAD_KIND
from .common import connect, existing_stack_file, read_or_say, stack_plan

HELP = """Draw the stack's topology: its pods and workloads, an edge per attachment labelled
with the interface and addresses, its networks (plugin type, subnets, ranges, IPAM) and the
underlays they hang off (master, bridge, device). Offline from the plan; with --live from
the cluster: the nodes, each pod on its node with the attachments its network-status
reports, and pool use. svg and png are laid out by Graphviz (`dot`, Debian package
graphviz); dot and mermaid are text and need nothing. With --changed-since REF, the picture
is written only when the stack's networks or attachments differ from REF's (git), changes
marked: the pull-request comment carries it then."""

FORMATS = ("svg", "png", "dot", "mermaid")
_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid",
             ".mermaid": "mermaid"}
GRAPHVIZ_PACKAGE = "graphviz"


class RendererMissing(RuntimeError):
    """Graphviz's ``dot`` is not on PATH."""


def register(sub: Any) -> None:
    p = sub.add_parser("graph", help="the stack's topology: pods, networks, underlays "
                                     "(svg, png, dot, mermaid)", description=HELP)
    p.add_argument("stack", help="stack name (dev, prod) or a stack YAML file")
    p.add_argument("--live", action="store_true",
                   help="from the cluster: nodes, pods' addresses (network-status), pool use")
    p.add_argument("--format", choices=FORMATS,
                   help="output format (default: from --out's suffix, else svg)")
    p.add_argument("--out", type=Path, help="write here (default: stdout)")
    p.add_argument("--changed-since", metavar="REF",
                   help="write only when the networks differ from git revision REF's, "
                        "marking what changed (exit 0 either way)")
    p.add_argument("--kubeconfig", help="with --live: kubeconfig file (default: $KUBECONFIG, "
                                        "then ~/.kube/config, then in-cluster)")
    p.add_argument("--context", help="with --live: kubeconfig context (default: its "
                                     "current-context)")
    p.set_defaults(func=run)


def stack_name(path: Path) -> str:
    """``dev`` of ``stacks/Pulumi.dev.yaml`` (another file's name as it is)."""
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.startswith("Pulumi.") and name.endswith(suffix) and len(name) > 7 + len(suffix):
            return name[len("Pulumi."):-len(suffix)]
    return name


def output_format(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else the one ``out``'s suffix names, else svg."""
    if fmt:
        return fmt
    if out is not None and out.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[out.suffix.lower()]
    return "svg"


def graphviz(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` laid out by Graphviz as ``fmt`` (svg, png)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RendererMissing(
            f"--format {fmt} needs Graphviz's `dot`, which is not on PATH: install the "
            f"Debian package {GRAPHVIZ_PACKAGE} (apt-get install {GRAPHVIZ_PACKAGE}), or "
            "use --format dot or --format mermaid, which need no renderer")
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def encode(topo: Topology, fmt: str) -> bytes:
    """The picture in ``fmt``."""
    if fmt == "mermaid":
        return to_mermaid(topo).encode()
    if fmt == "dot":
        return to_dot(topo).encode()
    return graphviz(to_dot(topo), fmt)


def plan_objects(plan: Plan) -> list[dict[str, Any]]:
    """What the picture is drawn from: the plan's NADs, bare pods and workloads."""
    return [*nad_manifests(plan), *pod_manifests(plan), *workload_manifests(plan)]


def offline(plan: Plan, title: str) -> Topology:
    return from_objects(plan_objects(plan), title, external=plan.spec.external_networks)


def read_live(kube: Kube, topo: Topology, progress: Progress = QUIET) -> Topology:
    """``topo`` with the cluster's nodes, pods and pool use (one list per kind and
    namespace)."""
    namespaces = sorted({h.namespace for h in topo.holders.values()}
                        | {k.partition("/")[0] for k in topo.networks})
    progress.update("reading nodes")
    nodes = kube.list("v1", "Node")
    pods: list[dict[str, Any]] = []
    nads: list[dict[str, Any]] = []
    for ns in namespaces:
        progress.update(f"reading pods and NADs of {ns}")
        pods += kube.list("v1", "Pod", namespace=ns)
        nads += [n for n in kube.list(NAD_API_VERSION, NAD_KIND, namespace=ns)
                 if f"{ns}/{n['metadata']['name']}" in topo.networks]
    progress.done()
    return with_live(topo, nodes, pods, nads)


def base_topology(path: Path, ref: str, title: str) -> Topology | None:
    """The stack's topology at git revision ``ref`` (``None``: no stack file there)."""
    at = StackAt.of(path)
    try:
        commit = resolve_commit(at.repo, ref)
    except RevisionError:
        raise RevisionError(f"unknown revision {ref!r} in {at.repo}") from None
    try:
        objects = render_at(at, commit)
    except PlanError as exc:
        raise RevisionError(f"{at.stack_rel} at {ref}: the plan fails:\n  "
                            + "\n  ".join(map(str, exc.findings))) from None
    return None if objects is None else from_objects(objects, title)


def run(args: argparse.Namespace) -> int:
    prog = "netplumb graph"
    path = existing_stack_file(args.stack, args.stacks_dir)
    fmt = output_format(args.format, args.out)
    if fmt == "png" and args.out is None and sys.stdout.isatty():
        print(f"{prog}: png is binary; write it with --out FILE", file=sys.stderr)
        return 2
    plan = stack_plan(path)
    if plan is None:
        return 1
    title = f"stack {stack_name(path)}"
    topo = offline(plan, title)
    if args.changed_since:
        try:
            base = base_topology(path, args.changed_since, title)
        except RevisionError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
        if not networks_changed(base, topo):
            print(f"{prog}: the networks of {stack_name(path)} are as at {args.changed_since}; "
                  "nothing written", file=sys.stderr)
            return 0
        topo = compare(base, topo)
    if args.live:
        kube = connect(args, prog)
        if kube is None:
            return EXIT_UNKNOWN
        live = read_or_say(prog, lambda progress: read_live(kube, topo, progress), quiet=False)
        if live is None:
            return EXIT_UNKNOWN
        topo = live
    try:
        data = encode(topo, fmt)
    except RendererMissing as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(data)
        print(f"{prog}: wrote {args.out} ({fmt}: {len(topo.networks)} networks, "
              f"{len(topo.holders)} pods and workloads, {len(topo.edges)} attachments"
              + (f", {len(topo.nodes)} nodes" if topo.live else "") + ")", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
