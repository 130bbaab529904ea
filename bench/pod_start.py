"""Pod start-up on the real nodes: what secondary networks add to it, one pod at a time and in
a burst.

Pods select 0, 1, 2 or 4 secondary networks (macvlan and bridge NADs on ``np-`` underlay
links, host-local IPAM in a shared temp dir). Two phases, in one run:

* **interleaved**: ``--pods`` pods per network count, created one at a time by default
  (``--concurrency``) in rounds of one pod per count, the order of the counts rotating every
  round, so that drift over the run (a warming node, another job) falls on every count alike;
* **burst**: ``--burst`` pods per node, their counts mixed the same way, all created at once
  (``--burst-nodes``: every node by default, each pod pinned to its node), as after a node
  restart; each node's figures are its own.

For every pod it stamps create (this process's monotonic clock just before the POST) and,
from a pod watch, the first event with the ``k8s.v1.cni.cncf.io/network-status`` annotation
and the first with condition Ready=True. It prints create->Ready and create->network-status
(median, p95 nearest-rank) per network count, each also as a ratio to the 0-network pods of
the same phase and node (the median to their median, the p95 to their p95), and for a burst
the time from its first create to its last pod Ready. Multus thick writes network-status for
every pod it serves, the cluster network's entry included, so 0-network pods have one too.

Run (root; the tool cache built by ``make tools``):

    .venv/bin/python bench/pod_start.py [--pods 12] [--concurrency 1] [--burst 40]
                                        [--burst-nodes worker-1,worker-2] [--node worker-1]
                                        [--timeout 120]

It uses the embedded cluster and its pod network (Flannel + Multus thick, as the ``platform``
stack installs them): with ``make run``'s cluster up it measures there, touching only its own
namespace, NADs and links; with no cluster running it starts one, brings the platform stack up
as ``make run`` does, and takes the cluster down afterwards, also on failure. The interleaved
pods run on one node (``--node``, default the first) and stay until their phase ends, so the
node must have room for all of them (``--pods`` x 4). A burst larger than what a node has
room for (its allocatable pods minus the pods it runs) is cut to fit, and says so. The nodes
share the machine's cores: run it under the machine lock. Afterwards every pod, NAD, the
namespace and every link it made are deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
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
NAMESPACE = "pod-start-bench"
COUNTS = (0, 1, 2, 4)
POOL_SIZE = 510
"""Addresses of each NAD's pool (a /23): every pod of the run may hold one at once."""
CREATE_THREADS = 16
"""POSTs in flight at once when a burst is created."""


# --------------------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    """The cluster measured on, and whether this run started it (to take it down again)."""

    kubeconfig: Path
    started: bool
    layout: cluster.Layout


def bring_up() -> Cluster:
    """The running embedded cluster with its pod network, or one started for this run; the
    network is the ``platform`` stack's, brought up as ``make run`` does if it is missing."""
    reason = node.why_not()
    if reason:
        raise BenchError(reason)
    info = cluster.up(progress=lambda m: say(f"[cluster] {m}"))
    if not info.node:
        raise BenchError("the embedded cluster runs without its nodes")
    here = Cluster(info.kubeconfig, started=not info.reused,
                   layout=cluster.layout(info.cluster_dir))
    api = Api(info.kubeconfig)
    if not podnetwork.installed(api):
        say("[bench] bringing up the platform stack (Flannel + Multus thick)")
        engine.up(engine.stack("platform", kubeconfig=info.kubeconfig), pulumi_backend_dir())
    podnetwork.wait_ready(api, 180, error=BenchError)
    return here


def room_on(api: Api, node_name: str) -> int:
    """How many more pods ``node_name`` takes: its allocatable pods minus the pods bound to
    it that have not finished."""
    status = api.get(f"/api/v1/nodes/{node_name}").get("status") or {}
    allocatable = int((status.get("allocatable") or {}).get("pods", "110"))
    pods = api.get("/api/v1/pods", {"fieldSelector": f"spec.nodeName={node_name}"})
    live = [p for p in pods.get("items") or []
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    return max(0, allocatable - len(live))


# --------------------------------------------------------------------------- pod watch


@dataclass
class Stamp:
    """One pod's times (monotonic seconds) and what it is."""

    name: str
    networks: int
    node: str
    created: float = 0.0
    uid: str = ""
    status: float | None = None
    ready: float | None = None

    @property
    def to_ready(self) -> float | None:
        return None if self.ready is None else self.ready - self.created

    @property
    def to_status(self) -> float | None:
        return None if self.status is None else self.status - self.created


@dataclass
class Watcher:
    """Stamps the events of the pods in :data:`NAMESPACE` (a daemon thread)."""

    api: Api
    stop: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)
    pods: dict[str, Stamp] = field(default_factory=dict)
    started: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="pod-watch", daemon=True).start()
        if not self.started.wait(30):
            raise BenchError("the pod watch did not start within 30s")

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        rv: str | None = None
        failures = 0
        while not self.stop.is_set() and failures < 20:
            try:
                if rv is None:
                    rv = str(self.api.get(path)["metadata"]["resourceVersion"])
                self.started.set()
                query = {"resourceVersion": rv, "allowWatchBookmarks": "true",
                         "timeoutSeconds": "30"}
                for ev in self.api.watch(path, query, self.stop):
                    now = time.monotonic()
                    if ev.get("type") == "ERROR":
                        rv = None
                        break
                    obj = ev.get("object") or {}
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        self._stamp(obj, now)
                failures = 0
            except Exception:  # reconnect, a bounded number of times
                failures += 1
                self.stop.wait(0.5)

    def _stamp(self, pod: dict[str, Any], now: float) -> None:
        meta = pod.get("metadata") or {}
        with self.cond:
            s = self.pods.get(str(meta.get("name")))
            if s is None or (s.uid and s.uid != meta.get("uid")):
                return
            if s.status is None and STATUS_ANNOTATION in (meta.get("annotations") or {}):
                s.status = now
            conditions = (pod.get("status") or {}).get("conditions") or []
            if s.ready is None and any(c.get("type") == "Ready" and c.get("status") == "True"
                                       for c in conditions):
                s.ready = now
            self.cond.notify_all()


# --------------------------------------------------------------------------- API objects


def nad_configs(tag: str, ipam_dir: Path) -> dict[str, dict[str, Any]]:
    """Four NADs, macvlan and bridge twice, each on its own ``np-`` link and /23 pool (in
    198.19.0.0/16, of the benchmarking range 198.18.0.0/15)."""
    def ipam(subnet: str) -> dict[str, Any]:
        return {"type": "host-local", "dataDir": str(ipam_dir),
                "ranges": [[{"subnet": subnet}]]}

    return {
        "ps-mv-a": {"cniVersion": "1.0.0", "name": "ps-mv-a", "type": "macvlan",
                    "mode": "bridge", "master": f"np-psa{tag}", "ipam": ipam("198.19.0.0/23")},
        "ps-br-a": {"cniVersion": "1.0.0", "name": "ps-br-a", "type": "bridge",
                    "bridge": f"np-psb{tag}", "ipam": ipam("198.19.2.0/23")},
        "ps-mv-b": {"cniVersion": "1.0.0", "name": "ps-mv-b", "type": "macvlan",
                    "mode": "bridge", "master": f"np-psc{tag}", "ipam": ipam("198.19.4.0/23")},
        "ps-br-b": {"cniVersion": "1.0.0", "name": "ps-br-b", "type": "bridge",
                    "bridge": f"np-psd{tag}", "ipam": ipam("198.19.6.0/23")},
    }


def create_objects(api: Api, nads: dict[str, dict[str, Any]]) -> None:
    """The namespace (with its default ServiceAccount) and the NADs."""
    retry("namespace", lambda: api.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    retry("default ServiceAccount",
           lambda: api.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"))
    path = f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{NAMESPACE}/{NAD_PLURAL}"
    for name, config in nads.items():
        body = {"apiVersion": f"{NAD_GROUP}/{NAD_VERSION}",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {"config": json.dumps(config)}}
        retry(f"NAD {name}", functools.partial(api.request, "POST", path, body))


def pod_body(name: str, networks: list[str], node_name: str) -> dict[str, Any]:
    """A pod pinned to ``node_name`` selecting ``networks`` (none: no annotation at all)."""
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if networks:
        selection = [{"name": n, "interface": f"net{i + 1}"} for i, n in enumerate(networks)]
        meta["annotations"] = {NETWORKS_ANNOTATION: json.dumps(selection)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 0,
                     "nodeSelector": {"kubernetes.io/hostname": node_name},
                     "containers": [{"name": "c", "image": TOOLBOX_IMAGE,
                                     "command": ["sleep", "86400"]}]}}


# --------------------------------------------------------------------------- the run


def mixed(count: int, rotate: bool) -> list[int]:
    """``count`` network counts in rounds of :data:`COUNTS`; with ``rotate`` each round
    starts one count later than the one before."""
    out: list[int] = []
    r = 0
    while len(out) < count:
        shift = r % len(COUNTS) if rotate else 0
        out += list(COUNTS[shift:] + COUNTS[:shift])
        r += 1
    return out[:count]


@dataclass
class Bench:
    api: Api
    watcher: Watcher
    networks: list[str]
    """The NADs, in the order pods select them (a pod with k networks takes the first k)."""
    timeout: float
    made: list[str] = field(default_factory=list)

    def create(self, name: str, k: int, node_name: str) -> Stamp:
        stamp = Stamp(name, k, node_name)
        with self.watcher.cond:
            self.watcher.pods[name] = stamp
            stamp.created = time.monotonic()
        pod = self.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods",
                               pod_body(name, self.networks[:k], node_name))
        with self.watcher.cond:
            stamp.uid = str(pod["metadata"]["uid"])
            self.made.append(name)
        return stamp

    def wait(self, stamp: Stamp, deadline: float) -> None:
        """Until the pod is Ready and carries network-status (or the deadline)."""
        with self.watcher.cond:
            while stamp.ready is None or stamp.status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    events = "; ".join(
                        pod_events(self.api, NAMESPACE, stamp.name)[-3:]) or "no events"
                    raise BenchError(f"pod {stamp.name} not Ready with network-status within "
                                     f"{self.timeout:.0f}s ({events})")
                self.watcher.cond.wait(min(left, 1.0))

    def interleaved(self, node_name: str, pods: int, concurrency: int) -> list[Stamp]:
        """``pods`` pods per network count, ``concurrency`` in flight, counts interleaved."""
        order = mixed(pods * len(COUNTS), rotate=True)
        done: list[Stamp] = []
        in_flight: list[Stamp] = []
        for i, k in enumerate(order):
            while len(in_flight) >= concurrency:
                first = in_flight.pop(0)
                self.wait(first, first.created + self.timeout)
                done.append(first)
            in_flight.append(self.create(f"i{i:04d}-n{k}", k, node_name))
        for stamp in in_flight:
            self.wait(stamp, stamp.created + self.timeout)
            done.append(stamp)
        self.delete([s.name for s in done])
        return done

    def burst(self, per_node: dict[str, int]) -> tuple[list[Stamp], float]:
        """Every node's pods created at once; the stamps and when the burst began."""
        plan = [(f"b-{n}-{i:03d}-n{k}", k, n)
                for n, count in per_node.items() for i, k in enumerate(mixed(count, True))]
        began = time.monotonic()
        with ThreadPoolExecutor(CREATE_THREADS) as pool:
            stamps = list(pool.map(lambda p: self.create(*p), plan))
        deadline = time.monotonic() + self.timeout
        for stamp in stamps:
            self.wait(stamp, deadline)
        self.delete([s.name for s in stamps])
        return stamps, began

    def delete(self, names: Iterable[str]) -> None:
        wanted = set(names)
        for name in wanted:
            with contextlib.suppress(ApiError):
                self.api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")

        def gone() -> bool:
            left = self.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            return not wanted & {str(p["metadata"]["name"]) for p in left}

        wait_for(f"{len(wanted)} deleted pods to go", gone, max(60.0, 1.0 * len(wanted)), 0.5,
                 retry=(), error=BenchError)


def cleanup(bench: Bench | None, here: Cluster | None, links: list[str]) -> list[str]:
    """The namespace (pods, NADs), the links this run made, and the cluster it started."""
    problems: list[str] = []
    if bench is not None:
        try:
            left = bench.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            if left:
                bench.delete(str(p["metadata"]["name"]) for p in left)
            bench.api.delete(f"/api/v1/namespaces/{NAMESPACE}")
            nodes = node.running(here.layout) if here is not None else []
            with contextlib.suppress(TimeoutError):  # what is left after 2 minutes stays
                # the kubelet removes stopped sandboxes once a minute
                wait_for("the bench's sandboxes to go", lambda: not any(
                    cri.sandboxes(n.ns, namespace=NAMESPACE) for n in nodes), 120, 2, retry=())
        except Exception as e:
            problems.append(f"deleting the pods: {e}")
    try:
        if here is not None and links:
            node.remove_underlay(here.layout, links)
    except Exception as e:
        problems.append(f"removing links {links}: {e}")
    if here is not None and here.started:
        try:
            cluster.down()
        except Exception as e:
            problems.append(f"cluster down: {e}")
    return problems


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Figure:
    """Median and p95 of one measure of one group of pods (None where no pod had it)."""

    median: float | None
    p95: float | None

    @classmethod
    def of(cls, values: list[float]) -> Figure:
        if not values:
            return cls(None, None)
        return cls(statistics.median(values), nearest_rank(values, 0.95))


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def _ratio(v: float | None, base: float | None) -> str:
    return "-" if v is None or not base else f"{v / base:.2f}x"


def table(title: str, stamps: list[Stamp]) -> list[str]:
    """One table: per network count, create->Ready and create->network-status (ms, median
    and p95), each with its ratio to the 0-network pods'."""
    figures: dict[int, tuple[Figure, Figure, int]] = {}
    for k in COUNTS:
        group = [s for s in stamps if s.networks == k]
        figures[k] = (Figure.of([v for s in group if (v := s.to_ready) is not None]),
                      Figure.of([v for s in group if (v := s.to_status) is not None]),
                      len(group))
    ready0, status0, _ = figures[0]
    head = (f"{'networks':>8} {'pods':>5} | {'->Ready med':>11} {'p95':>6} {'x0 med':>7} "
            f"{'x0 p95':>7} | {'->status med':>12} {'p95':>6} {'x0 med':>7} {'x0 p95':>7}")
    lines = [title, head, "-" * len(head)]
    for k, (ready, status, n) in figures.items():
        lines.append(
            f"{k:>8} {n:>5} | {_ms(ready.median):>11} {_ms(ready.p95):>6} "
            f"{_ratio(ready.median, ready0.median):>7} {_ratio(ready.p95, ready0.p95):>7} | "
            f"{_ms(status.median):>12} {_ms(status.p95):>6} "
            f"{_ratio(status.median, status0.median):>7} {_ratio(status.p95, status0.p95):>7}")
    return lines


def report(interleaved: list[Stamp], burst: list[Stamp], began: float,
           args: argparse.Namespace, node_name: str, elapsed: float) -> str:
    lines: list[str] = []
    if interleaved:
        lines += table(f"\nInterleaved on {node_name}: {args.pods} pods per count, "
                       f"concurrency {args.concurrency} (ms from create; p95 nearest-rank; "
                       "x0: ratio to the 0-network pods)", interleaved)
    nodes = sorted({s.node for s in burst})
    beside = " (with the other nodes' bursts)" if len(nodes) > 1 else ""
    for n in nodes:
        mine = [s for s in burst if s.node == n]
        last = max((s.ready for s in mine if s.ready is not None), default=None)
        until = "-" if last is None else f"{last - began:.1f} s"
        lines += table(f"\nBurst on {n}: {len(mine)} pods created at once{beside}; first "
                       f"create to last pod Ready: {until}", mine)
    lines.append(f"(total run {elapsed:.0f}s)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def burst_sizes(api: Api, here: Cluster, args: argparse.Namespace) -> dict[str, int]:
    """Pods per node for the burst: ``--burst`` on each of ``--burst-nodes``, cut to the
    room each node has."""
    if args.burst == 0:
        return {}
    names = ([node.by_name(here.layout, n).name for n in args.burst_nodes.split(",")]
             if args.burst_nodes else [n.name for n in node.running(here.layout)])
    sizes: dict[str, int] = {}
    for name in names:
        room = room_on(api, name)
        if room < args.burst:
            say(f"[bench] node {name} has room for {room} more pods: its burst is {room}")
        sizes[name] = min(args.burst, room)
    total = sum(sizes.values())
    if total > POOL_SIZE:
        raise BenchError(f"a burst of {total} pods overflows the NAD pools ({POOL_SIZE})")
    return sizes


def run(args: argparse.Namespace) -> int:
    tag = secrets.token_hex(3)
    tmp = Path(tempfile.mkdtemp(prefix="np-pod-start-"))
    nads = nad_configs(tag, tmp / "ipam")
    links = [li for conf in nads.values() for li in underlay.links_for_nad(conf)]
    here: Cluster | None = None
    bench: Bench | None = None
    watcher: Watcher | None = None
    made: list[str] = []
    interleaved: list[Stamp] = []
    burst: list[Stamp] = []
    began = 0.0
    pinned = args.node or ""
    t0 = time.monotonic()
    try:
        here = bring_up()
        pinned = (node.by_name(here.layout, args.node) if args.node
                  else node.running(here.layout)[0]).name
        api = Api(here.kubeconfig)
        create_objects(api, nads)
        # on every node, joined as for any NAD, so that no timed pod pays for them
        made = node.ensure_underlay(here.layout, links)
        watcher = Watcher(Api(here.kubeconfig))
        watcher.start()
        bench = Bench(api, watcher, list(nads), args.timeout)
        say("[bench] one untimed warm-up pod with 4 networks")
        warm = bench.create("warmup", 4, pinned)
        bench.wait(warm, warm.created + args.timeout)
        bench.delete(["warmup"])
        if args.pods:
            # the interleaved pods stay until the phase ends: the node must take them all
            room = room_on(api, pinned)
            if args.pods * len(COUNTS) > room:
                raise BenchError(f"node {pinned} has room for {room} more pods, fewer than "
                                 f"--pods x {len(COUNTS)} = {args.pods * len(COUNTS)}")
            say(f"[bench] interleaved: {args.pods} pods x {len(COUNTS)} counts on {pinned}")
            interleaved = bench.interleaved(pinned, args.pods, args.concurrency)
        sizes = burst_sizes(api, here, args)
        if sizes:
            say(f"[bench] burst: {sizes}")
            burst, began = bench.burst(sizes)
    except (BenchError, cluster.ClusterError, ApiError, underlay.UnderlayError) as e:
        print(f"pod_start: {e}", file=sys.stderr)
        return 1
    finally:
        if watcher is not None:
            watcher.stop.set()
        problems = cleanup(bench, here, made)
        if problems:
            print(f"pod_start: cleanup problems: {'; '.join(problems)}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(interleaved, burst, began, args, pinned, time.monotonic() - t0))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=12,
                    help="interleaved pods per network count (default 12: 48 pods, which a "
                         "node of the embedded cluster, 64 pods at most, takes beside the "
                         "platform's; 0: no interleaved phase)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="interleaved pods in flight at once (default 1)")
    ap.add_argument("--burst", type=int, default=40,
                    help="burst pods per node (default 40; 0: no burst)")
    ap.add_argument("--burst-nodes", default="",
                    help="comma-separated nodes of the burst (default: every node)")
    ap.add_argument("--node", default=None,
                    help="the node of the interleaved pods (default: the first)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds a pod, or a burst after its last create, may take to be "
                         "Ready (default 120)")
    args = ap.parse_args(argv)
    if not 0 <= args.pods * len(COUNTS) <= POOL_SIZE:
        ap.error(f"--pods must be 0..{POOL_SIZE // len(COUNTS)}")
    if not 1 <= args.concurrency <= max(1, args.pods * len(COUNTS)):
        ap.error("--concurrency must be 1..(--pods x 4)")
    if not 0 <= args.burst <= POOL_SIZE:
        ap.error(f"--burst must be 0..{POOL_SIZE}")
    if args.pods == 0 and args.burst == 0:
        ap.error("nothing to measure: --pods and --burst are both 0")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
