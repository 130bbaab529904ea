"""Faults on a real node: the data path recovers and nothing leaks.

* the Multus daemon pod of a node is killed while pods churn on that node: the DaemonSet
  starts a new one there, pods created meanwhile attach once it is back, and nothing is left
  behind;
* the node's containerd and then its kubelet restart while pods run on it: the pods keep their
  sandboxes, interfaces and addresses, and still reach each other;
* ``pulumi up`` is SIGKILLed half way: ``make run``'s path converges with no manual step
  (netplumb clears the interrupted run's lock and pending operations).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from harness import cluster as embedded
from harness import datapath, engine, icmp, podnetwork
from harness import node as node_mod
from harness.cluster import Api, pod_ready, process_cmdline, wait_for
from harness.cluster.processes import children_of, kill
from harness.node import cri
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle, NodeHandle
from netplumb.args.nad import BridgeNetworkArgs
from netplumb.args.stack import CONFIG_KEY
from netplumb.hostpaths import CNI_CONF_DIR
from netplumb.render.node_plugin import GUARD_FILE
from tests.e2e.churn import Cycle, NodeState, cycle, sandboxes_left
from tests.e2e.nadspace import NadSpace, nad_namespace
from tests.e2e.nodemetrics import scrape

pytestmark = pytest.mark.e2e

BRIDGE = "np-faultb0"
HOSTNAME = "kubernetes.io/hostname"
GUARD_CONF = Path(CNI_CONF_DIR) / GUARD_FILE
"""The Multus guard the node plugin keeps on every node."""
GAP_STEP_TIMEOUT_S = 300.0
FREED = "netplumb_node_reconcile_freed_total"
RECONCILE_WITHIN_S = 150.0
"""How long the node plugin may take to free what a lost DEL left: the platform stack's
reconcile grace (60 s) and interval (20 s), from when the DEL was lost (during the churn),
with room for a loaded machine."""
"""A churned pod's step timeout in the Multus outage: a pod of the gap waits for the new
daemon (the shim's 60 s wait, then the kubelet's retry back-off) before it attaches."""
FAULT_NODE = "worker-2"
"""The node whose Multus pod, containerd and kubelet the tests take down, and where their pods
run (pinned with a ``kubernetes.io/hostname`` node selector): a fault on one node touches only
that node's pods, and fault-br's host-local range allocates per node. worker-2, as other
tests pin their pods to worker-1 and share the cluster."""


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    args = BridgeNetworkArgs.parse({"bridge": BRIDGE, "ipam": {
        "type": "host-local", "ranges": [[{"subnet": "203.0.113.0/24",
                                           "rangeStart": "203.0.113.100",
                                           "rangeEnd": "203.0.113.199"}]]}})
    with nad_namespace(pod_network, "faults") as s:
        s.create_nad("fault-br", args.cni_config("fault-br"))
        yield s


def _multus_pod(api: Api, node: str) -> Any:
    """The Multus daemon pod of ``node`` (None while there is not exactly one live one)."""
    ns, _ = podnetwork.MULTUS_DS
    pods = api.get(f"/api/v1/namespaces/{ns}/pods", {"labelSelector": "name=multus"})["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and (p.get("spec") or {}).get("nodeName") == node]
    return live[0] if len(live) == 1 else None


def test_multus_daemon_killed_during_churn(space: NadSpace, pod_network: NetworkHandle,
                                           figure: Callable[[str], None]) -> None:
    """The Multus pod of :data:`FAULT_NODE` is deleted (grace 0) while pods churn on that
    node: the DaemonSet starts a new one there, every pod attaches, none runs without its
    network, and no sandbox, network namespace or veth is left.

    On SIGTERM the Multus v4.3.0 thick daemon removes the config it wrote (its config manager
    does so on exit). The node plugin's Multus guard (``multus.fail_closed``, on by default;
    ``node/README.md``, multus-guard) then sends sandbox creation to the ``multus-shim``,
    which fails while the daemon is down: pods created in the gap wait and attach once the
    new daemon is back. Zero pods may run with the cluster network alone.

    ``multus-shim`` still answers DEL with success when the daemon is unreachable
    (``CmdDel``: "no error in DEL"), so a DEL in flight at the kill is lost: its IPAM
    reservations (Flannel's and the NAD's pool) and Multus cache entry stay. What is left
    is at most that, per operation in flight at the kill, and the node plugin's reconcile
    (``node_plugin.reconcile``: every 20 s, grace 60 s on the platform stack) frees all of
    it: the test waits for that and deletes nothing by hand (only if it fails, it removes
    what its pods left)."""
    nodes = pod_network.node
    api = nodes.cluster.api()
    # what the outage may leave is on the node whose Multus goes (all the churned pods run
    # there); other sessions' pods on the other node are not this test's
    before = NodeState.now([nodes.by_name(FAULT_NODE)])
    freed_before = scrape(nodes.by_name(FAULT_NODE))
    old = _multus_pod(api, FAULT_NODE)
    assert old is not None and pod_ready(old)
    # the guard the node plugin keeps, after Multus' own config in the runtime's order
    guard = json.loads(nodes.by_name(FAULT_NODE).path(GUARD_CONF).read_text())
    assert guard["type"] == "multus-shim" and "clusterNetwork" not in guard, guard
    cycles, lanes = 96, 4
    done: list[Cycle] = []
    lock = threading.Lock()

    def lane(k: int) -> None:
        lane_api = nodes.cluster.api()
        for i in range(k, cycles, lanes):
            # require_attach=False: a pod that runs without net1 is reported (and then
            # fails the test) instead of timing out; a pod of the gap waits for Multus,
            # hence the longer step timeout
            result = cycle(lane_api, "faults", f"kill-{i:03d}", "fault-br", GAP_STEP_TIMEOUT_S,
                           require_attach=False, node=FAULT_NODE)
            with lock:
                done.append(result)

    with ThreadPoolExecutor(lanes) as pool:
        futures = [pool.submit(lane, k) for k in range(lanes)]
        wait_for("a few cycles before the kill", lambda: len(done) >= 8, timeout=180)
        api.delete(f"/api/v1/namespaces/{old['metadata']['namespace']}/pods/"
                   f"{old['metadata']['name']}", {"gracePeriodSeconds": "0"})
        killed_at = len(done)
        new = wait_for("the DaemonSet's new Multus pod Ready",
                       lambda: (p := _multus_pod(api, FAULT_NODE)) and pod_ready(p)
                       and p["metadata"]["uid"] != old["metadata"]["uid"] and p, timeout=120)
        ready_at = time.monotonic()
        for f in futures:
            f.result()
    assert len(done) == cycles and killed_at < cycles
    after = [c for c in done if c.started > ready_at + 2]
    assert after, "no pod was created after the new Multus pod was Ready"
    unattached = [c for c in done if not c.attached]
    # pods whose life overlapped the outage: they waited for the new daemon
    during = [c for c in done if c.started <= ready_at and c.started + c.seconds > ready_at]
    leaks = before.leaks("faults", space.ipam_dirs, sandboxes=False)
    figure(f"Multus killed after {killed_at} cycles; new daemon {new['metadata']['name']} "
           f"Ready; {len(unattached)} pod(s) ran with the cluster network only; "
           f"{len(during)} pod(s) waited through the outage, life "
           f"{_seconds(during)} against {_seconds(after)} after it; left by the outage: "
           f"{leaks}")
    try:
        assert unattached == [], unattached
        for kind in ("netns", "veths"):  # sandboxes: see the late test below
            assert kind not in leaks, leaks
        assert len(leaks.get("flannel reservations", [])) <= lanes, leaks
        nad = sum(len(v) for v in leaks.get("NAD reservations", {}).values())
        assert nad <= lanes, leaks
        # a lost DEL leaves Multus' entry and libcni's cached results (results/<network>-
        # <sandbox>-<interface>, one per delegate): bound the sandboxes they belong to
        sandboxes = {m.group(0) for name in leaks.get("multus cache", [])
                     if (m := re.search(r"[0-9a-f]{64}", name))}
        assert len(sandboxes) <= lanes, leaks
        # the node plugin frees them: host-local reservations and Multus' cache entries of
        # sandboxes the runtime no longer has, once older than the grace
        # (it may have done so during the churn already: the kill comes early in it)
        t0 = time.monotonic()
        try:
            wait_for("the node plugin to free what the outage left",
                     lambda: not before.leaks("faults", space.ipam_dirs, sandboxes=False),
                     timeout=RECONCILE_WITHIN_S, interval=2)
        finally:
            left = before.leaks("faults", space.ipam_dirs, sandboxes=False)
            now = scrape(nodes.by_name(FAULT_NODE))
            freed = {kind: now.delta(freed_before, FREED, kind=kind)
                     for kind in ("host-local", "multus-cache")}
            figure(f"the node plugin's reconcile freed on {FAULT_NODE} during the test: "
                   f"{freed['host-local']:.0f} host-local reservation(s) and "
                   f"{freed['multus-cache']:.0f} Multus cache entr(y/ies); left "
                   f"{time.monotonic() - t0:.1f}s after the churn ended: {left}")
        assert left == {}, left
    except BaseException:
        _release(nodes, before.leaks("faults", space.ipam_dirs, sandboxes=False))
        raise


def _seconds(cycles: list[Cycle]) -> str:
    """Median and longest pod life (create to gone) of ``cycles``, for a figure."""
    if not cycles:
        return "none"
    lives = sorted(c.seconds for c in cycles)
    return f"median {lives[len(lives) // 2]:.1f} s, max {lives[-1]:.1f} s"


def _release(nodes: NodeHandle, leaks: dict[str, Any]) -> None:
    """Remove the reservation and cache files the outage left (this test's pods'), in the
    node's own directories (``worker-2:<file>`` entries of :class:`NodeState`)."""
    from tests.e2e.churn import FLANNEL_IPAM, MULTUS_CACHE, file_of

    for named in leaks.get("flannel reservations", []):
        file_of(nodes, FLANNEL_IPAM, named).unlink(missing_ok=True)
    for d, ips in leaks.get("NAD reservations", {}).items():
        for ip in ips:
            (Path(d) / ip).unlink(missing_ok=True)  # host paths of the node's directories
    for named in leaks.get("multus cache", []):
        file_of(nodes, MULTUS_CACHE, named).unlink(missing_ok=True)


def test_containerd_and_kubelet_restart_keep_pod_interfaces(
        space: NadSpace, pod_network: NetworkHandle) -> None:
    nodes = pod_network.node
    api = nodes.cluster.api()
    node = nodes.by_name(FAULT_NODE)
    names = ["steady-a", "steady-b"]
    for n in names:
        # both on the node that restarts (and one host-local allocator for their addresses)
        space.create_pod(n, [{"name": "fault-br", "interface": "net1"}],
                         nodeSelector={HOSTNAME: node.name})
    try:
        for n in names:
            _wait_ready(api, f"/api/v1/namespaces/faults/pods/{n}")
        before = {n: _pod_view(api, node, n) for n in names}
        ports = embedded.status(nodes.layout.root).ports
        assert ports is not None
        for component in ("containerd", "kubelet"):
            node_mod.restart(nodes.layout, node, ports, component, say=print)
            wait_for("the nodes Ready again", lambda: podnetwork.network_state(api).ready,
                     timeout=120)
            time.sleep(3)  # a kubelet sync after the restart
            after = {n: _pod_view(api, node, n) for n in names}
            assert after == before, component
        a, b = before["steady-a"], before["steady-b"]
        assert icmp.ping(a["netns"], b["net1"].split("/")[0], count=2, timeout=2.0) > 0
    finally:
        for n in names:
            api.delete(f"/api/v1/namespaces/faults/pods/{n}")
        for n in names:
            _wait_gone(api, f"/api/v1/namespaces/faults/pods/{n}")


def _wait_ready(api: Api, path: str) -> None:
    wait_for(f"{path} Running", lambda: pod_ready(api.get(path)), timeout=90)


def _wait_gone(api: Api, path: str) -> None:
    wait_for(f"{path} gone", lambda: api.get_or_none(path) is None, timeout=90)


def _pod_view(api: Api, node: node_mod.Node, name: str) -> dict[str, Any]:
    """What a restart must not change about a running pod on ``node``."""
    pod = api.get(f"/api/v1/namespaces/faults/pods/{name}")
    assert pod_ready(pod), pod["status"]
    assert pod["spec"]["nodeName"] == node.name, pod["spec"].get("nodeName")
    [sandbox] = [s for s in cri.sandboxes(node.ns, namespace="faults", name=name) if s.ready]
    netns = cri.pod_netns(node.ns, "faults", name, pod["metadata"]["uid"])
    mac, addrs = datapath.link_state(netns, "net1")
    return {"uid": pod["metadata"]["uid"], "sandbox": sandbox.id, "netns": netns,
            "net1": sorted(addrs)[0], "mac": mac, "podIP": pod["status"]["podIP"],
            "restarts": [c["restartCount"] for c in pod["status"]["containerStatuses"]]}


# --------------------------------------------------------------------------- pulumi up killed


def _crash_stack() -> str:
    """The dev stack's networks and pods (no ``multus``), in a namespace of their own."""
    doc = yaml.safe_load((REPO_ROOT / "stacks/Pulumi.dev.yaml").read_text())
    spec = doc["config"][CONFIG_KEY]
    spec.pop("multus", None)
    spec["install_nad_crd"] = False
    spec["guardrails"] = {"pod_security": [{"namespace": "crash", "enforce": "baseline",
                                            "create": True}],
                          # the network roles are cluster-wide: the platform's to declare
                          "rbac": None}
    # the namespace is cluster-wide and this stack made it: its destroy removes it
    spec["cluster_objects"] = {"on_destroy": "delete"}
    for item in spec["networks"] + spec["pods"]:
        item["namespace"] = "crash"
    return str(yaml.safe_dump(doc, sort_keys=False))


def _pulumi_children() -> list[int]:
    mine = children_of([os.getpid()])
    return [p for p in mine if (args := process_cmdline(p)) and Path(args[0]).name == "pulumi"
            and "up" in args]


def test_sigkilled_pulumi_up_then_make_run_converges(pod_network: NetworkHandle,
                                                      tmp_path: Path) -> None:
    from harness import run

    nodes = pod_network.node
    cluster = nodes.cluster
    project = engine.project_copy(tmp_path / "project", {"crash": _crash_stack()})
    backend = tmp_path / "backend"
    made = nodes.ensure_underlay(podnetwork.stack_links(project / "stacks/Pulumi.crash.yaml"))
    st = engine.stack("crash", work_dir=project, kubeconfig=cluster.kubeconfig, backend=backend)
    killed: list[int] = []
    stop = threading.Event()

    def watch(line: str) -> None:
        print("    " + line.rstrip(), flush=True)

    def kill_mid_create() -> None:
        """SIGKILL ``pulumi up`` once its checkpoint shows the pod set's create in flight
        (the engine records a pending operation before it calls the provider)."""
        while not stop.wait(0.02):
            for state in backend.glob(".pulumi/stacks/*/crash.json"):
                with contextlib.suppress(ValueError, OSError):
                    pending = json.loads(state.read_text())["checkpoint"]["latest"].get(
                        "pending_operations") or []
                    if any("-pods-" in op["resource"]["urn"] for op in pending):
                        for pid in _pulumi_children():
                            leftovers = children_of([pid])
                            os.kill(pid, signal.SIGKILL)
                            killed.append(pid)
                            with contextlib.suppress(Exception):
                                kill(leftovers, timeout=5.0)  # its plugins, orphaned
                        return

    killer = threading.Thread(target=kill_mid_create, daemon=True)
    killer.start()
    try:
        with pytest.raises(auto.CommandError):
            st.up(on_output=watch)
        stop.set()
        assert killed, "pulumi up was not killed half way"
        deployment = st.export_stack().deployment or {}
        assert deployment.get("pending_operations"), "the killed run left no pending operation"
        assert list(backend.glob(".pulumi/locks/*/*/crash/*.json")), "and no lock"
        code = run.main(["crash"], work_dir=project, backend=backend,
                        cluster_dir=nodes.layout.root)
        assert code == 0
        assert not (st.export_stack().deployment or {}).get("pending_operations")
        found = datapath.attachments(cluster.kubeconfig, "crash")
        assert found and all(a.ok for a in found), [(a.pod, a.problems) for a in found]
        assert set(st.preview().change_summary) == {auto.OpType.SAME}
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            engine.clear_interrupted(st, backend)
        st.destroy(on_output=engine.printer())
        st.workspace.remove_stack("crash")
        # make run brought the platform up in this backend too: the node's network is the
        # session's platform's (same owner), so only this record of it goes
        with contextlib.suppress(auto.CommandError):
            st.workspace.remove_stack("platform", force=True)
        nodes.remove_underlay(made)


@pytest.mark.late
def test_the_kubelet_removes_the_faults_sandboxes(pod_network: NetworkHandle) -> None:
    """Every sandbox of this module's pods (the churn through the Multus outage, the pods of
    the restarts) is gone from containerd: the kubelets' garbage collection (every minute)
    removed them, also those whose DEL the outage cut short. Checked late in the session,
    when it has had its minutes."""
    assert sandboxes_left(pod_network.node, "faults") == []
