"""Memory of the embedded cluster's nodes as they stand: the resident memory of every process
of each node (containerd, the kubelet, kube-proxy, the runc shims and every container of its
pods, found through the node's namespaces), by program, and the control plane's beside them.

Run it with the cluster up (``make run`` leaves it so), idle or not:
``.venv/bin/python bench/node_memory.py``. Resident memory counts shared pages once per
process, so the sums are upper bounds.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from harness import node
from harness.cluster import layout, processes


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=6, help="programs listed per node")
    args = parser.parse_args()
    lay = layout()
    members = node.running(lay)
    if not members:
        print("no node runs (make run starts the cluster)")
        return 1
    total = 0
    for n in members:
        by_program: Counter[str] = Counter()
        pids = n.ns.pids()
        for pid in pids:
            by_program[processes.program_of(pid)] += rss_kib(pid)
        mib = sum(by_program.values()) / 1024
        total += sum(by_program.values())
        top = ", ".join(f"{p} {k / 1024:.0f}" for p, k in by_program.most_common(args.top))
        print(f"{n.name}: {len(pids)} processes, {mib:.0f} MiB resident ({top} MiB)")
    control = {processes.program_of(p): rss_kib(p) for p in processes.scan_ours(lay)
               if processes.program_of(p) not in node.COMPONENTS}
    cp = sum(control.values()) / 1024
    print(f"control plane: {cp:.0f} MiB resident "
          f"({', '.join(f'{p} {k / 1024:.0f}' for p, k in sorted(control.items()))} MiB)")
    print(f"all nodes: {total / 1024:.0f} MiB; with the control plane "
          f"{total / 1024 + cp:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
