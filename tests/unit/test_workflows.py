"""The GitHub Actions workflows: linted by actionlint (built from tools/actionlint), the Pulumi
CLI version the preview pins is the one tools/pulumi builds, and the step recorder the preview
runs writes what `netplumb pr-comment` reads."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from harness import tools
from harness.paths import REPO_ROOT
from netplumb.ops.prcomment import read_results

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
RECORD = REPO_ROOT / ".github" / "preview" / "record.sh"


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = tools.ensure(["actionlint"]) / "actionlint"
    # shellcheck checks every `run:` script when it is installed (Debian: shellcheck)
    shellcheck = shutil.which("shellcheck") or ""
    return subprocess.run([str(binary), "-color=false", f"-shellcheck={shellcheck}",
                           "-pyflakes=", *map(str, paths)],
                          capture_output=True, text=True, cwd=REPO_ROOT, check=False)


def test_workflows_pass_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert PREVIEW in files
    proc = _actionlint(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_finds_what_is_wrong(tmp_path: Path) -> None:
    """The linter really reads the workflow: a job that needs an unknown job, a misspelled
    matrix key and (with shellcheck) an unquoted variable are each reported."""
    broken = tmp_path / ".github" / "workflows" / "preview.yml"
    broken.parent.mkdir(parents=True)
    text = PREVIEW.read_text()
    text = text.replace("needs: [stacks, preview]", "needs: [stacks, previews]")
    text = text.replace("STACK: ${{ matrix.stack }}", "STACK: ${{ matrix.stak }}")
    if shutil.which("shellcheck"):
        text = text.replace('cat "$RESULTS/preview.skipped"', "cat $RESULTS/preview.skipped")
    broken.write_text(text)
    proc = _actionlint(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'job "comment" needs job "previews" which does not exist' in proc.stdout, proc.stdout
    assert 'property "stak" is not defined' in proc.stdout, proc.stdout
    if shutil.which("shellcheck"):
        assert "SC2086" in proc.stdout, proc.stdout


def test_the_preview_pins_the_cli_version_the_project_builds() -> None:
    built = tomllib.loads((REPO_ROOT / "tools" / "pulumi" / "tool.toml").read_text())["version"]
    flow = yaml.safe_load(PREVIEW.read_text())
    [pin] = [s["with"]["pulumi-version"] for s in flow["jobs"]["preview"]["steps"]
             if s.get("uses", "").startswith("pulumi/actions@")]
    assert pin == built.removeprefix("v")


def test_record_keeps_output_and_exit_status(tmp_path: Path) -> None:
    out = tmp_path / "prod"
    for step, script in (("check", "echo checked; echo 'warning: w' >&2; exit 0"),
                         ("preview", "echo 'error: update failed' >&2; exit 3")):
        proc = subprocess.run([str(RECORD), str(out), step, "bash", "-c", script],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr  # later steps still run
    assert (out / "check.out").read_text() == "checked\nwarning: w\n"
    assert (out / "check.exit").read_text() == "0\n"
    [result] = read_results(tmp_path)
    assert result.step("check").ok
    assert result.step("preview").exit == 3
    assert "update failed" in result.step("preview").output


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_record_script_passes_shellcheck() -> None:
    proc = subprocess.run(["shellcheck", str(RECORD)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout
