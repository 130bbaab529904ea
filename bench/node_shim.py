"""CNI shim overhead: ADD+DEL pairs of the real host-local plugin run bare and through
netplumb's metrics shim, interleaved in one run, with a stand-in metrics daemon draining.

Run (the tool cache's CNI plugins are used; built first if missing):

    .venv/bin/python bench/node_shim.py [--pairs 500] [--per-op]

It runs ``go test -bench BenchmarkCNIPairs`` in ``node/`` (node/internal/shim/bench_test.go),
which prints the bare and shimmed medians and the per-pair overhead's median and p99
(nearest rank), per pair and per operation: once with the shim's state dir on the temp
dir's file system, once on /dev/shm (tmpfs, like /run on most nodes). ``--per-op`` also runs
``BenchmarkShimOverhead``: single operations of a fake plugin with the metrics side draining,
absent, unwritable and full. No root, no cluster. Goal: a CNI operation slowed by <= 2 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from harness import tools

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node"
LINE = re.compile(r"^(.*?)\s+n=\d+\s.*overhead median\s+([\d.]+) ms p99\s+([\d.]+) ms")


def host_local() -> Path:
    """host-local from the tool cache's cni-plugins build (built now if missing)."""
    tool = tools.discover()["cni-plugins"]
    path = tools.build_dir(tool) / "host-local"
    if not path.is_file():
        tools.ensure(["cni-plugins"])
    if not path.is_file():
        raise SystemExit(f"no host-local at {path} after building cni-plugins")
    return path


def run(bench: str, env: dict[str, str]) -> list[tuple[str, float, float]]:
    cmd = ["go", "test", "-count=1", "-run", "^$", "-bench", f"^{bench}$", "-benchtime", "1x",
           "./internal/shim"]
    proc = subprocess.run(cmd, cwd=NODE, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    rows = []
    for line in proc.stdout.splitlines():
        m = LINE.search(line)
        if m:
            rows.append((m.group(1), float(m.group(2)), float(m.group(3))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--per-op", action="store_true", help="also run BenchmarkShimOverhead")
    opts = ap.parse_args(argv)
    plugin = host_local()
    env = dict(os.environ, NETPLUMB_BENCH_PLUGIN=str(plugin), NETPLUMB_BENCH_PAIRS=str(opts.pairs))
    print(f"plugin {plugin}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    rows = run("BenchmarkCNIPairs", env)
    shm = Path("/dev/shm")
    if shm.is_dir():  # the node's state dir /run/netplumb is tmpfs on most nodes
        rows += run("BenchmarkCNIPairs", dict(env, NETPLUMB_BENCH_STATE_PARENT=str(shm)))
    if opts.per_op:
        rows += run("BenchmarkShimOverhead", env)
    print()
    print(f"{'case':<46} {'overhead median ms':>19} {'p99 ms':>8}  goal <= 2 ms")
    for name, med, p99 in rows:
        verdict = "met" if med <= 2 and p99 <= 2 else ("median met" if med <= 2 else "not met")
        print(f"{name:<46} {med:>19.3f} {p99:>8.3f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
