"""Checks of a plan with many multi-homed pods: 500 networks and 5,000 pods (3 networks
each), and 10x that, through the whole path a stack takes (parse, build, every check).

Run: .venv/bin/python bench/plan_pods.py [--scale 1 10] [--repeat 3]
Goal: 500 networks x 5,000 pods checks in < 2 s; 10x the plan costs <= 12x the time.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from typing import Any

from netplumb.args.stack import StackSpec
from netplumb.plan import build_plan


def make_spec(networks: int, pods: int, per_pod: int = 3) -> dict[str, Any]:
    rng = random.Random(11)
    nets = [{"name": f"net-{i}", "type": "macvlan", "master": f"ens{i // 50}", "mode": "bridge",
             "ipam": {"type": "host-local",
                      "ranges": [[{"subnet": f"2001:db8:{i // 256:x}:{i % 256:x}00::/56"}]]}}
            for i in range(networks)]
    pod_specs = [{"name": f"pod-{j}", "networks": [
        {"name": f"net-{k}", "interface": f"net{m + 1}"}
        for m, k in enumerate(rng.sample(range(networks), per_pod))]} for j in range(pods)]
    return {"networks": nets, "pods": pod_specs}


def timed(fn: Any, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    rows = []
    for k in opts.scale:
        raw = make_spec(500 * k, 5000 * k)
        spec = StackSpec.parse(raw)
        parse_t = timed(lambda raw=raw: StackSpec.parse(raw), opts.repeat)
        check_t = timed(lambda spec=spec: build_plan(spec), opts.repeat)
        rows.append((500 * k, 5000 * k, parse_t, check_t))
    print(f"{'networks':>9} {'pods':>7} {'parse s':>8} {'checks s':>9} {'total s':>8}")
    for n, p, a, b in rows:
        print(f"{n:>9} {p:>7} {a:>8.3f} {b:>9.3f} {a + b:>8.3f}")
    if len(rows) >= 2:
        f, la = rows[0], rows[-1]
        print(f"{la[0] // f[0]}x the plan: checks {la[3] / f[3]:.1f}x time, "
              f"parse+checks {(la[2] + la[3]) / (f[2] + f[3]):.1f}x time")


if __name__ == "__main__":
    main()
