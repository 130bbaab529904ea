"""``netplumb check | render | images | diff | graph | verify | doctor | adopt | pr-comment``.

``check``, ``render``, ``images``, ``diff`` and ``graph`` work offline from the stack files
(and git); ``verify``, ``doctor``, ``adopt`` and ``graph --live`` read a cluster through the
Kubernetes API only, so they work on any cluster. (The embedded development cluster's
commands belong to the harness: ``python -m harness.cli``.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..args.cluster import ImagesArgs
from ..args.stack import (
    config_env_finding,
    load_stack_document,
    load_stack_file,
    project_dir_of,
    read_stack_document,
)
from ..errors import Finding, PlanError
from ..plan import build_plan, render_plan
from ..render import mirror
from ..render.yamlout import dump
from . import adopt, diff, doctor, graph, prcomment, verify
from .common import existing_stack_file, stack_file

__all__ = ["main", "stack_file"]


def _load(stack: str, stacks_dir: Path) -> Path:
    return existing_stack_file(stack, stacks_dir)


def cmd_check(args: argparse.Namespace) -> int:
    path = _load(args.stack, args.stacks_dir)
    started = time.perf_counter()
    errors: list[Finding] = []
    try:
        doc = read_stack_document(path)
        # the engine would not start the program at all: said even when the plan is fine
        too_large = config_env_finding(doc)
        if too_large is not None:
            errors.append(too_large)
        plan = build_plan(load_stack_document(doc, project_dir_of(path)))
    except PlanError as exc:
        errors += exc.findings
    if errors:
        print(f"{path}: error", file=sys.stderr)
        for f in errors:
            print(f"  error: {f}", file=sys.stderr)
        return 1
    for w in plan.warnings:
        print(f"  warning: {w}")
    took = (time.perf_counter() - started) * 1000
    print(f"{path}: ok: {len(plan.networks)} networks, {len(plan.pods)} pods, "
          f"{len(plan.warnings)} warnings ({took:.1f} ms)")
    return 0


def _file_name(i: int, obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name", "unnamed") if isinstance(meta, dict) else "unnamed"
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    parts = [f"{i:03d}", str(obj.get("kind", "object")).lower()]
    if ns:
        parts.append(str(ns))
    parts.append(str(name))
    return "-".join(parts) + ".yaml"


def cmd_render(args: argparse.Namespace) -> int:
    path = _load(args.stack, args.stacks_dir)
    try:
        objects = render_plan(build_plan(load_stack_file(path)))
    except PlanError as exc:
        print(f"{path}: error\n  " + "\n  ".join(map(str, exc.findings)), file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9][0-9]-*.yaml"):
        old.unlink()
    for i, obj in enumerate(objects):
        (out / _file_name(i, obj)).write_text(dump(obj))
    print(f"{path}: wrote {len(objects)} objects to {out}/")
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    """Every image the stack's objects run; with ``--mirror``, where each is pulled from
    there (copy each source to its mirrored name, then set the stack's ``images.mirror``)."""
    path = _load(args.stack, args.stacks_dir)
    try:
        spec = load_stack_file(path)
        # the sources: what the stack runs without its own mirror
        objects = render_plan(build_plan(spec.model_copy(update={"images": ImagesArgs()})))
    except PlanError as exc:
        print(f"{path}: error\n  " + "\n  ".join(map(str, exc.findings)), file=sys.stderr)
        return 1
    found = mirror.images(objects)
    target = args.mirror if args.mirror is not None else spec.images.mirror
    if target is not None:
        if not mirror.MIRROR.match(target.rstrip("/")):
            print(f"--mirror: not a registry (host[:port][/path]): {target!r}",
                  file=sys.stderr)
            return 2
        width = max((len(i) for i in found), default=0)
        for image in found:
            print(f"{image:<{width}}  {mirror.mirrored(image, target)}")
    else:
        for image in found:
            print(image)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="netplumb", description=__doc__)
    parser.add_argument("--stacks-dir", type=Path, default=Path("stacks"),
                        help="where Pulumi.<stack>.yaml files live (default: stacks)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="validate a stack's plan; non-zero exit on errors")
    p.add_argument("stack", help="stack name (dev, prod) or a stack YAML file")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("render", help="write the stack's manifests as YAML, one file per object")
    p.add_argument("stack")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("images", help="every image the stack runs (and, with --mirror, its "
                                      "name in a mirror registry)")
    p.add_argument("stack")
    p.add_argument("--mirror", metavar="REGISTRY",
                   help="a mirror prefix (registry.example.com/netplumb): print each image "
                        "beside the name it has there (default: the stack's images.mirror)")
    p.set_defaults(func=cmd_images)
    diff.register(sub)
    graph.register(sub)
    verify.register(sub)
    doctor.register(sub)
    adopt.register(sub)
    prcomment.register(sub)
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
