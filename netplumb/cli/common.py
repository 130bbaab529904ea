"""What the ``netplumb`` subcommands share: finding stack files and their plans, cluster
flags, connecting and reading the cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..args.stack import load_stack_file
from ..errors import PlanError
from ..kube import Kube, KubeConfigError, KubeError
from ..ops.progress import Progress
from ..plan import Plan, build_plan

T = TypeVar("T")


def stack_file(stack: str, stacks_dir: Path) -> Path:
    """``dev`` → ``stacks/Pulumi.dev.yaml``; a path to a YAML file is taken as it is."""
    p = Path(stack)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return stacks_dir / f"Pulumi.{stack}.yaml"


def existing_stack_file(stack: str, stacks_dir: Path) -> Path:
    path = stack_file(stack, stacks_dir)
    if not path.is_file():
        raise SystemExit(f"netplumb: no stack file {path} (expected stacks/Pulumi.<stack>.yaml)")
    return path


def stack_plan(path: Path) -> Plan | None:
    """The plan of the stack file at ``path``; ``None`` after printing its findings when the
    plan fails."""
    try:
        return build_plan(load_stack_file(path))
    except PlanError as exc:
        print(f"{path}: the plan fails:\n  " + "\n  ".join(map(str, exc.findings)),
              file=sys.stderr)
        return None


def add_cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then "
                                        "~/.kube/config, then in-cluster)")
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON (and no progress)")


def connect(args: argparse.Namespace, prog: str) -> Kube | None:
    """A client for the cluster the flags name; ``None`` (after saying why) when there is
    no usable kubeconfig or the apiserver does not answer."""
    try:
        kube = Kube.from_kubeconfig(args.kubeconfig, args.context)
    except KubeConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
    if not kube.reachable():
        print(f"{prog}: the cluster at {kube.creds.server} does not answer", file=sys.stderr)
        return None
    return kube


def read_or_say(prog: str, read: Callable[[Progress], T], *, quiet: bool) -> T | None:
    """``read(progress)``, its progress shown unless ``quiet``; ``None`` after saying why when
    the cluster fails it."""
    progress = Progress.auto(quiet=quiet)
    try:
        return read(progress)
    except KubeError as exc:
        progress.done()
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
