"""Rendered output is byte-identical across processes (else every `pulumi up` would diff)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _render(seed: str, out: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-m", "netplumb.cli.main", "render", "prod", "--out",
                    str(out)], cwd=ROOT, env=env, check=True, capture_output=True)
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_render_is_identical_across_hash_seeds(tmp_path: Path) -> None:
    first = _render("1", tmp_path / "a")
    assert len(first) > 10
    for seed in ("2", "3"):
        assert _render(seed, tmp_path / seed) == first
