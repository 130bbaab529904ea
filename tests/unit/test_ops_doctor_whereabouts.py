"""``netplumb doctor`` on whereabouts' own state (pure): IPPool allocations and
OverlappingRangeIPReservations against the pods that exist, pool use counted from the
IPPools, and NADs with ``node_slice_size`` where the node-slice controller does not run.

The objects have the shape whereabouts v0.9 writes (``spec.range``, ``spec.allocations``
keyed by the offset from the range's first address with ``id``/``podref``/``ifname``;
reservations with ``containerid``/``podref``/``ifname``, named after the address).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from netplumb.kube import KubeError
from netplumb.ops.doctor import Snapshot, diagnose, format_text
from netplumb.ops.ipam_state import parse_ippool, reservation_name
from netplumb.ops.live import read_snapshot

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
NODES = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready",
                                                              "status": "True"}]}}
         for n in ("worker-1", "worker-2")]
WB = "whereabouts.cni.cncf.io/v1alpha1"


def _nad(name: str, ipam: dict[str, Any], ns: str = "t") -> dict[str, Any]:
    config = {"cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": "np-wb0",
              "ipam": {"type": "whereabouts", **ipam}}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": ns}, "spec": {"config": json.dumps(config)}}


def _pod(name: str, nad: str, ips: list[str] | None, phase: str = "Running",
         node: str = "worker-1") -> dict[str, Any]:
    notes = {"k8s.v1.cni.cncf.io/networks": json.dumps([{"name": nad}])}
    if ips is not None:
        notes["k8s.v1.cni.cncf.io/network-status"] = json.dumps([
            {"name": "np-cluster", "interface": "eth0", "ips": ["198.18.1.7"], "default": True},
            {"name": f"t/{nad}", "interface": "net1", "ips": ips}])
    return {"metadata": {"name": name, "namespace": "t", "uid": f"uid-{name}",
                         "annotations": notes, "creationTimestamp": "2026-05-01T11:50:00Z"},
            "spec": {"nodeName": node}, "status": {"phase": phase}}


def _alloc(podref: str, cid: str = "c0ffee00112233445566") -> dict[str, str]:
    return {"id": cid, "podref": podref, "ifname": "net1"}


def _ippool(name: str, rng: str, allocations: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": WB, "kind": "IPPool",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"range": rng, "allocations": allocations}}


def _reservation(name: str, podref: str) -> dict[str, Any]:
    return {"apiVersion": WB, "kind": "OverlappingRangeIPReservation",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"containerid": "c0ffee00112233445566", "podref": podref,
                     "ifname": "net1"}}


RECONCILER_DS = {
    "metadata": {"name": "whereabouts", "namespace": "kube-system"},
    "spec": {"template": {"spec": {
        "containers": [{"name": "ip-control-loop", "command": ["/ip-control-loop"]}],
        "volumes": [{"name": "cron-schedule", "configMap": {"name": "whereabouts-config"}}]}}},
    "status": {"numberReady": 2}}
RECONCILER_CM = {("kube-system", "whereabouts-config"): {
    "data": {"cron-expression": "* * * * *"}}}


def _leaky(**more: Any) -> Snapshot:
    nad = _nad("wb", {"range": "198.18.30.0/24", "range_start": "198.18.30.10",
                      "range_end": "198.18.30.20"})
    pool = _ippool("198.18.30.0-24", "198.18.30.0/24", {
        "10": _alloc("t/alive"), "11": _alloc("t/ghost", "deadbeef99887766"),
        "12": _alloc("t/restarted"), "13": _alloc("t/restarted"),
        "14": _alloc("other/elsewhere")})
    reservations = [_reservation("198.18.30.10", "t/alive"),
                    _reservation("198.18.30.11", "t/ghost"),
                    _reservation("198.18.30.12", "t/restarted"),
                    _reservation("198.18.30.99", "t/alive")]  # no allocation holds .99
    pods = [_pod("alive", "wb", ["198.18.30.10"]), _pod("restarted", "wb", ["198.18.30.13"])]
    fields: dict[str, Any] = {"ippools": [pool], "reservations": reservations,
                              "whereabouts_daemonsets": [RECONCILER_DS],
                              "whereabouts_configmaps": RECONCILER_CM, **more}
    return Snapshot(NODES, [], [], {}, [nad], pods, [], NOW, frozenset({"t"}), **fields)


def test_leaked_stale_and_orphaned_allocations_named_with_their_pods() -> None:
    d = diagnose(_leaky())
    by = {(f.check, f.subject): f for f in d.findings}
    leaked = by[("whereabouts:leaked", "IPPool kube-system/198.18.30.0-24")]
    assert leaked.severity == "warning" and leaked.pods == ["t/ghost"]
    assert "198.18.30.11 (pod t/ghost, container deadbeef9988, net1)" in leaked.message
    assert "remove offset(s) 11 from spec.allocations" in leaked.fix
    assert "kubectl -n kube-system edit ippools.whereabouts.cni.cncf.io 198.18.30.0-24" \
        in leaked.fix
    assert "delete OverlappingRangeIPReservation(s) 198.18.30.11 in kube-system" in leaked.fix
    assert ("the ip-control-loop of DaemonSet kube-system/whereabouts) frees them on its "
            "schedule '* * * * *' (ConfigMap kube-system/whereabouts-config, key "
            "cron-expression)") in leaked.fix
    stale = by[("whereabouts:stale", "IPPool kube-system/198.18.30.0-24")]
    assert stale.pods == ["t/restarted"] and "198.18.30.12 (pod t/restarted" in stale.message
    assert "198.18.30.13" not in stale.message  # the address its network-status reports
    unreserved = by[("whereabouts:orphaned", "IPPool kube-system/198.18.30.0-24")]
    assert unreserved.pods == ["t/restarted"] and "198.18.30.13" in unreserved.message
    assert "no OverlappingRangeIPReservation" in unreserved.message
    assert "'removed stale overlappingIP allocation'" in unreserved.fix  # the reconciler's race
    orphan = by[("whereabouts:orphaned", "OverlappingRangeIPReservations in kube-system")]
    assert orphan.pods == ["t/alive"] and "198.18.30.99 (pod t/alive)" in orphan.message
    assert "overlappingrangeipreservations.whereabouts.cni.cncf.io 198.18.30.99" in orphan.fix
    # the allocation of a pod in a namespace doctor was not asked about is not named
    assert not [f for f in d.findings if "other/elsewhere" in f.pods]
    assert all(f.fix for f in d.findings if f.severity != "info")
    assert "pods: t/ghost" in format_text(d)


def test_pool_use_counts_the_ippool_not_network_status() -> None:
    d = diagnose(_leaky())
    # .10-.14 are allocated in the range .10-.20: the gone pod's and the stale one count
    assert [(u.network, u.used, u.size, u.scope) for u in d.pools] == [
        ("t/wb", 5, 11, "cluster")]
    # without the IPPools (not served, or not readable) the pods' network-status counts
    snap = _leaky(ippools=None, reservations=None)
    d = diagnose(snap)
    assert [(u.used, u.size) for u in d.pools] == [(2, 11)]
    assert not [f for f in d.findings if f.check.startswith("whereabouts:")]


def test_reconciler_missing_or_not_ready_is_said_in_the_fix() -> None:
    d = diagnose(_leaky(whereabouts_daemonsets=[]))
    [leaked] = [f for f in d.findings if f.check == "whereabouts:leaked"]
    assert "no DaemonSet runs whereabouts' ip-control-loop" in leaked.fix
    down = {**RECONCILER_DS, "status": {"numberReady": 0}}
    d = diagnose(_leaky(whereabouts_daemonsets=[down]))
    [leaked] = [f for f in d.findings if f.check == "whereabouts:leaked"]
    assert "has no ready pod, so nothing frees them now" in leaked.fix


def test_named_networks_and_node_slices_in_pool_and_reservation_names() -> None:
    blue = parse_ippool(_ippool("blue-198.18.31.0-24", "198.18.31.0/24",
                                {"5": _alloc("t/a")}), ["worker-1"])
    assert blue is not None and (blue.network_name, blue.node) == ("blue", None)
    assert reservation_name(blue.allocations[0].ip, blue.network_name) == "blue-198.18.31.5"
    sliced = parse_ippool(_ippool("blue-worker-1-198.18.32.0-28", "198.18.32.0/28", {}),
                          ["worker-1", "worker-2"])
    assert sliced is not None and (sliced.network_name, sliced.node) == ("blue", "worker-1")
    plain = parse_ippool(_ippool("worker-2-198.18.32.16-28", "198.18.32.16/28", {}),
                         ["worker-1", "worker-2"])
    assert plain is not None and (plain.network_name, plain.node) == ("", "worker-2")
    v6 = parse_ippool(_ippool("2001-db8---64", "2001:db8::/64", {"1": _alloc("t/b")}))
    assert v6 is not None and reservation_name(v6.allocations[0].ip) == "2001-db8--1"
    # a named network's reservation matches its allocation: nothing orphaned
    nad = _nad("blue", {"range": "198.18.31.0/24", "network_name": "blue"})
    pool = _ippool("blue-198.18.31.0-24", "198.18.31.0/24", {"5": _alloc("t/a")})
    snap = Snapshot(NODES, [], [], {}, [nad], [_pod("a", "blue", ["198.18.31.5"])], [], NOW,
                    None, ippools=[pool], reservations=[_reservation("blue-198.18.31.5",
                                                                     "t/a")])
    d = diagnose(snap)
    assert not [f for f in d.findings if f.check.startswith("whereabouts:")]
    assert [(u.network, u.used) for u in d.pools] == [("t/blue", 1)]


SLICED = {"range": "198.18.40.0/24", "node_slice_size": "/28"}


def _sliced(controllers: list[dict[str, Any]] | None,
            slice_pools: list[dict[str, Any]] | None = None) -> Snapshot:
    waiting = _pod("s1", "sliced", None, phase="Pending")
    running = _pod("other", "plain", ["198.18.41.3"])
    events = [{"reason": "FailedCreatePodSandBox", "count": 5,
               "message": "Failed to create pod sandbox: plugin type=\"multus-shim\" "
                          "name=\"multus-cni-network\" failed (add): [t/s1/uid-s1:sliced]: "
                          "error adding container to network \"sliced\": whereabouts "
                          "stand-in failure",
               "lastTimestamp": "2026-05-01T11:59:30Z",
               "involvedObject": {"kind": "Pod", "namespace": "t", "name": "s1",
                                  "uid": "uid-s1"}}]
    pools = [_ippool("worker-1-198.18.40.0-28", "198.18.40.0/28", {"3": _alloc("t/x")})]
    return Snapshot(NODES, [], [], {}, [_nad("sliced", SLICED), _nad("plain", {
        "range": "198.18.41.0/24"})], [waiting, running], events, NOW, frozenset({"t"}),
        ippools=pools, reservations=[], node_slice_controllers=controllers,
        node_slice_pools=slice_pools)


def _controller(ready: int) -> dict[str, Any]:
    return {"metadata": {"name": "whereabouts-node-slice-controller",
                         "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "node-slice-controller", "command": ["/node-slice-controller"]}]}}},
            "status": {"readyReplicas": ready}}


def _slice_pool(nodes: list[str]) -> dict[str, Any]:
    return {"apiVersion": WB, "kind": "NodeSlicePool",
            "metadata": {"name": "sliced", "namespace": "kube-system"},
            "spec": {"range": "198.18.40.0/24", "sliceSize": "/28"},
            "status": {"allocations": [
                {"nodeName": n, "sliceRange": f"198.18.40.{16 * i}/28"}
                for i, n in enumerate(nodes)]}}


def test_node_slices_without_the_controller_name_the_nad_and_its_waiting_pods() -> None:
    d = diagnose(_sliced([]))
    [f] = [f for f in d.findings if f.check == "ipam-controller"]
    assert f.severity == "error" and f.subject == "NetworkAttachmentDefinition t/sliced"
    assert f.pods == ["t/s1"] and f.field == "spec.config.ipam.node_slice_size"
    assert "sets node_slice_size /28" in f.message and "NodeSlicePool sliced" in f.message
    assert "no node-slice controller runs in the cluster" in f.message
    assert "node_slice_controller: true" in f.fix and "remove node_slice_size" in f.fix
    # the sandbox failures are folded into it, not repeated
    assert "1 pod(s) stuck creating (5 sandbox failures)" in f.message
    assert not [g for g in d.findings if g.check.startswith("sandbox:")]
    assert not [g for g in d.findings if g.subject.endswith("t/plain")]
    # pool use per node slice
    assert [(u.network, u.scope, u.used, u.size) for u in d.pools
            if u.network == "t/sliced"] == [("t/sliced", "node worker-1", 1, 14)]


def test_node_slice_controller_not_ready_or_without_a_slice_for_the_node() -> None:
    [f] = [f for f in diagnose(_sliced([_controller(0)])).findings
           if f.check == "ipam-controller"]
    assert "node-slice controller (kube-system/whereabouts-node-slice-controller) has no " \
           "ready replica" in f.message
    [f] = [f for f in diagnose(_sliced([_controller(1)], [_slice_pool(["worker-2"])])).findings
           if f.check == "ipam-controller"]
    assert "NodeSlicePool kube-system/sliced has no slice for node(s) worker-1" in f.message
    assert "shrink node_slice_size" in f.fix
    [f] = [f for f in diagnose(_sliced([_controller(1)], [])).findings
           if f.check == "ipam-controller"]
    assert "has made no NodeSlicePool sliced" in f.message
    healthy = diagnose(_sliced([_controller(1)], [_slice_pool(["worker-1", "worker-2"])]))
    assert not [f for f in healthy.findings if f.check == "ipam-controller"]
    # not looked for (Deployments unreadable): not guessed
    assert not [f for f in diagnose(_sliced(None)).findings if f.check == "ipam-controller"]


class _FakeKube:
    """The calls :func:`read_snapshot` makes, answered from a dict of kinds."""

    def __init__(self, objects: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.listed: list[tuple[str, str, str | None]] = []

    def resource(self, api_version: str, kind: str) -> object | None:
        return object() if (api_version, kind) in self.objects else None

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None
             ) -> list[dict[str, Any]]:
        self.listed.append((kind, namespace or "", field_selector))
        items = self.objects.get((api_version, kind), [])
        if field_selector and field_selector.startswith("reason="):
            items = [i for i in items if i.get("reason") == field_selector[7:]]
        return [i for i in items if namespace is None
                or (i.get("metadata") or {}).get("namespace") in (None, namespace)
                or kind == "Event"]

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None
            ) -> dict[str, Any] | None:
        if (namespace, name) == ("kube-system", "whereabouts-config"):
            return RECONCILER_CM[("kube-system", "whereabouts-config")]
        return None


def test_read_snapshot_reads_whereabouts_state_and_scheduling_events() -> None:
    leaky = _leaky()
    kube = _FakeKube({
        ("v1", "Node"): NODES, ("apps/v1", "DaemonSet"): [RECONCILER_DS],
        ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"): leaky.nads,
        ("v1", "Pod"): leaky.pods,
        ("v1", "Event"): [{"reason": "FailedScheduling", "message": "0/2 nodes are available: "
                                                                   "2 Insufficient cpu.",
                           "involvedObject": {"namespace": "t", "name": "p"}}],
        (WB, "IPPool"): leaky.ippools or [], (WB, "OverlappingRangeIPReservation"):
            [_reservation("198.18.30.10", "t/alive")]})
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert snap.ippools == leaky.ippools and snap.reservations is not None
    assert [e["reason"] for e in snap.events] == ["FailedScheduling"]
    assert snap.whereabouts_daemonsets == [RECONCILER_DS]
    assert snap.whereabouts_configmaps == RECONCILER_CM
    # no NAD sets node_slice_size: neither Deployments nor NodeSlicePools are read
    assert snap.node_slice_controllers is None and snap.node_slice_pools is None
    assert "Deployment" not in {k for k, _, _ in kube.listed}
    sliced = _FakeKube({**kube.objects,
                        ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"):
                            [_nad("sliced", SLICED)],
                        ("apps/v1", "Deployment"): [_controller(1), {"metadata": {
                            "name": "web", "namespace": "t"}}]})
    snap = read_snapshot(sliced, ["t"])  # type: ignore[arg-type]
    assert snap.node_slice_controllers == [_controller(1)]
    assert snap.node_slice_pools == []  # no NodeSlicePool CRD served
    # a cluster without whereabouts: nothing read, pool use from network-status
    bare = _FakeKube({k: v for k, v in kube.objects.items() if k[0] != WB})
    snap = read_snapshot(bare, ["t"])  # type: ignore[arg-type]
    assert snap.ippools is None and snap.reservations is None


class _ForbiddenWhereabouts(_FakeKube):
    def resource(self, api_version: str, kind: str) -> object | None:
        if api_version == WB:
            raise KubeError(403, "Forbidden", "discovery of whereabouts.cni.cncf.io")
        return super().resource(api_version, kind)


def test_whereabouts_the_credentials_may_not_read_is_said_not_guessed() -> None:
    leaky = _leaky()
    kube = _ForbiddenWhereabouts({
        ("v1", "Node"): NODES, ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition"):
            leaky.nads, ("v1", "Pod"): leaky.pods, (WB, "IPPool"): leaky.ippools or []})
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert snap.ippools is None
    assert snap.unreadable == [f"{WB} (403 Forbidden)"]
    d = diagnose(snap)
    assert [f.message for f in d.findings if f.check == "access"] == [
        f"could not read {WB} (403 Forbidden)"]
    assert [u.used for u in d.pools] == [2]  # from network-status, the only source left
