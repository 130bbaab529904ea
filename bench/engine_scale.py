"""Engine scale: a stack of N networks through the real Pulumi engine, against
``kubectl apply --server-side`` of the same rendered NADs, side by side in one run.

For each size it measures, on the same cluster:

* kubectl: ``apply --server-side`` (create), the same again (no-op), ``apply --server-side
  --dry-run=server`` (preview), ``delete --wait=false`` (destroy: NADs have no finalizers, so
  they are gone when the deletes return; ``--wait=true`` waits on each object in turn, about
  0.2 s each, which would flatter netplumb);
* netplumb: ``pulumi up`` (create), ``pulumi up`` again (no-op, including the drift detection
  every ``up`` does: one list per object set), ``pulumi preview``,
  ``pulumi destroy``, through the Automation API with the built CLI, as ``make run`` does.
  netplumb's destroy waits until its objects are gone.

The spec lives in a file (``netplumb:specFile``), as a big stack's would. kubectl runs first
and deletes its NADs before netplumb creates the same names. Prints one table, the ratios
netplumb/kubectl per size, and how the time grows from 500 to 5,000 networks.

Run (the tool cache built, kubectl in it; the embedded cluster is started when needed):

    .venv/bin/python bench/engine_scale.py [--sizes 10 100 500 1000 5000]

Goals (at 500 NADs): create ≤ 5x kubectl, no-op up ≤ 3x, destroy ≤ 5x; 10x the NADs ≤ 12x
the time.

``--before DIR``: also run each size's stack with the ``netplumb`` package of DIR (a checkout
of an earlier commit, e.g. ``git worktree add /tmp/before <commit>``) on the same cluster,
right after the current one, and print the current/earlier ratio per operation: what a change
did to the engine's figures, side by side in one run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import harness.node  # noqa: F401 (cluster.up runs the nodes through it)
from harness import cluster, engine, tools
from netplumb.args.stack import StackSpec
from netplumb.plan import build_plan, nad_manifests
from netplumb.render.yamlout import dump

OPS = ("create", "noop", "preview", "destroy")
NAMESPACE = "default"


def spec(count: int) -> dict[str, Any]:
    """``count`` bridge networks, one address each (not the gateway), in 198.18.0.0/15."""
    nets = []
    for i in range(count):
        third, fourth = divmod(i, 250)
        net = f"198.{18 + third // 256}.{third % 256}"
        nets.append({"name": f"scale-{i:05d}", "namespace": NAMESPACE, "type": "bridge",
                     "bridge": "np-scale0",
                     "ipam": {"type": "host-local", "subnet": f"{net}.0/24",
                              "rangeStart": f"{net}.{fourth + 2}",
                              "rangeEnd": f"{net}.{fourth + 2}"}})
    return {"networks": nets}


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def kubectl_binary() -> Path:
    found = os.environ.get("KUBECTL")
    if found:
        return Path(found)
    path = tools.bin_dir() / "kubectl"
    if not path.exists():
        raise SystemExit("engine_scale: no kubectl in the tool cache (tools/kubernetes builds "
                         "it); or set KUBECTL=/path/to/kubectl")
    return path


def run_kubectl(kubectl: Path, kubeconfig: Path, manifests: Path) -> dict[str, float]:
    def k(*args: str) -> None:
        subprocess.run([str(kubectl), f"--kubeconfig={kubeconfig}", *args], check=True,
                       stdout=subprocess.DEVNULL)

    apply = ("apply", "--server-side", "--field-manager=bench", "-f", str(manifests))
    return {"create": timed(lambda: k(*apply)),
            "noop": timed(lambda: k(*apply)),
            "preview": timed(lambda: k(*apply, "--dry-run=server")),
            "destroy": timed(lambda: k("delete", "--wait=false", "-f", str(manifests)))}


def scale_project(where: Path, n: int, data: dict[str, Any]) -> Path:
    """A project copy whose stack ``scale<n>`` reads ``data`` from a spec file (a stack's
    removal takes its config file with it: one copy per run)."""
    project = engine.project_copy(where, {
        f"scale{n}": "config:\n  netplumb:specFile: specs/scale.yaml\n"})
    (project / "specs").mkdir()
    (project / "specs" / "scale.yaml").write_text(yaml.safe_dump(data))
    return project


def with_library(library: Path | None, fn: Callable[[], dict[str, float]]
                 ) -> dict[str, float]:
    """``fn()`` with the stacks' program importing ``netplumb`` from ``library`` (the engine's
    processes inherit ``PYTHONPATH``); None: this checkout's."""
    if library is None:
        return fn()
    if not (library / "netplumb" / "__init__.py").exists():
        raise SystemExit(f"engine_scale: --before {library}: no netplumb package there")
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(library)
    try:
        return fn()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def run_netplumb(project: Path, backend: Path, kubeconfig: Path, name: str
                 ) -> dict[str, float]:
    st = engine.stack(name, work_dir=project, kubeconfig=kubeconfig, backend=backend)
    try:
        out = {"create": timed(lambda: st.up()),
               "noop": timed(lambda: st.up()),
               "preview": timed(lambda: st.preview())}
        out["destroy"] = timed(lambda: st.destroy())
        return out
    finally:
        st.workspace.remove_stack(name, force=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 1000, 5000])
    ap.add_argument("--before", type=Path, default=None, metavar="DIR",
                    help="also run with the netplumb package of DIR (an earlier checkout)")
    args = ap.parse_args(argv)
    before: Path | None = args.before.resolve() if args.before else None
    kubectl = kubectl_binary()
    kubeconfig = Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else (
        cluster.up(progress=lambda m: print(f"[cluster] {m}", flush=True)).kubeconfig)
    platform = engine.stack("platform", kubeconfig=kubeconfig)  # the NAD CRD
    platform.up()
    results: dict[int, dict[str, dict[str, float]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="netplumb-engine-scale-"))
    try:
        for n in args.sizes:
            data = spec(n)
            manifests = tmp / f"nads-{n}.yaml"
            plan = build_plan(StackSpec.parse(data))
            manifests.write_text("---\n".join(dump(m) for m in nad_manifests(plan)))
            project = scale_project(tmp / f"project-{n}", n, data)
            print(f"[{n} NADs] kubectl ...", flush=True)
            kube = run_kubectl(kubectl, kubeconfig, manifests)
            print(f"[{n} NADs] netplumb ...", flush=True)
            net = run_netplumb(project, tmp / f"backend-{n}", kubeconfig, f"scale{n}")
            results[n] = {"kubectl": kube, "netplumb": net}
            print(f"[{n} NADs] " + "  ".join(
                f"{op} {net[op]:.2f}s/{kube[op]:.2f}s" for op in OPS), flush=True)
            if before is not None:
                print(f"[{n} NADs] netplumb of {before} ...", flush=True)
                results[n]["before"] = with_library(before, functools.partial(
                    run_netplumb, scale_project(tmp / f"project-before-{n}", n, data),
                    tmp / f"backend-before-{n}", kubeconfig, f"scale{n}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nNADs   | " + " | ".join(f"{op:>22}" for op in OPS))
    print("       | " + " | ".join(f"{'netplumb  kubectl  x':>22}" for _ in OPS))
    for n, r in results.items():
        cells = []
        for op in OPS:
            ours, theirs = r["netplumb"][op], r["kubectl"][op]
            cells.append(f"{ours:8.2f} {theirs:8.2f} {ours / theirs:4.1f}")
        print(f"{n:6d} | " + " | ".join(cells))
    if before is not None:
        print(f"\nthis checkout against {before} (time now / time before)")
        print("NADs   | " + " | ".join(f"{op:>22}" for op in OPS))
        print("       | " + " | ".join(f"{'now   before  x':>22}" for _ in OPS))
        for n, r in results.items():
            print(f"{n:6d} | " + " | ".join(
                f"{r['netplumb'][op]:8.2f} {r['before'][op]:8.2f} "
                f"{r['netplumb'][op] / r['before'][op]:4.2f}" for op in OPS))
    if 500 in results and 5000 in results:
        print("\n10x the NADs (500 -> 5,000), time ratio: " + ", ".join(
            f"{op} {results[5000]['netplumb'][op] / results[500]['netplumb'][op]:.1f}x"
            for op in OPS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
