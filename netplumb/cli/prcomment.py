"""``netplumb pr-comment <results>``: the pull-request comment of a preview run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..ops.prcomment import build_comment, read_results

HELP = """Build one pull-request comment from the saved outputs of `netplumb check`,
`netplumb diff --format markdown` and `pulumi preview --diff`, one directory per stack:
RESULTS/<stack>/{check,diff,preview}.out with the exit status in .exit (or the reason it
did not run in .skipped), and RESULTS/<stack>/graph.mmd (`netplumb graph <stack> --format
mermaid --changed-since <base>`, written only when the stack's networks changed), shown as
its topology. The comment starts with a hidden marker line by which a workflow
finds and updates it (.github/workflows/preview.yml)."""


def register(sub: Any) -> None:
    p = sub.add_parser("pr-comment", help="a pull-request comment from saved check, diff and "
                                          "preview outputs", description=HELP)
    p.add_argument("results", type=Path, help="directory with one subdirectory per stack")
    p.add_argument("--title", default="netplumb preview", help="the comment's heading")
    p.add_argument("--run-url", default="", help="link to the run with the full logs")
    p.add_argument("--out", type=Path, help="write the comment here (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results: Path = args.results
    if not results.is_dir():
        print(f"netplumb pr-comment: {results} is not a directory", file=sys.stderr)
        return 2
    body = build_comment(read_results(results), title=args.title, run_url=args.run_url)
    if args.out is not None:
        args.out.write_text(body)
    else:
        sys.stdout.write(body)
    return 0
