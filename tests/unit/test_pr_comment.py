"""The pull-request comment builder's own rules (netplumb.ops.prcomment): reading a results
directory, steps that did not run, colour codes, the size limit. Its output for real command
output is asserted in tests/e2e/test_pr_comment.py."""

from __future__ import annotations

from pathlib import Path

from netplumb.cli.main import main
from netplumb.ops.prcomment import (
    GITHUB_LIMIT,
    MARKER,
    build_comment,
    preview_counts,
    preview_errors,
    read_results,
)

PREVIEW = """Previewing update (prod):
  ~ pulumi-python:dynamic/netplumb:ObjectSet: (update)
      ~ mtu       : 1500 => 9000
Resources:
    + 2 to create
    ~ 1 to update
    -+1 to replace
    7 unchanged
"""


def _write(root: Path, stack: str, **files: str) -> None:
    d = root / stack
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("_", ".")).write_text(text)


def test_preview_counts_and_errors() -> None:
    assert preview_counts(PREVIEW) == ["+ 2 to create", "~ 1 to update", "-+ 1 to replace",
                                       "7 unchanged"]
    failed = ("error: Program failed with an unhandled exception:\nTraceback (most recent "
              "call last):\n  File \"x.py\", line 1\nnetplumb.errors.PlanError: a.b: bad (got 1)"
              "\nerror: update failed\n")
    assert preview_errors(failed) == ["PlanError: a.b: bad (got 1)", "update failed"]


def test_results_directory_and_steps_that_did_not_run(tmp_path: Path) -> None:
    _write(tmp_path, "prod", check_out="stacks/Pulumi.prod.yaml: ok: 3 networks, 0 pods, "
           "0 warnings (9.1 ms)\n", check_exit="0\n", diff_out="#### netplumb diff\n\n"
           "**No changes.**\n", diff_exit="0", preview_skipped="no backend configured\n")
    _write(tmp_path, "edge", check_out="\x1b[31mstacks/Pulumi.edge.yaml: error\x1b[0m\n"
           "  error: networks[0].mtu: MTU out of range (got 70000)\n", check_exit="1")
    results = read_results(tmp_path)
    assert [r.stack for r in results] == ["edge", "prod"]
    body = build_comment(results)
    assert body.startswith(MARKER + "\n")
    rows = [ln for ln in body.splitlines() if ln.startswith("| `")]
    assert rows == [
        "| `edge` | ❌ 1 error(s): <code>networks[0].mtu: MTU out of range (got 70000)</code> "
        "| – not run | – not run |",
        "| `prod` | ✅ 3 networks, 0 pods, 0 warnings | No changes | – no backend configured |",
    ]
    assert "\x1b" not in body


def test_long_output_is_cut_in_the_middle_within_the_limit(tmp_path: Path) -> None:
    lines = [f"    ~ object-{i}: changed" for i in range(20000)]
    _write(tmp_path, "big", check_out="ok\n", check_exit="0",
           preview_out="Previewing update (big):\n" + "\n".join(lines) + "\nResources:\n"
           "    ~ 20000 to update\n", preview_exit="0")
    body = build_comment(read_results(tmp_path))
    assert len(body) <= GITHUB_LIMIT
    assert "lines cut (the workflow log has them all)" in body
    assert "object-0: changed" in body and "~ 20000 to update" in body


def test_cli_writes_the_comment(tmp_path: Path) -> None:
    _write(tmp_path / "results", "prod", check_out="x: ok: 1 networks, 0 pods, 0 warnings\n",
           check_exit="0")
    out = tmp_path / "comment.md"
    assert main(["pr-comment", str(tmp_path / "results"), "--out", str(out),
                 "--run-url", "https://ci.example.com/1"]) == 0
    text = out.read_text()
    assert text.startswith(MARKER) and "https://ci.example.com/1" in text
    assert main(["pr-comment", str(tmp_path / "absent")]) == 2
