"""``netplumb diff <stack> --base <ref>``: what a change to the stack files does, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..ops.diff import format_json, format_markdown, format_text
from ..ops.revisions import RevisionError, diff_stack
from .common import stack_file

HELP = """Render the stack at --base and at --head (default: the working tree) with this
checkout's netplumb, and show the objects added, removed and changed, per field; inside a
NetworkAttachmentDefinition the CNI config is compared by key path. Reads only git and the
stack files: no cluster, no Pulumi state, no credentials."""


def register(sub: Any) -> None:
    p = sub.add_parser("diff", help="what a change to a stack does, per object and field "
                                    "(offline, from git)", description=HELP)
    p.add_argument("stack", help="stack name (dev, prod) or a stack YAML file")
    p.add_argument("--base", required=True, help="git revision to compare from (main, HEAD~1)")
    p.add_argument("--head", help="git revision to compare to (default: the working tree)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                   help="text (default), markdown (for pull-request comments) or json")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 1 when there are changes, 0 when none (like git diff)")
    p.add_argument("--no-manifests", action="store_true",
                   help="text: name added and removed objects without their manifests")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path: Path = stack_file(args.stack, args.stacks_dir)
    try:
        result = diff_stack(args.stack, path, args.base, args.head)
    except RevisionError as exc:
        print(f"netplumb diff: {exc}", file=sys.stderr)
        return 2
    if args.format == "markdown":
        sys.stdout.write(format_markdown(result))
    elif args.format == "json":
        sys.stdout.write(format_json(result))
    else:
        sys.stdout.write(format_text(result, manifests=not args.no_manifests))
    return 1 if args.exit_code and result.objects else 0
