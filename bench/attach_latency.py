"""Attach latency on a real node: from a pod being bound to its Node to Multus thick having
written the ``k8s.v1.cni.cncf.io/network-status`` annotation, for pods with 1, 2 and 4
secondary networks (macvlan and bridge NADs on ``np-`` underlay links, host-local IPAM).

Run (root; the tool cache built by ``make tools``):

    .venv/bin/python bench/attach_latency.py [--pods 20] [--concurrency 1] [--timeout 60]
                                             [--node worker-1]

It uses the embedded cluster and its nodes' pod network (Flannel + Multus thick, as the
``platform`` stack installs them). With ``make run``'s cluster up it measures there (touching
only its own namespace, NADs and links, the links made on every node as for any NAD); with
no cluster running it starts one, brings the platform stack up as ``make run`` does, and
takes the cluster down afterwards, also on failure. Every pod is pinned to one node
(``--node``, default the first): the figures are one node's per-pod cost (``--concurrency``
pods on that node at once), and a batch's pods share that node's host-local pools. The
cluster's nodes share the machine's cores: run it under the machine lock.

Timestamps are this process's monotonic clock at the arrival of pod watch events: "bound" is
the first event with ``spec.nodeName`` set, "network-status" the first with the annotation,
"Ready" the first with condition Ready=True. Pods are created ``--concurrency`` at a time
(default 1: each pod alone on its node, so the figure is the per-pod cost, without queueing).
p95 is the nearest-rank percentile. One untimed warm-up pod with 4 networks runs first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podbench import BenchError, nearest_rank, pod_events, retry, say

from harness import cluster, engine, node, podnetwork, underlay
from harness.cluster import Api, ApiError
from harness.node import cri
from harness.node.images import TOOLBOX_IMAGE
from harness.paths import pulumi_backend_dir
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION
from netplumb.waiting import wait_for

STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
GROUP, VERSION, PLURAL = NAD_GROUP, NAD_VERSION, NAD_PLURAL
NAMESPACE = "attach-bench"
COUNTS = (1, 2, 4)
MAX_PODS = 100  # each NAD pool below is a /25 (126 addresses); pods of one batch coexist


# --------------------------------------------------------------------------- the node


@dataclass
class Node:
    """The cluster measured on, and whether this run started it (to take it down again)."""

    kubeconfig: Path
    started_cluster: bool
    layout: cluster.Layout
    """The cluster's files and nodes (:func:`harness.node.running`)."""


def bring_up(say: Callable[[str], None]) -> Node:
    """The running embedded cluster with its pod network, or one started for this run; the
    network is the ``platform`` stack's, brought up as ``make run`` does if it is missing."""
    reason = node.why_not()
    if reason:
        raise BenchError(reason)
    info = cluster.up(progress=lambda m: say(f"[cluster] {m}"))
    if not info.node:
        raise BenchError("the embedded cluster runs without its node")
    here = Node(info.kubeconfig, started_cluster=not info.reused,
                layout=cluster.layout(info.cluster_dir))
    api = Api(info.kubeconfig)
    if not podnetwork.installed(api):
        say("[bench] bringing up the platform stack (Flannel + Multus thick)")
        st = engine.stack("platform", kubeconfig=info.kubeconfig)
        engine.up(st, pulumi_backend_dir())
    podnetwork.wait_ready(api, 180, error=BenchError)
    return here


def take_down(here: Node) -> list[str]:
    problems = []
    if here.started_cluster:
        try:
            cluster.down()
        except Exception as e:
            problems.append(f"cluster down: {e}")
    return problems


# --------------------------------------------------------------------------- pod watch


@dataclass
class Timing:
    created: float = 0.0
    uid: str = ""
    bound: float | None = None
    status: float | None = None
    ready: float | None = None


@dataclass
class Watcher:
    """Stamps pod events in NAMESPACE with the local monotonic clock (a daemon thread)."""

    api: Api
    stop: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
    pods: dict[str, Timing] = field(default_factory=dict)
    error: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="pod-watch", daemon=True).start()
        if not self.ready.wait(30):
            raise BenchError("pod watch did not start within 30s")

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        rv: str | None = None
        failures = 0
        while not self.stop.is_set() and failures < 20:
            try:
                if rv is None:
                    rv = str(self.api.get(path)["metadata"]["resourceVersion"])
                query = {"resourceVersion": rv, "allowWatchBookmarks": "true",
                         "timeoutSeconds": "30"}
                self.ready.set()
                for ev in self.api.watch(path, query, self.stop):
                    now = time.monotonic()
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        rv = None
                        break
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        self._stamp(obj, now)
                failures = 0
            except Exception as e:  # reconnect, bounded
                failures += 1
                self.error = str(e)
                self.stop.wait(0.5)

    def _stamp(self, pod: dict[str, Any], now: float) -> None:
        meta = pod.get("metadata") or {}
        with self.cond:
            t = self.pods.get(str(meta.get("name")))
            if t is None or (t.uid and t.uid != meta.get("uid")):
                return
            if t.bound is None and (pod.get("spec") or {}).get("nodeName"):
                t.bound = now
            if t.status is None and STATUS_ANNOTATION in (meta.get("annotations") or {}):
                t.status = now
            conds = (pod.get("status") or {}).get("conditions") or []
            if t.ready is None and any(c.get("type") == "Ready" and c.get("status") == "True"
                                       for c in conds):
                t.ready = now
            self.cond.notify_all()


# --------------------------------------------------------------------------- API helpers


def create_namespace(api: Api) -> None:
    retry("namespace", lambda: api.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    retry("default ServiceAccount",
           lambda: api.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"))


def nad_configs(tag: str, ipam_dir: Path) -> dict[str, dict[str, Any]]:
    """Four NADs: macvlan and bridge, twice, each on its own ``np-`` link and /25 pool."""
    def ipam(subnet: str) -> dict[str, Any]:
        return {"type": "host-local", "dataDir": str(ipam_dir), "ranges": [[{"subnet": subnet}]]}

    return {
        "mv-a": {"cniVersion": "1.0.0", "name": "mv-a", "type": "macvlan", "mode": "bridge",
                 "master": f"np-bma{tag}", "ipam": ipam("192.0.2.0/25")},
        "br-a": {"cniVersion": "1.0.0", "name": "br-a", "type": "bridge",
                 "bridge": f"np-bba{tag}", "ipam": ipam("203.0.113.0/25")},
        "mv-b": {"cniVersion": "1.0.0", "name": "mv-b", "type": "macvlan", "mode": "bridge",
                 "master": f"np-bmb{tag}", "ipam": ipam("192.0.2.128/25")},
        "br-b": {"cniVersion": "1.0.0", "name": "br-b", "type": "bridge",
                 "bridge": f"np-bbb{tag}", "ipam": ipam("203.0.113.128/25")},
    }


def create_nad(api: Api, name: str, config: dict[str, Any]) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"config": json.dumps(config)}}
    retry(f"NAD {name}", lambda: api.request(
        "POST", f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}", body))


def pod_body(name: str, networks: list[str], node_name: str) -> dict[str, Any]:
    """A pod selecting ``networks``, pinned to node ``node_name``."""
    selection = [{"name": n, "interface": f"net{i + 1}"} for i, n in enumerate(networks)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "annotations": {NETWORKS_ANNOTATION: json.dumps(selection)}},
            "spec": {"automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 0,
                     "nodeSelector": {"kubernetes.io/hostname": node_name},
                     "containers": [{"name": "c", "image": TOOLBOX_IMAGE,
                                     "command": ["sleep", "86400"]}]}}


# --------------------------------------------------------------------------- the run


@dataclass
class Bench:
    api: Api
    watcher: Watcher
    timeout: float
    node_name: str
    """Every pod runs there."""
    uids: set[str] = field(default_factory=set)

    def create(self, name: str, networks: list[str]) -> None:
        with self.watcher.cond:
            self.watcher.pods[name] = Timing(created=time.monotonic())
        pod = self.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods",
                               pod_body(name, networks, self.node_name))
        uid = str(pod["metadata"]["uid"])
        self.uids.add(uid)
        with self.watcher.cond:
            self.watcher.pods[name].uid = uid

    def wait_ready(self, name: str, deadline: float) -> Timing:
        with self.watcher.cond:
            t = self.watcher.pods[name]
            while t.ready is None or t.status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    events = "; ".join(pod_events(self.api, NAMESPACE, name)[-3:]) or "no events"
                    raise BenchError(f"pod {name} not Ready with network-status within "
                                     f"{self.timeout:.0f}s ({events})")
                self.watcher.cond.wait(min(left, 1.0))
        return t

    def batch(self, prefix: str, networks: list[str], count: int,
              concurrency: int) -> list[Timing]:
        names = [f"{prefix}-{i}" for i in range(count)]
        done: list[Timing] = []
        in_flight: list[str] = []
        pending = list(names)
        try:
            while pending or in_flight:
                while pending and len(in_flight) < concurrency:
                    name = pending.pop(0)
                    self.create(name, networks)
                    in_flight.append(name)
                name = in_flight.pop(0)
                done.append(self.wait_ready(name, time.monotonic() + self.timeout))
        finally:
            self.delete(names)
        return done

    def delete(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(ApiError):
                self.api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")

        def gone() -> bool:
            left = self.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            return not any(p["metadata"]["name"] in names for p in left)

        wait_for(f"the deleted pods {names} to go", gone, max(60.0, 2.0 * len(names)), 0.2,
                 retry=(), error=BenchError)


def fmt_ms(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    return (f"{statistics.median(values) * 1000:.0f}", f"{nearest_rank(values, 0.95) * 1000:.0f}")


def run(args: argparse.Namespace) -> int:
    tag = secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix="np-attach-bench-"))
    nads = nad_configs(tag, tmp / "ipam")
    links = [li for conf in nads.values() for li in underlay.links_for_nad(conf)]
    here: Node | None = None
    bench: Bench | None = None
    watcher: Watcher | None = None
    made: list[str] = []
    results: dict[int, list[Timing]] = {}
    pinned = args.node or ""
    t_start = time.monotonic()
    try:
        here = bring_up(say)
        pinned = (node.by_name(here.layout, args.node) if args.node
                  else node.running(here.layout)[0]).name
        say(f"[bench] every pod on node {pinned}")
        api = Api(here.kubeconfig)
        create_namespace(api)
        for name, conf in nads.items():
            create_nad(api, name, conf)
        # on every node, joined (as for any NAD), so the first timed pod does not pay for them
        made = node.ensure_underlay(here.layout, links)
        watcher = Watcher(Api(here.kubeconfig))
        watcher.start()
        bench = Bench(api, watcher, args.timeout, pinned)
        order = list(nads)
        bench.batch("warmup", order, 1, 1)
        for k in COUNTS:
            say(f"[bench] {args.pods} pods x {k} secondary network(s) ...")
            results[k] = bench.batch(f"n{k}", order[:k], args.pods, args.concurrency)
    except (BenchError, cluster.ClusterError, ApiError, underlay.UnderlayError) as e:
        print(f"attach_latency: {e}", file=sys.stderr)
        return 1
    finally:
        if watcher is not None:
            watcher.stop.set()
        leftover = cleanup(bench, here, made)
        if leftover:
            print(f"attach_latency: cleanup problems: {'; '.join(leftover)}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results, args, pinned, time.monotonic() - t_start)
    return 0


def cleanup(bench: Bench | None, here: Node | None, links: list[str]) -> list[str]:
    """The namespace (pods, NADs), the links this run made, and whatever it started."""
    problems: list[str] = []
    if bench is not None:
        try:
            left = bench.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            if left:
                bench.delete([p["metadata"]["name"] for p in left])
            bench.api.delete(f"/api/v1/namespaces/{NAMESPACE}")
            nodes = node.running(here.layout) if here is not None else []
            with contextlib.suppress(TimeoutError):  # what is left after 2 minutes stays
                # the kubelet removes stopped sandboxes once a minute
                wait_for("the bench's sandboxes to go", lambda: not any(
                    cri.sandboxes(n.ns, namespace=NAMESPACE) for n in nodes), 120, 2, retry=())
        except Exception as e:
            problems.append(f"deleting pods: {e}")
    try:
        if here is not None and links:
            node.remove_underlay(here.layout, links)
    except Exception as e:
        problems.append(f"removing links {links}: {e}")
    if here is not None:
        problems += take_down(here)
    return problems


def print_table(results: dict[int, list[Timing]], args: argparse.Namespace, node_name: str,
                elapsed: float) -> None:
    print(f"\nAttach latency, real node {node_name} (kubelet, containerd, Multus thick), "
          f"{args.pods} pods per row, concurrency {args.concurrency} (ms; p95 nearest-rank)")
    head = (f"{'networks':>8} {'pods':>5} {'bound->status med':>18} {'p95':>6} "
            f"{'bound->Ready med':>17} {'p95':>6} {'create->bound med':>18}")
    print(head)
    print("-" * len(head))
    for k, ts in results.items():
        st = [t.status - t.bound for t in ts if t.status is not None and t.bound is not None]
        rd = [t.ready - t.bound for t in ts if t.ready is not None and t.bound is not None]
        sched = [t.bound - t.created for t in ts if t.bound is not None]
        s_med, s_p95 = fmt_ms(st)
        r_med, r_p95 = fmt_ms(rd)
        c_med, _ = fmt_ms(sched)
        print(f"{k:>8} {len(st):>5} {s_med:>18} {s_p95:>6} {r_med:>17} {r_p95:>6} "
              f"{c_med:>18}")
    print(f"(total run {elapsed:.0f}s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=20, help="pods per network count (default 20)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="pods in flight at once (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds one pod may take to be Ready (default 60)")
    ap.add_argument("--node", default=None,
                    help="the node every pod runs on (default: the cluster's first node)")
    args = ap.parse_args(argv)
    if not 1 <= args.pods <= MAX_PODS:
        ap.error(f"--pods must be 1..{MAX_PODS}")
    if not 1 <= args.concurrency <= args.pods:
        ap.error("--concurrency must be 1..--pods")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
