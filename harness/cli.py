"""``python -m harness.cli up [--nodes N] | down | status | node list | node exec NODE -- CMD``:
the embedded development cluster from the command line (``make cluster-up`` /
``make cluster-down``). ``node exec`` runs a command inside a node's namespaces (mount,
network, UTS), as ``docker exec`` does for a kind node:
``python -m harness.cli node exec worker-2 -- ip -br addr``. It is part of the development
harness, not of the netplumb wheel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from harness import cluster, node, paths  # importing node hands the nodes to cluster.up & co.


def _printer(t0: float) -> cluster.Progress:
    def say(msg: str) -> None:
        print(f"[cluster +{time.monotonic() - t0:5.1f}s] {msg}", flush=True)

    return say


def _up(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    say = _printer(t0)
    missing = cluster.missing_binaries()
    if missing:
        if args.no_build:
            print(f"error: missing {', '.join(missing)}; run `make tools`", file=sys.stderr)
            return 1
        from harness import tools

        say(f"building {', '.join(missing)} (first run: this takes a while)")
        tools.ensure()
        say("toolchain ready")
    t_start = time.monotonic()
    info = cluster.up(args.dir, progress=say, timeout=args.timeout, node=args.node,
                      nodes=args.nodes)
    if info.reused:
        say(f"cluster already running ({info.version})")
    else:
        say(f"cluster Ready in {time.monotonic() - t_start:.1f}s ({info.version})")
    print(f"kubeconfig: {info.kubeconfig}")
    print(f"  export KUBECONFIG={info.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    say = _printer(t0)
    layout_dir = (args.dir or paths.cluster_dir()).resolve()
    stopped = cluster.down(args.dir, progress=say)
    if stopped:
        say(f"stopped {len(stopped)} process(es), removed {layout_dir}")
    else:
        say(f"nothing running; removed {layout_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    info = cluster.status(args.dir)
    if args.json:
        data = asdict(info)
        print(json.dumps(data, default=str, indent=2))
        return 0 if info.ready else 3
    state = "Ready" if info.ready else "not ready"
    print(f"cluster: {state}  {info.server or ''}  {info.version or ''}".rstrip())
    each = " (containerd, kubelet, kube-proxy each)"
    print(f"nodes:   {', '.join(info.nodes) + each if info.nodes else 'none'}")
    print(f"dir:     {info.cluster_dir}")
    if info.kubeconfig.exists():
        print(f"kubeconfig: {info.kubeconfig}")
    for c in info.components:
        pid = str(c.pid) if c.pid is not None else "-"
        mark = "healthy" if c.healthy else ("running" if c.running else "stopped")
        print(f"  {c.name:<25} pid {pid:<8} {mark:<8} {c.log}")
    return 0 if info.ready else 3


def _node(args: argparse.Namespace) -> int:
    import subprocess

    lay = cluster.layout(args.dir)
    if args.node_cmd == "list":
        for n in node.running(lay):
            state = "up" if n.ns.exists() else "no namespaces"
            print(f"{n.name:<12} {n.ip:<16} {state}")
        return 0
    target = node.by_name(lay, args.name)
    if not target.ns.exists():
        print(f"error: node {target.name} has no namespaces (is the cluster up?)",
              file=sys.stderr)
        return 1
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        command = ["sh"]
    return subprocess.run([*target.ns.prefix(), *command], check=False).returncode


def cluster_main(argv: list[str]) -> int:
    """``up`` (idempotent), ``down`` (also cleans a crashed run) or ``status`` (exit 3 if the
    cluster is not ready)."""
    parser = argparse.ArgumentParser(prog="python -m harness.cli", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=None, help="cluster state dir (default: .netplumb/cluster)"
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the embedded cluster (or reuse a healthy one)")
    p_up.add_argument("--timeout", type=float, default=120.0, help="per-step readiness timeout")
    p_up.add_argument("--node", action=argparse.BooleanOptionalAction, default=None,
                      help="run the real node (default: where it can run, i.e. as root)")
    p_up.add_argument("--nodes", type=int, default=None,
                      help="how many nodes (default: NETPLUMB_NODES, else 2)")
    p_up.add_argument("--no-build", action="store_true", help="fail instead of building tools")
    sub.add_parser("down", help="stop everything, restore the host, remove the cluster state")
    p_st = sub.add_parser("status", help="show components, pids and health")
    p_st.add_argument("--json", action="store_true")
    p_node = sub.add_parser("node", help="the cluster's nodes: list them, run a command in one")
    node_sub = p_node.add_subparsers(dest="node_cmd", required=True)
    node_sub.add_parser("list", help="each node's name, address and state")
    p_exec = node_sub.add_parser("exec", help="run a command inside a node's namespaces")
    p_exec.add_argument("name", help="the node (worker-2, or 2)")
    p_exec.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command (after --; default: a shell)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            return _up(args)
        if args.cmd == "down":
            return _down(args)
        if args.cmd == "node":
            return _node(args)
        return _status(args)
    except cluster.ClusterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cluster_main(sys.argv[1:]))
