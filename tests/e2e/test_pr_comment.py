"""The pull-request comment, built from real `netplumb check`, `netplumb diff` and
`pulumi preview --diff` output, as .github/workflows/preview.yml runs them.

A stack is deployed at the base commit; the working tree then changes an MTU and adds a
network. The three commands run for real (the preview through the engine against the
embedded cluster), their outputs are saved by the workflow's own recorder, and
`netplumb pr-comment` builds the comment. A second stack is broken (an MTU out of range): its
row says so, naming the field, for check and for the preview.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import engine
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle
from netplumb.ops.prcomment import MARKER

pytestmark = pytest.mark.e2e

GOOD, BAD = "prc", "prcbad"
RECORD = REPO_ROOT / ".github" / "preview" / "record.sh"

BASE = """\
config:
  netplumb:spec:
    networks:
      - name: prc-storage
        type: macvlan
        master: np-prc0
        mode: bridge
        mtu: 1500
        ipam: {type: host-local, subnet: 198.51.100.0/24, rangeStart: 198.51.100.100,
               rangeEnd: 198.51.100.109}
"""

HEAD = BASE.replace("mtu: 1500", "mtu: 1400") + """\
      - name: prc-mgmt
        type: bridge
        bridge: np-prcbr0
        ipam: {type: host-local, subnet: 203.0.113.0/24, rangeStart: 203.0.113.100,
               rangeEnd: 203.0.113.109}
"""

BROKEN = BASE.replace("mtu: 1500", "mtu: 70000")


def _git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=netplumb", "-c", "user.email=ci@example.com",
                           *args], cwd=project, check=True, capture_output=True,
                          text=True).stdout.strip()


def _save(results: Path, stack: str, step: str, argv: list[str], cwd: Path,
          env: dict[str, str]) -> None:
    """Run one command through the workflow's own recorder (.github/preview/record.sh)."""
    subprocess.run([str(RECORD), str(results / stack), step, *argv], cwd=cwd, env=env,
                   timeout=600, check=True)
    status = (results / stack / f"{step}.exit").read_text().strip()
    print(f"--- {stack} {step}: exit {status}")


@pytest.fixture(scope="module")
def deployed(cluster: ClusterHandle, platform: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Path, str, Path]]:
    tmp = tmp_path_factory.mktemp("prcomment")
    backend = tmp / "backend"
    project = engine.project_copy(tmp / "project", {GOOD: BASE, BAD: BROKEN})
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "base")
    base = _git(project, "rev-parse", "HEAD")
    good = engine.stack(GOOD, work_dir=project, kubeconfig=cluster.kubeconfig, backend=backend)
    bad = engine.stack(BAD, work_dir=project, kubeconfig=cluster.kubeconfig, backend=backend)
    try:
        good.up(on_output=engine.printer())
        (project / "stacks" / f"Pulumi.{GOOD}.yaml").write_text(HEAD)
        yield project, base, backend
    finally:
        try:
            good.destroy(on_output=engine.printer())
        finally:
            good.workspace.remove_stack(GOOD)
            bad.workspace.remove_stack(BAD)


@pytest.fixture(scope="module")
def comment(deployed: tuple[Path, str, Path], cluster: ClusterHandle,
            tmp_path_factory: pytest.TempPathFactory) -> str:
    project, base, backend = deployed
    env = engine.engine_env(cluster.kubeconfig, backend)
    netplumb = str(REPO_ROOT / ".venv" / "bin" / "netplumb")
    results = tmp_path_factory.mktemp("results")
    for stack in (GOOD, BAD):
        _save(results, stack, "check", [netplumb, "check", stack], project, env)
        _save(results, stack, "diff", [netplumb, "diff", stack, "--base", base,
                                       "--format", "markdown"], project, env)
        _save(results, stack, "preview", ["pulumi", "preview", "--diff", "--color", "never",
                                          "--stack", stack], project, env)
    proc = subprocess.run([netplumb, "pr-comment", str(results),
                           "--run-url", "https://ci.example.com/run/1"],
                          capture_output=True, text=True, check=True)
    print(proc.stdout)
    return proc.stdout


def _row(comment: str, stack: str) -> list[str]:
    [row] = [ln for ln in comment.splitlines() if ln.startswith(f"| `{stack}` |")]
    return [cell.strip() for cell in row.strip("|").split(" | ")]


def test_the_comment_is_found_by_its_marker_and_links_the_run(comment: str) -> None:
    assert comment.startswith(MARKER + "\n")
    assert comment.count(MARKER) == 1
    assert "[The workflow run](https://ci.example.com/run/1)" in comment
    assert len(comment) < 65536


def test_a_good_stack_row_sums_up_check_diff_and_preview(comment: str) -> None:
    _, check, diff, preview = _row(comment, GOOD)
    assert check.startswith("✅") and "2 networks" in check
    assert diff == "1 changed, 1 added, 0 removed"
    # the stack's NADs are one object set: a NAD added or changed updates the set
    assert preview == "~ 1 to update, 2 unchanged", preview


def test_the_diff_and_the_preview_show_the_change(comment: str) -> None:
    section = comment.split(f"#### `{GOOD}`", 1)[1].split(f"#### `{BAD}`", 1)[0]
    assert "<code>spec.config.mtu</code> | <code>1500</code> | <code>1400</code>" in section
    assert "NetworkAttachmentDefinition default/prc-mgmt" in section
    preview = section.split("pulumi preview --diff --stack prc", 1)[1]
    assert "```diff" in preview
    assert "+ NetworkAttachmentDefinition/default/prc-mgmt" in preview
    assert "~ mtu       : 1500 => 1400" in preview


def test_a_broken_stack_row_names_the_field(comment: str) -> None:
    _, check, diff, preview = _row(comment, BAD)
    field = "config.netplumb:spec.networks[0].mtu: MTU out of range"
    assert check.startswith("❌ 1 error(s)") and field in check and "70000" in check, check
    assert diff.startswith("❌ exit 2") and field in diff, diff
    assert preview.startswith("❌ <code>PlanError: ") and field in preview, preview
    assert "networks[0].mtu" in comment.split(f"#### `{BAD}`", 1)[1]
