"""``netplumb adopt``: write a stack from the NetworkAttachmentDefinitions a cluster has."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..args.stack import CONFIG_KEY
from ..kube import Kube, KubeError
from ..ops.adopt import WORKLOAD_KINDS, Adoption, format_text, plan_adoption, stack_files
from ..ops.doctor import EXIT_UNKNOWN
from ..ops.progress import QUIET, Progress
from ..render.nad import NAD_API_VERSION, NAD_KIND
from .common import add_cluster_flags, connect, read_or_say

HELP = """Read the cluster's NetworkAttachmentDefinitions (all namespaces, or those of
--namespace, matching --selector) and write a stack that holds them: each NAD as a typed
network (macvlan, bridge, ipvlan, host-device, sriov, vlan, with its IPAM and chained plugins)
where rendering that gives back its spec.config exactly (same JSON, same key order), else as
a raw `config:` that does. A NAD another controller writes (an owner reference: the SR-IOV
or NVIDIA network operator, OpenShift's network operator; another netplumb stack, Helm, Argo
CD, Flux) is not adopted: it goes to external_networks, and the output says why. Every
adopted NAD is listed in cluster_objects.adopt, so the first `pulumi up` takes it over as it
is, and destroy leaves it (adopted_on_destroy: retain). The pods and workloads that select
each NAD are listed, not adopted. Then what `netplumb check` finds in the adopted stack is
printed as advice; the stack is written as found. Exit status: 0 written, 1 nothing to adopt
or the file exists (--force overwrites), 3 the cluster could not be read."""

STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
"""What a Pulumi stack name may hold."""
_WORKLOAD_APIS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                  "ReplicaSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def register(sub: Any) -> None:
    p = sub.add_parser("adopt", help="write a stack from a cluster's NADs (typed where they "
                                     "map, config where not, references where others own "
                                     "them)", description=HELP)
    p.add_argument("--stack", required=True, metavar="NAME",
                   help="the stack to write: <stacks-dir>/Pulumi.NAME.yaml")
    p.add_argument("-n", "--namespace", action="append", default=[],
                   help="adopt the NADs of this namespace (repeatable; default: all)")
    p.add_argument("-l", "--selector", help="adopt only NADs matching this label selector")
    p.add_argument("--spec-file", type=Path, metavar="PATH",
                   help="write the spec to this YAML file and name it in the stack file "
                        "(netplumb:specFile), for large stacks")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--dry-run", action="store_true",
                   help="print the files instead of writing them")
    add_cluster_flags(p)
    p.set_defaults(func=run)


@dataclass
class ClusterRead:
    """What ``adopt`` reads of a cluster."""

    nads: list[dict[str, Any]]
    known: list[str]
    """``ns/name`` of NADs in scope the selector left out."""
    pods: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_cluster(kube: Kube, namespaces: Sequence[str], selector: str | None,
                 progress: Progress = QUIET) -> ClusterRead:
    """The NADs to adopt, and the pods and workloads of every namespace (pods elsewhere may
    select them as ``namespace/name``; where the credentials may only read some namespaces,
    those of ``namespaces``, and a note says so)."""
    scope: list[str | None] = list(dict.fromkeys(namespaces)) or [None]

    def nads(label_selector: str | None) -> list[dict[str, Any]]:
        return [o for ns in scope for o in kube.list(NAD_API_VERSION, NAD_KIND, namespace=ns,
                                                    label_selector=label_selector)]

    progress.update("reading NetworkAttachmentDefinitions")
    found = nads(selector)
    keys = {f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in found}
    known = []
    if selector:
        known = sorted({f"{o['metadata'].get('namespace')}/{o['metadata']['name']}"
                        for o in nads(None)} - keys)
    read = ClusterRead(found, known)

    def everywhere(api: str, kind: str) -> list[dict[str, Any]]:
        progress.update(f"reading {kind}s")
        try:
            return kube.list(api, kind)
        except KubeError as exc:
            if exc.status not in (401, 403) or scope == [None]:
                raise
            read.notes.append(f"{kind}s of other namespaces could not be read ({exc.status} "
                              f"{exc.reason}): their use of these NADs is not listed")
        return [o for ns in scope for o in kube.list(api, kind, namespace=ns)]

    read.pods = everywhere("v1", "Pod")
    for kind in WORKLOAD_KINDS:
        read.workloads += everywhere(_WORKLOAD_APIS[kind], kind)
    progress.done()
    return read


def project_name(project_dir: Path) -> str:
    """The Pulumi project's name (``Pulumi.yaml``), which prefixes the stack's owner mark."""
    try:
        doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return "netplumb"
    name = doc.get("name") if isinstance(doc, dict) else None
    return str(name) if name else "netplumb"


def _project_dir(stack_path: Path) -> Path:
    for d in stack_path.resolve().parents:
        if (d / "Pulumi.yaml").is_file():
            return d
    return Path.cwd().resolve()


def _spec_file_value(spec_path: Path, project: Path) -> str:
    """How ``netplumb:specFile`` names ``spec_path``: relative to the project, else whole."""
    full = spec_path.resolve()
    return full.relative_to(project).as_posix() if full.is_relative_to(project) else str(full)


def write_stack(adoption: Adoption, stack_path: Path, spec_path: Path | None, *,
                source: str, clusters: Sequence[str], force: bool,
                write: Callable[[Path, str], None] | None = None) -> list[Path]:
    """Write the stack file (and the spec file); refuse to overwrite without ``force``
    (``FileExistsError``). Returns the paths written."""
    project = _project_dir(stack_path)
    spec_value = _spec_file_value(spec_path, project) if spec_path is not None else None
    stack_text, spec_text = stack_files(adoption, source=source, clusters=clusters,
                                        spec_file=spec_value)
    files = [(stack_path, stack_text)]
    if spec_path is not None and spec_text is not None:
        files.append((spec_path, spec_text))
    existing = [p for p, _ in files if p.exists()]
    if existing and not force:
        raise FileExistsError(", ".join(map(str, existing)))

    def to_disk(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)

    for path, text in files:
        (write or to_disk)(path, text)
    return [p for p, _ in files]


def run(args: argparse.Namespace) -> int:
    prog = "netplumb adopt"
    if not STACK_NAME.match(args.stack) or args.stack.endswith((".yaml", ".yml")):
        print(f"{prog}: --stack takes a stack name (letters, digits, '-', '_', '.'), not a "
              f"path; got {args.stack!r}", file=sys.stderr)
        return 2
    stack_path: Path = args.stacks_dir / f"Pulumi.{args.stack}.yaml"
    targets = [stack_path, *([args.spec_file] if args.spec_file is not None else [])]
    taken = [p for p in targets if p.exists()]
    if taken and not args.force and not args.dry_run:
        print(f"{prog}: {', '.join(map(str, taken))} exists; --force overwrites it",
              file=sys.stderr)
        return 1
    kube = connect(args, prog)
    if kube is None:
        return EXIT_UNKNOWN
    read = read_or_say(prog, lambda progress: read_cluster(
        kube, args.namespace, args.selector, progress), quiet=args.json)
    if read is None:
        return EXIT_UNKNOWN
    where = ", ".join(f"namespace {n}" for n in args.namespace) or "all namespaces"
    if args.selector:
        where += f", selector {args.selector}"
    if not read.nads:
        print(f"{prog}: no NetworkAttachmentDefinitions in {where}; nothing written",
              file=sys.stderr)
        return 1
    project = _project_dir(stack_path)
    owner = f"{project_name(project)}/{args.stack}"
    at: tuple[str, ...] = (("config", CONFIG_KEY) if args.spec_file is None
                           else (f"{_spec_file_value(args.spec_file, project)}:",))
    adoption = plan_adoption(read.nads, read.pods, read.workloads, owner=owner,
                             known=read.known, at=at)
    adoption.problems += read.notes
    creds = kube.creds
    source = f"context {creds.context or '(in-cluster)'} ({creds.server}), {where}"
    clusters = [c for c in (creds.context, creds.server) if c]
    if args.dry_run:
        printed: list[str] = []
        write_stack(adoption, stack_path, args.spec_file, source=source, clusters=clusters,
                    force=True, write=lambda p, t: printed.append(f"# --- {p}\n{t}"))
        if args.json:
            sys.stdout.write(json.dumps({**adoption.to_dict(), "files": printed}, indent=2)
                             + "\n")
        else:
            sys.stdout.write(format_text(adoption) + "".join(printed))
        return 0
    try:
        written = write_stack(adoption, stack_path, args.spec_file, source=source,
                              clusters=clusters, force=args.force)
    except FileExistsError as exc:  # appeared while the cluster was read
        print(f"{prog}: {exc} exists; --force overwrites it", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(json.dumps({**adoption.to_dict(), "written": list(map(str, written))},
                                    indent=2) + "\n")
        return 0
    sys.stdout.write(f"{prog}: {len(read.nads)} NAD(s) in {where} "
                     f"({len(adoption.networks)} adopted, {len(adoption.references)} "
                     "referenced)\n" + format_text(adoption))
    print(f"wrote {', '.join(map(str, written))}. Next: `netplumb check {args.stack}`; "
          f"`pulumi preview --stack {args.stack}` shows the takeover (cluster_objects.adopt), "
          "and the first `pulumi up` takes the NADs over as they are.")
    return 0
