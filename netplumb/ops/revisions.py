"""A stack as it was at a git revision, rendered offline by this checkout's code.

``git show <commit>:<path>`` gives the stack file and, when it names one, the spec file
(``netplumb:specFile``, relative to the Pulumi project); both are laid out in a temporary
directory exactly as in the repository and read with :func:`load_stack_file`, so findings
and paths are the same as for the working tree. The rendering code is always the one of
this checkout: a diff shows what the *stack files* change, judged by today's netplumb.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..args.stack import FILE_KEY, load_stack_file, project_dir_of
from ..errors import PlanError
from ..plan import build_plan, render_plan
from .diff import Side, StackDiff, diff_objects


class RevisionError(RuntimeError):
    """git could not answer (not a repository, unknown revision), or a side does not plan."""


def git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, check=False, timeout=60)
    except OSError as exc:
        raise RevisionError(f"git: {exc}") from None
    if proc.returncode != 0:
        raise RevisionError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def repo_root(path: Path) -> Path:
    """The top of the git work tree holding ``path``."""
    where = path if path.is_dir() else path.parent
    return Path(git(where.resolve(), "rev-parse", "--show-toplevel").strip()).resolve()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names."""
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def show_file(repo: Path, commit: str, rel: str) -> str | None:
    """The text of ``rel`` (repository-relative, ``/``-separated) at ``commit``; ``None``
    when the file does not exist there."""
    proc = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{commit}:{rel}"],
                          capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        return None
    return git(repo, "show", f"{commit}:{rel}")


@dataclass(frozen=True)
class StackAt:
    """Where a stack file lives in its repository."""

    repo: Path
    stack_rel: str
    """The stack file, relative to the repository root."""
    project_rel: str
    """The Pulumi project directory (holding Pulumi.yaml), relative to the root (``""``)."""

    @classmethod
    def of(cls, stack_file: Path) -> StackAt:
        repo = repo_root(stack_file)
        path = stack_file.resolve()
        project = project_dir_of(path)
        if not project.is_relative_to(repo):  # a Pulumi.yaml above the repository
            project = path.parent
        return cls(repo, path.relative_to(repo).as_posix(),
                   project.relative_to(repo).as_posix() if project != repo else "")

    def rel(self, project_path: str) -> str:
        """A project-relative path (as ``netplumb:specFile`` gives it), repository-relative."""
        return f"{self.project_rel}/{project_path}" if self.project_rel else project_path


def _spec_file_of(stack_text: str) -> str | None:
    try:
        doc = yaml.safe_load(stack_text)
    except yaml.YAMLError:
        return None  # load_stack_file reports it with the file name
    config = doc.get("config") if isinstance(doc, dict) else None
    value = config.get(FILE_KEY) if isinstance(config, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def render_at(at: StackAt, commit: str) -> list[dict[str, Any]] | None:
    """The objects the stack renders to at ``commit``; ``None`` when the stack file does not
    exist there. A plan that fails raises :class:`PlanError` naming the fields."""
    text = show_file(at.repo, commit, at.stack_rel)
    if text is None:
        return None
    with tempfile.TemporaryDirectory(prefix="netplumb-diff-") as tmp:
        root = Path(tmp)
        files = {at.stack_rel: text}
        pulumi_yaml = at.rel("Pulumi.yaml")
        files[pulumi_yaml] = show_file(at.repo, commit, pulumi_yaml) or "name: netplumb\n"
        spec_file = _spec_file_of(text)
        if spec_file is not None and not Path(spec_file).is_absolute():
            body = show_file(at.repo, commit, at.rel(spec_file))
            if body is not None:  # else load_stack_file names the missing file
                files[at.rel(spec_file)] = body
        for rel, body in files.items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(body)
        return render_plan(build_plan(load_stack_file(root / at.stack_rel)))


def render_worktree(stack_file: Path) -> list[dict[str, Any]] | None:
    if not stack_file.is_file():
        return None
    return render_plan(build_plan(load_stack_file(stack_file)))


def diff_stack(stack: str, stack_file: Path, base: str, head: str | None = None) -> StackDiff:
    """The change from revision ``base`` to ``head`` (default: the working tree) of the stack
    in ``stack_file``. Raises :class:`RevisionError` when git cannot answer or a side does
    not plan (the findings are in the message)."""
    at = StackAt.of(stack_file)
    sides: list[tuple[Side, list[dict[str, Any]]]] = []
    for ref in (base, head):
        if ref is None:
            label, commit = "working tree", None
        else:
            label = ref
            try:
                commit = resolve_commit(at.repo, ref)
            except RevisionError:
                raise RevisionError(f"unknown revision {ref!r} in {at.repo}") from None
        try:
            objects = render_at(at, commit) if commit else render_worktree(stack_file)
        except PlanError as exc:
            lines = "\n  ".join(str(f) for f in exc.findings)
            raise RevisionError(f"{at.stack_rel} at {label}: the plan fails:\n  {lines}") from None
        note = None if objects is not None else "the stack file does not exist here"
        sides.append((Side(label, commit, note), objects or []))
    (b_side, b_objs), (h_side, h_objs) = sides
    return StackDiff(stack, b_side, h_side, diff_objects(b_objs, h_objs))
