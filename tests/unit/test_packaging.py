"""The wheel ships the netplumb package only (every subpackage of it); the development
harness stays in the checkout, and the netplumb command has no cluster subcommand."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages  # type: ignore[import-untyped]

from netplumb.cli.main import main

ROOT = Path(__file__).parents[2]


def test_wheel_packages_are_netplumb_only() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = config["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(ROOT), include=found["include"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "netplumb").rglob("__init__.py")}
    assert shipped == on_disk
    assert {"netplumb.cni", "netplumb.args", "netplumb.plan", "netplumb.render",
            "netplumb.components", "netplumb.cli"} <= shipped
    assert not {p for p in shipped if not p.startswith("netplumb")}


def test_the_cluster_commands_are_the_harness_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cluster", "down"])
    assert exit_.value.code == 2
    assert "invalid choice: 'cluster'" in capsys.readouterr().err


def test_harness_cli_runs_from_anywhere_in_the_venv(tmp_path: Path) -> None:
    # what make cluster-up/-down run; the venv finds the checkout's harness from any cwd
    done = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "{up,down,status,node}" in done.stdout
