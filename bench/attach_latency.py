"""Attach latency on the embedded node: from a pod being bound to its Node to Multus having
written the ``k8s.v1.cni.cncf.io/network-status`` annotation, for pods with 1, 2 and 4
secondary networks (macvlan and bridge NADs on ``np-`` underlay links, host-local IPAM).

Run (root; the tool cache built by ``make tools``):

    .venv/bin/python bench/attach_latency.py [--pods 20] [--concurrency 1] [--timeout 60]

It starts a PRIVATE embedded cluster (its own directory under a temp dir, node agent with the
Multus pod network), measures, deletes every pod, NAD and link it made, and stops the cluster,
also on failure. Two Multus node agents on one host clash (the cluster bridge ``np-cluster0``
and the garbage collection of ``np-<12 hex>`` namespaces), so it refuses to start while another
one runs or while pod namespaces of someone else exist.

Timestamps are this process's monotonic clock at the arrival of pod watch events: "bound" is
the first event with ``spec.nodeName`` set, "network-status" the first with the annotation,
"Ready" the first with condition Ready=True. Pods are created ``--concurrency`` at a time
(default 1: each pod alone on the node, so the figure is the per-pod cost, without queueing).
p95 is the nearest-rank percentile. One untimed warm-up pod with 4 networks runs first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
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

from harness import cluster, podnet, underlay
from harness.node import Api, ApiError
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION, nad_crd

STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
GROUP, VERSION, PLURAL = NAD_GROUP, NAD_VERSION, NAD_PLURAL
CRD_NAME = f"{PLURAL}.{GROUP}"
NAMESPACE = "attach-bench"
COUNTS = (1, 2, 4)
MAX_PODS = 100  # each NAD pool below is a /25 (126 addresses); pods of one batch coexist
NAD_CRD: dict[str, Any] = nad_crd()  # netplumb's own CRD, as its stacks install it


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- preconditions


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep:
            out[key] = value
    return out


def multus_agents() -> list[str]:
    """Running node agents (any cluster directory) whose pod network is not ``null``."""
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        args = cluster.process_cmdline(int(entry.name))
        if "harness.node" not in args:
            continue
        podnets = [a.split("=", 1)[1] for a in args if a.startswith("--podnet=")]
        chosen = podnets[-1] if podnets else _environ(int(entry.name)).get("NETPLUMB_PODNET",
                                                                            "null")
        if chosen != "null":
            found.append(f"pid {entry.name} (--podnet={chosen}): {' '.join(args)[:200]}")
    return found


def refuse_reason() -> str | None:
    """Why this benchmark must not start now, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, host links)"
    info = cluster.status()
    if info.ready:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads((info.cluster_dir / "cluster.json").read_text())
            if state.get("podnet", "null") != "null":
                return (f"the project's embedded cluster at {info.cluster_dir} runs the "
                        f"{state['podnet']!r} pod network; stop it (or restart it with "
                        "podnet null) first")
    agents = multus_agents()
    if agents:
        return ("another node agent with a Multus pod network is running (it would clash on "
                "np-cluster0 and the np-<12 hex> namespace gc):\n  " + "\n  ".join(agents))
    others = podnet.list_pod_netns()
    if others:
        return (f"pod network namespaces of someone else exist ({', '.join(others[:5])}"
                f"{' ...' if len(others) > 5 else ''}); the private node agent's gc would "
                "remove them")
    return None


# --------------------------------------------------------------------------- pod watch


@dataclass
class Timing:
    created: float = 0.0
    uid: str = ""
    bound: float | None = None
    status: float | None = None
    ready: float | None = None
    add_seconds: float | None = None


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


def _retry(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``fn()``, retried on API errors for up to ``timeout`` s (409 AlreadyExists is done)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ApiError as e:
            if e.status == 409:
                return None
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: {e}") from e
            time.sleep(0.3)


def install_crd(api: Api) -> None:
    _retry("NAD CRD", lambda: api.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NAD_CRD))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        conds = {c.get("type"): c.get("status")
                 for c in (crd.get("status") or {}).get("conditions") or []}
        if conds.get("Established") == "True":
            return
        time.sleep(0.2)
    raise BenchError("NAD CRD not Established within 30s")


def create_namespace(api: Api) -> None:
    _retry("namespace", lambda: api.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    _retry("default ServiceAccount",
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
    _retry(f"NAD {name}", lambda: api.request(
        "POST", f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}", body))


def pod_body(name: str, networks: list[str]) -> dict[str, Any]:
    selection = [{"name": n, "interface": f"net{i + 1}"} for i, n in enumerate(networks)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "annotations": {NETWORKS_ANNOTATION: json.dumps(selection)}},
            "spec": {"automountServiceAccountToken": False,
                     "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "registry.invalid/pause:1"}]}}


def pod_events(api: Api, name: str) -> list[str]:
    with contextlib.suppress(Exception):
        lst = api.get(f"/api/v1/namespaces/{NAMESPACE}/events",
                      {"fieldSelector": f"involvedObject.name={name}"})
        return [f"{e.get('reason')}: {e.get('message')}" for e in lst.get("items") or []]
    return []


# --------------------------------------------------------------------------- the run


@dataclass
class Bench:
    api: Api
    watcher: Watcher
    node_state: Path
    timeout: float
    uids: set[str] = field(default_factory=set)

    def create(self, name: str, networks: list[str]) -> None:
        with self.watcher.cond:
            self.watcher.pods[name] = Timing(created=time.monotonic())
        pod = self.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods",
                               pod_body(name, networks))
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
                    events = "; ".join(pod_events(self.api, name)[-3:]) or "no events"
                    raise BenchError(f"pod {name} not Ready with network-status within "
                                     f"{self.timeout:.0f}s ({events})")
                self.watcher.cond.wait(min(left, 1.0))
        rec = self.node_state / "sandboxes" / f"{t.uid}.json"
        with contextlib.suppress(OSError, ValueError, TypeError):
            t.add_seconds = float(json.loads(rec.read_text())["add_seconds"])
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
        deadline = time.monotonic() + max(60.0, 2.0 * len(names))
        while time.monotonic() < deadline:
            left = self.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            mine = [p for p in left if p["metadata"]["name"] in names]
            if not mine and not self.my_netns():
                return
            time.sleep(0.2)
        raise BenchError(f"pods/namespaces still there after deletion: {self.my_netns()}")

    def my_netns(self) -> list[str]:
        wanted = {podnet.netns_name(u) for u in self.uids}
        return [n for n in podnet.list_netns() if n in wanted]


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt_ms(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    return (f"{statistics.median(values) * 1000:.0f}", f"{nearest_rank(values, 0.95) * 1000:.0f}")


def run(args: argparse.Namespace) -> int:
    reason = refuse_reason()
    if reason:
        print(f"attach_latency: refusing to run: {reason}", file=sys.stderr)
        return 2
    tag = secrets.token_hex(3)
    bridge_existed = podnet.CLUSTER_BRIDGE in underlay.host_links()
    tmp = Path(tempfile.mkdtemp(prefix="np-attach-bench-"))
    cdir = tmp / "cluster"
    nads = nad_configs(tag, tmp / "ipam")
    links = [li for conf in nads.values() for li in underlay.links_for_nad(conf)]
    bench: Bench | None = None
    watcher: Watcher | None = None
    results: dict[int, list[Timing]] = {}
    t_start = time.monotonic()
    try:
        info = cluster.up(cluster_dir=cdir, podnet="multus",
                          progress=lambda m: print(f"[cluster] {m}", file=sys.stderr))
        print(f"[bench] private cluster up in {info.elapsed:.1f}s ({info.version})",
              file=sys.stderr)
        api = Api(info.kubeconfig)
        install_crd(api)
        create_namespace(api)
        for name, conf in nads.items():
            create_nad(api, name, conf)
        underlay.ensure_underlay(links)  # so the first timed pod does not pay for them
        watcher = Watcher(Api(info.kubeconfig))
        watcher.start()
        bench = Bench(api, watcher, cdir / "node" / cluster.NODE_NAME, args.timeout)
        order = list(nads)
        bench.batch("warmup", order, 1, 1)
        for k in COUNTS:
            print(f"[bench] {args.pods} pods x {k} secondary network(s) ...", file=sys.stderr)
            results[k] = bench.batch(f"n{k}", order[:k], args.pods, args.concurrency)
    except (BenchError, cluster.ClusterError, ApiError, underlay.UnderlayError) as e:
        print(f"attach_latency: {e}", file=sys.stderr)
        return 1
    finally:
        if watcher is not None:
            watcher.stop.set()
        leftover = cleanup(bench, cdir, links, bridge_existed)
        if leftover:
            print(f"attach_latency: cleanup problems: {'; '.join(leftover)}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results, args, time.monotonic() - t_start)
    return 0


def cleanup(bench: Bench | None, cdir: Path, links: list[underlay.Link],
            bridge_existed: bool) -> list[str]:
    """Pods/NADs go with the private cluster; then leftover namespaces and links go."""
    problems: list[str] = []
    if bench is not None:
        try:
            left = bench.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods").get("items") or []
            if left:
                bench.delete([p["metadata"]["name"] for p in left])
            with contextlib.suppress(ApiError):
                bench.api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")
        except Exception as e:
            problems.append(f"deleting pods: {e}")
    try:
        cluster.down(cluster_dir=cdir)
    except Exception as e:
        problems.append(f"cluster down: {e}")
    if bench is not None:
        for ns in bench.my_netns():  # only if the agent did not get to tear them down
            with contextlib.suppress(Exception):
                podnet.delete_netns(ns)
                problems.append(f"removed leftover namespace {ns}")
    names = [li.name for li in links]
    if not bridge_existed and not multus_agents():
        names.append(podnet.CLUSTER_BRIDGE)
    try:
        underlay.remove_underlay(names)
    except Exception as e:
        problems.append(f"removing links {names}: {e}")
    return problems


def print_table(results: dict[int, list[Timing]], args: argparse.Namespace,
                elapsed: float) -> None:
    print(f"\nAttach latency, embedded node with real Multus, {args.pods} pods per row, "
          f"concurrency {args.concurrency} (ms; p95 nearest-rank)")
    head = (f"{'networks':>8} {'pods':>5} {'bound->status med':>18} {'p95':>6} "
            f"{'bound->Ready med':>17} {'p95':>6} {'netns+ADD med':>15} {'p95':>6} "
            f"{'create->bound med':>18}")
    print(head)
    print("-" * len(head))
    for k, ts in results.items():
        st = [t.status - t.bound for t in ts if t.status is not None and t.bound is not None]
        rd = [t.ready - t.bound for t in ts if t.ready is not None and t.bound is not None]
        add = [t.add_seconds for t in ts if t.add_seconds is not None]
        sched = [t.bound - t.created for t in ts if t.bound is not None]
        s_med, s_p95 = fmt_ms(st)
        r_med, r_p95 = fmt_ms(rd)
        a_med, a_p95 = fmt_ms(add)
        c_med, _ = fmt_ms(sched)
        print(f"{k:>8} {len(st):>5} {s_med:>18} {s_p95:>6} {r_med:>17} {r_p95:>6} "
              f"{a_med:>15} {a_p95:>6} {c_med:>18}")
    print(f"(total run {elapsed:.0f}s incl. cluster start/stop)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=20, help="pods per network count (default 20)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="pods in flight at once (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds one pod may take to be Ready (default 60)")
    args = ap.parse_args(argv)
    if not 1 <= args.pods <= MAX_PODS:
        ap.error(f"--pods must be 1..{MAX_PODS}")
    if not 1 <= args.concurrency <= args.pods:
        ap.error("--concurrency must be 1..--pods")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
