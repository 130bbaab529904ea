"""Plan scale: check and render times for 500 and 5,000 networks, and the cost of
registering them through netplumb versus bare pulumi_kubernetes objects under mocks.

Run: .venv/bin/python bench/plan_scale.py [--sizes 500 5000] [--repeat 3]
Prints one table; ratios are measured side by side in this run.
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from netplumb.args.stack import StackSpec
from netplumb.components import NetplumbStack
from netplumb.components.network import component_for
from netplumb.plan import build_plan, render_plan


def make_spec(n: int) -> dict[str, Any]:
    """n networks: macvlan and bridge alternating, 50 per host link, disjoint IPv6 pools."""
    nets: list[dict[str, Any]] = []
    for i in range(n):
        link = f"ens{i // 50}"
        ipam = {"type": "host-local",
                "ranges": [[{"subnet": f"2001:db8:{i // 256:x}:{i % 256:x}00::/56"}]]}
        if i % 2:
            nets.append({"name": f"net-{i}", "type": "macvlan", "master": link, "mode": "bridge",
                         "ipam": ipam})
        else:
            nets.append({"name": f"net-{i}", "type": "bridge", "bridge": f"br{i // 50}",
                         "ipam": ipam})
    return {"networks": nets}


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.count = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.count += 1
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def under_mocks(program: Callable[[], Any]) -> tuple[float, int]:
    mocks = _Mocks()
    pulumi.runtime.set_mocks(mocks, project="bench", stack="bench", preview=False)
    started = time.perf_counter()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        program()
        return None

    run()
    return time.perf_counter() - started, mocks.count


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-components", action="store_true",
                    help="leave out the one-component-per-network variant")
    opts = ap.parse_args()
    rows = []
    for n in opts.sizes:
        raw = make_spec(n)
        spec = StackSpec.parse(raw)
        parse_t = timed(functools.partial(StackSpec.parse, raw), opts.repeat)
        check_t = timed(functools.partial(build_plan, spec), opts.repeat)
        plan = build_plan(spec)
        render_t = timed(functools.partial(render_plan, plan), opts.repeat)
        manifests = [m for m in render_plan(plan) if m["kind"] != "CustomResourceDefinition"]

        def bare(manifests: list[dict[str, Any]] = manifests) -> None:
            for m in manifests:
                k8s.apiextensions.CustomResource(
                    m["metadata"]["name"], api_version=m["apiVersion"], kind=m["kind"],
                    metadata=m["metadata"], spec=m["spec"])

        def ours(raw: dict[str, Any] = raw) -> None:
            # the whole path a stack takes: parse, check, render, register
            NetplumbStack("bench", StackSpec.parse({**raw, "install_nad_crd": False}))

        def components(raw: dict[str, Any] = raw) -> None:
            # one per-kind component per network, as a program composing by hand would
            spec = StackSpec.parse({**raw, "install_nad_crd": False})
            for args in spec.networks:
                component_for(args)(args.name or "x", args)

        ours_t: list[float] = []
        comp_t: list[float] = []
        bare_t: list[float] = []
        for _ in range(opts.repeat):  # interleaved, so drift hits all alike
            t, _count = under_mocks(bare)
            bare_t.append(t)
            t, ours_count = under_mocks(ours)
            ours_t.append(t)
            if not opts.skip_components:
                t, _count = under_mocks(components)
                comp_t.append(t)
        rows.append((n, parse_t, check_t, render_t, statistics.median(bare_t),
                     statistics.median(ours_t), statistics.median(comp_t) if comp_t else 0.0,
                     ours_count))
    print(f"{'networks':>9} {'parse s':>8} {'check s':>8} {'render s':>9} {'bare reg s':>11} "
          f"{'stack s':>8} {'ratio':>6} {'components s':>13} {'ratio':>6}")
    for n, p, c, r, b, o, k, _cnt in rows:
        print(f"{n:>9} {p:>8.3f} {c:>8.3f} {r:>9.3f} {b:>11.2f} {o:>8.2f} {o / b:>6.2f} "
              f"{k:>13.2f} {k / b:>6.2f}")
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        print(f"scaling {last[0] // first[0]}x networks: check {last[2] / first[2]:.1f}x time, "
              f"stack registration {last[5] / first[5]:.1f}x time")


if __name__ == "__main__":
    main()
