"""One pull-request comment from the outputs of ``netplumb check``, ``netplumb diff`` and
``pulumi preview --diff``, per stack (pure: text in, markdown out).

The results of a run are files, one directory per stack::

    <results>/<stack>/check.out     netplumb check <stack>                    (stdout + stderr)
    <results>/<stack>/check.exit    its exit status
    <results>/<stack>/diff.out      netplumb diff <stack> --base <ref> --format markdown
    <results>/<stack>/diff.exit
    <results>/<stack>/preview.out   pulumi preview --diff --stack <stack>     (stdout + stderr)
    <results>/<stack>/preview.exit
    <results>/<stack>/<step>.skipped  instead of .exit: the step did not run; the reason
    <results>/<stack>/graph.mmd     netplumb graph <stack> --format mermaid
                                    --changed-since <base> --out …: written only when the
                                    stack's networks changed; the comment then shows it

A step with neither ``.exit`` nor ``.skipped`` is reported as not run. The comment starts
with :data:`MARKER`, a hidden line by which the workflow finds its comment to update it
instead of adding another.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "<!-- netplumb:pr-preview -->"
"""First line of the comment; the workflow looks for it to update its one comment."""

STEPS = ("check", "diff", "preview")

GITHUB_LIMIT = 65536
"""Longest comment body GitHub takes (characters)."""
MERMAID_LIMIT = 50000
"""Longest diagram GitHub's Mermaid draws (its ``maxTextSize``)."""
GRAPH_FILE = "graph.mmd"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_PREVIEW_COUNT = re.compile(r"^\s*([+~-]|\+-|-\+)?\s*(\d+) (to create|to update|to delete|"
                            r"to replace|to create replacement|to delete replaced|unchanged|"
                            r"errored|to import|to discard|to refresh)\s*$")


@dataclass
class Step:
    """One command's result for one stack."""

    name: str
    output: str = ""
    exit: int | None = None
    """Exit status; ``None`` when the step did not run."""
    skipped: str = ""
    """Why the step did not run (empty: not said)."""

    @property
    def ran(self) -> bool:
        return self.exit is not None

    @property
    def ok(self) -> bool:
        return self.exit == 0


@dataclass
class StackResult:
    stack: str
    steps: dict[str, Step] = field(default_factory=dict)
    graph: str = ""
    """The Mermaid topology, when the stack's networks changed (``graph.mmd``)."""

    def step(self, name: str) -> Step:
        return self.steps.get(name) or Step(name)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def read_results(results: Path) -> list[StackResult]:
    """The results directory as :class:`StackResult` s, stacks in name order."""
    out: list[StackResult] = []
    for d in sorted(p for p in results.iterdir() if p.is_dir()):
        res = StackResult(d.name)
        for name in STEPS:
            step = Step(name)
            text = d / f"{name}.out"
            if text.exists():
                step.output = strip_ansi(text.read_text(errors="replace"))
            status = d / f"{name}.exit"
            if status.exists():
                raw = status.read_text().strip()
                step.exit = int(raw) if raw.lstrip("-").isdigit() else 1
            skipped = d / f"{name}.skipped"
            if step.exit is None and skipped.exists():
                step.skipped = skipped.read_text().strip() or "skipped"
            res.steps[name] = step
        graph = d / GRAPH_FILE
        if graph.is_file():
            res.graph = graph.read_text(errors="replace").strip()
        out.append(res)
    return out


def graph_section(stack: str, mermaid: str, budget: int = MERMAID_LIMIT) -> list[str]:
    """The comment's lines showing a stack's topology (``netplumb graph --format mermaid``,
    changes marked) when its networks changed; nothing when there is no picture. A picture
    over ``budget`` characters (or Mermaid's own limit) is named, not shown."""
    body = mermaid.strip("\n")
    if not body:
        return []
    summary = (f"🗺️ networks changed: topology of <code>{html.escape(stack)}</code> "
               "(<code>netplumb graph</code>; added, changed and removed networks marked)")
    if len(body) > min(budget, MERMAID_LIMIT):
        return [f"{summary}: {len(body)} characters, too large for the comment; "
                f"<code>netplumb graph {html.escape(stack)} --format mermaid</code> draws it "
                f"(the run's artifact has {GRAPH_FILE}).", ""]
    fence = "````" if "```" in body else "```"
    return ["<details open>", f"<summary>{summary}</summary>", "", f"{fence}mermaid", body,
            fence, "", "</details>", ""]


# --------------------------------------------------------------------------- summaries


def _first(lines: list[str], limit: int = 160) -> str:
    """The first line; one ending in ``:`` is followed by the next (what it announces)."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    text = lines[0] if lines else ""
    if text.endswith(":") and len(lines) > 1:
        text = f"{text} {lines[1]}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_summary(step: Step) -> str:
    """One table cell for ``netplumb check``."""
    if not step.ran:
        return _not_run(step)
    lines = step.output.splitlines()
    errors = [ln.strip().removeprefix("error: ") for ln in lines
              if ln.strip().startswith("error:")]
    warnings = [ln for ln in lines if ln.strip().startswith("warning:")]
    if step.ok:
        ok = [ln for ln in lines if ": ok: " in ln]
        head = ok[-1].split(": ok: ", 1)[1] if ok else "ok"
        head = re.sub(r"\s*\([\d.]+ ms\)$", "", head)
        return f"✅ {html.escape(head)}" + (f" ⚠️ {len(warnings)} warning(s)" if warnings
                                            else "")
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"❌ {len(errors)} error(s): {_code(_first(errors))}{more}"
    return f"❌ exit {step.exit}: {_code(_first(lines))}"


def diff_summary(step: Step) -> str:
    """One table cell for ``netplumb diff --format markdown``."""
    if not step.ran:
        return _not_run(step)
    if not step.ok:
        return f"❌ exit {step.exit}: {_code(_first(step.output.splitlines()))}"
    bold = re.search(r"^\*\*(.+?)\*\*\s*$", step.output, flags=re.M)
    return html.escape(bold.group(1).rstrip(".")) if bold else "done"


def preview_counts(output: str) -> list[str]:
    """The ``Resources:`` block of a preview: ``["~ 1 to update", "12 unchanged"]``."""
    lines = output.splitlines()
    try:
        start = max(i for i, ln in enumerate(lines) if ln.strip() == "Resources:")
    except ValueError:
        return []
    counts: list[str] = []
    for ln in lines[start + 1:]:
        m = _PREVIEW_COUNT.match(ln)
        if not m:
            if counts or ln.strip():
                break
            continue
        counts.append(" ".join(p for p in m.groups() if p))
    return counts


_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception)): (.+)$")


def preview_errors(output: str) -> list[str]:
    """What failed in a preview, most telling first: the exception a program died of
    (``PlanError: networks[0].mtu: …``, the last line of its traceback), then the
    ``error:`` lines that say more than that something failed."""
    exceptions: list[str] = []
    errors: list[str] = []
    for ln in output.splitlines():
        s = ln.strip()
        m = _EXCEPTION.match(s)
        if m and not ln.startswith(" "):
            exceptions.append(f"{m.group(1)}: {m.group(2)}")
        elif s.startswith("error:"):
            text = s.removeprefix("error:").strip()
            if text and not text.endswith(":") and text not in errors:
                errors.append(text)
    return [*dict.fromkeys(exceptions), *errors]


def preview_summary(step: Step) -> str:
    """One table cell for ``pulumi preview --diff``."""
    if not step.ran:
        return _not_run(step)
    counts = preview_counts(step.output)
    if step.ok:
        return html.escape(", ".join(counts) or "done")
    errors = preview_errors(step.output)
    return f"❌ {_code(_first(errors) if errors else f'exit {step.exit}')}"


def _not_run(step: Step) -> str:
    return f"– {html.escape(step.skipped)}" if step.skipped else "– not run"


def _code(text: str) -> str:
    """Inline code that survives ``|`` and ``<`` in a table cell."""
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


# --------------------------------------------------------------------------- the comment


def _block(summary: str, lang: str, text: str, budget: int) -> list[str]:
    body = text.strip("\n")
    if len(body) > budget:
        lines = body.splitlines()
        keep_head, keep_tail = [], []
        size = 0
        # keep the start (what changes) and the end (summary, errors), cut the middle
        for a, b in zip(lines, reversed(lines), strict=False):
            if size + len(a) + len(b) + 2 > budget:
                break
            keep_head.append(a)
            keep_tail.append(b)
            size += len(a) + len(b) + 2
        cut = len(lines) - len(keep_head) - len(keep_tail)
        body = "\n".join([*keep_head, f"… {cut} lines cut (the workflow log has them all) …",
                          *reversed(keep_tail)])
    fence = "````" if "```" in body else "```"
    return ["<details>", f"<summary>{summary}</summary>", "", f"{fence}{lang}", body, fence,
            "", "</details>", ""]


def build_comment(results: list[StackResult], *, title: str = "netplumb preview",
                  run_url: str = "", limit: int = GITHUB_LIMIT) -> str:
    """The comment: a table with one row per stack, then each stack's outputs."""
    head = [MARKER, f"### {title}", ""]
    if not results:
        return "\n".join([*head, "No stack results were produced."]) + "\n"
    head += ["| stack | `netplumb check` | `netplumb diff` | `pulumi preview --diff` |",
             "|---|---|---|---|"]
    for r in results:
        head.append(f"| `{r.stack}` | {check_summary(r.step('check'))} | "
                    f"{diff_summary(r.step('diff'))} | {preview_summary(r.step('preview'))} |")
    head.append("")
    tail = [f"[The workflow run]({run_url}) has the full logs."] if run_url else []

    # Each stack's check and preview outputs share what is left of the limit.
    fixed = sum(len(x) + 1 for x in [*head, *tail])
    diffs = [r.step("diff").output if r.step("diff").ok else "" for r in results]
    fixed += sum(len(d) + 2 for d in diffs)
    # a topology takes what it needs first (cut text is useless to Mermaid), if it fits
    room = limit - fixed - 2000
    graphs: list[list[str]] = []
    for r in results:
        lines = graph_section(r.stack, r.graph, budget=room)
        room -= sum(len(x) + 1 for x in lines)
        graphs.append(lines)
    fixed += sum(len(x) + 1 for lines in graphs for x in lines)
    blocks = sum(1 for r in results for s in ("check", "preview") if r.step(s).output)
    budget = max(500, (limit - fixed - 400 * max(blocks, 1)) // max(blocks, 1))

    body: list[str] = []
    for r, diff, graph in zip(results, diffs, graphs, strict=True):
        body += [f"#### `{r.stack}`", ""]
        check = r.step("check")
        if check.output:
            mark = "✅" if check.ok else "❌"
            body += _block(f"{mark} <code>netplumb check {html.escape(r.stack)}</code>", "text",
                           check.output, budget)
        if diff:
            body += [diff.rstrip("\n"), ""]
        elif r.step("diff").output:
            body += _block("❌ <code>netplumb diff</code>", "text", r.step("diff").output,
                           budget)
        body += graph
        preview = r.step("preview")
        if preview.output:
            counts = ", ".join(preview_counts(preview.output))
            mark = "✅" if preview.ok else "❌"
            summary = (f"{mark} <code>pulumi preview --diff --stack {html.escape(r.stack)}"
                       f"</code>" + (f" ({html.escape(counts)})" if counts else ""))
            body += _block(summary, "diff", preview.output, budget)
    text = "\n".join([*head, *body, *tail]) + "\n"
    if len(text) > limit:  # a diff table alone beyond the limit: cut it, keep the marker
        note = "\n\n… cut at GitHub's comment size limit; the workflow log has everything.\n"
        text = text[: limit - len(note)] + note
    return text
