"""The Debian package step (``tools/deps.sh`` over ``tools/debian-packages.txt``) on a machine
without the packages: ``dpkg-query``, ``apt-get``, ``systemctl`` and ``id`` are stubs on PATH
that record their calls, so the test sees what the step would install, as whom, and that make
runs it before anything builds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "deps.sh"
LIST = REPO / "tools" / "debian-packages.txt"


def _listed() -> list[tuple[str, str, str]]:
    rows = []
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pkg, group, how, *_ = line.split()
            rows.append((pkg, group, how))
    return rows


def _stubs(tmp: Path, *, installed: set[str], uid: int, install_works: bool = True) -> Path:
    """A bin dir of stubs. ``dpkg-query`` answers from a state file, which ``apt-get install``
    extends (when ``install_works``); every call is appended to ``calls``."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    state = tmp / "installed"
    state.write_text("".join(f"{p}\n" for p in sorted(installed)))
    calls = tmp / "calls"
    calls.touch()
    scripts = {
        "dpkg-query": f"""
pkg="${{@: -1}}"
if grep -qx "$pkg" {state}; then echo -n "install ok installed"; else exit 1; fi""",
        "apt-get": f"""
echo "apt-get $*" >> {calls}
if [ "$1" = install ] && [ {int(install_works)} = 1 ]; then
  for a in "$@"; do case "$a" in install|-*) ;; *) echo "$a" >> {state} ;; esac; done
fi""",
        "systemctl": f'echo "systemctl $*" >> {calls}; exit 1',
        "id": f"echo {uid}",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def _run(bin_dir: Path, *groups: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NETPLUMB_SKIP_DEPS"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    return subprocess.run(["bash", str(SCRIPT), *groups], capture_output=True, text=True,
                          env=env, check=False, timeout=60)


def _calls(tmp: Path) -> list[str]:
    return (tmp / "calls").read_text().splitlines()


def test_the_list_is_well_formed_and_the_readme_names_every_package() -> None:
    rows = _listed()
    assert rows, "tools/debian-packages.txt lists no package"
    assert len({p for p, _, _ in rows}) == len(rows), "a package is listed twice"
    assert {g for _, g, _ in rows} == {"build", "run", "test"}
    assert {h for _, _, h in rows} <= {"default", "no-recommends"}
    readme = (REPO / "README.md").read_text()
    missing = [p for p, _, _ in rows if f"`{p}`" not in readme]
    assert not missing, f"README does not name these Debian packages: {missing}"


def test_root_installs_exactly_what_is_missing(tmp_path: Path) -> None:
    rows = _listed()
    have = {p for p, g, _ in rows if g == "build"}  # the build group is already there
    bin_dir = _stubs(tmp_path, installed=have, uid=0)
    proc = _run(bin_dir, "build", "run", "test")
    assert proc.returncode == 0, proc.stderr
    calls = _calls(tmp_path)
    assert calls[0] == "apt-get update -q"
    plain = [p for p, g, h in rows if g in ("run", "test") and h == "default"]
    lean = [p for p, g, h in rows if g in ("run", "test") and h == "no-recommends"]
    assert f"apt-get install -y -q {' '.join(plain)}" in calls
    if lean:
        assert f"apt-get install -y -q --no-install-recommends {' '.join(lean)}" in calls
    assert not any(p in c for c in calls for p in have), "reinstalled a present package"


def test_default_groups_leave_the_test_packages_out(tmp_path: Path) -> None:
    bin_dir = _stubs(tmp_path, installed=set(), uid=0)
    proc = _run(bin_dir)
    assert proc.returncode == 0, proc.stderr
    installs = " ".join(c for c in _calls(tmp_path) if c.startswith("apt-get install"))
    for pkg, group, _ in _listed():
        assert (re.search(rf"\b{re.escape(pkg)}\b", installs) is not None) == (group != "test"), pkg


def test_without_root_it_stops_at_once_with_the_line_to_run(tmp_path: Path) -> None:
    bin_dir = _stubs(tmp_path, installed={"gcc"}, uid=1000)
    proc = _run(bin_dir, "build", "run")
    assert proc.returncode == 1
    assert _calls(tmp_path) == [], "apt-get ran without root"
    rows = [(p, h) for p, g, h in _listed() if g in ("build", "run") and p != "gcc"]
    lines = [ln for ln in proc.stderr.splitlines() if "apt-get install -y " in ln]
    plain = next(ln for ln in lines if "--no-install-recommends" not in ln)
    assert plain.split("apt-get install -y ")[1].split() == [p for p, h in rows
                                                              if h == "default"]
    lean = [p for p, h in rows if h == "no-recommends"]
    if lean:
        [line] = [ln for ln in lines if "--no-install-recommends" in ln]
        assert line.split("--no-install-recommends ")[1].split() == lean
    assert "apt-get update" in proc.stderr


def test_nothing_missing_is_a_quiet_no_op(tmp_path: Path) -> None:
    bin_dir = _stubs(tmp_path, installed={p for p, _, _ in _listed()}, uid=1000)
    proc = _run(bin_dir, "build", "run", "test")
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == []
    assert "are installed" in proc.stdout


def test_a_failed_install_fails_the_step(tmp_path: Path) -> None:
    bin_dir = _stubs(tmp_path, installed=set(), uid=0, install_works=False)
    proc = _run(bin_dir, "build")
    assert proc.returncode == 1
    assert "still missing" in proc.stderr


def test_an_unknown_group_is_refused(tmp_path: Path) -> None:
    bin_dir = _stubs(tmp_path, installed=set(), uid=0)
    proc = _run(bin_dir, "bulid")
    assert proc.returncode == 2
    assert "unknown group 'bulid'" in proc.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("target", "groups"), [("run", "build run"), ("tools", "build run"),
                                                  ("test", "build run test")])
def test_make_runs_the_step_before_anything_builds(target: str, groups: str,
                                                   tmp_path: Path) -> None:
    """``make -n`` from a checkout without a venv: the package step is the first command, with
    the target's groups, before the venv, the toolchain or any image is built."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, work / name)
    # a clean make, also when this test runs under `make test` (no inherited make state)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    proc = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=work,
                          capture_output=True, text=True, check=False, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    commands = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert commands[0] == f"bash tools/deps.sh {groups}", commands[:3]
    assert any("harness.tools build" in c for c in commands[1:])
    assert not any("deps.sh" in c for c in commands[1:]), "the step runs twice"
