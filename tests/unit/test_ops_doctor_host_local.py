"""``netplumb doctor`` on host-local's reservations (pure, and the live read with a fake
client): each node's reservation files, as the node plugin serves them, against the pods
bound to that node; a scoped run judges only its NADs' networks."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from netplumb.kube import KubeError
from netplumb.ops.doctor import HOST_LOCAL_GRACE_S, Snapshot, diagnose, format_text
from netplumb.ops.live import read_snapshot

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
NODES = [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready",
                                                              "status": "True"}]}}
         for n in ("worker-1", "worker-2")]
OLD = HOST_LOCAL_GRACE_S + 60


def _nad(name: str, ns: str = "t", ipam: str = "host-local") -> dict[str, Any]:
    config = {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": "np-under0",
              "ipam": {"type": ipam, "subnet": "192.0.2.0/24"} if ipam == "host-local"
              else {"type": ipam}}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": ns}, "spec": {"config": json.dumps(config)}}


def _pod(name: str, node: str, pod_ip: str, net1: str | None = None, phase: str = "Running",
         ns: str = "t") -> dict[str, Any]:
    status = [{"name": "cbr0", "interface": "eth0", "ips": [pod_ip], "default": True}]
    if net1:
        status.append({"name": f"{ns}/mac", "interface": "net1", "ips": [net1]})
    return {"metadata": {"name": name, "namespace": ns, "annotations": {
                "k8s.v1.cni.cncf.io/networks": "mac",
                "k8s.v1.cni.cncf.io/network-status": json.dumps(status)}},
            "spec": {"nodeName": node}, "status": {"phase": phase, "podIPs": [{"ip": pod_ip}]}}


def _res(ip: str, age: float, cid: str = "c0ffee0011223344") -> dict[str, Any]:
    return {"ip": ip, "containerID": cid, "ifName": "net1", "ageSeconds": age}


def _served() -> dict[str, list[dict[str, Any]]]:
    return {
        "worker-1": [
            {"network": "cbr0", "dir": "/var/lib/cni/networks/cbr0", "reservations": [
                _res("198.18.1.2", OLD), _res("198.18.1.9", OLD, "deadbeef00000000")]},
            {"network": "mac", "dir": "/var/lib/cni/networks/mac", "reservations": [
                _res("192.0.2.10", OLD), _res("192.0.2.11", OLD, "feedface00000000"),
                _res("192.0.2.12", 5.0, "newborn000000000"),
                _res("192.0.2.13", OLD, "finished00000000")]}],
        # worker-2 holds 192.0.2.11 for its own pod: host-local allocates per node
        "worker-2": [{"network": "mac", "dir": "/var/lib/cni/networks/mac", "reservations": [
            _res("192.0.2.11", OLD)]}]}


def _snap(namespaces: frozenset[str] | None = None) -> Snapshot:
    pods_1 = [_pod("a", "worker-1", "198.18.1.2", "192.0.2.10"),
              _pod("done", "worker-1", "198.18.1.5", "192.0.2.13", phase="Succeeded")]
    pods_2 = [_pod("b", "worker-2", "198.18.2.2", "192.0.2.11")]
    return Snapshot(NODES, [], [], {}, [_nad("mac"), _nad("other", "u")], pods_1 + pods_2, [],
                    NOW, namespaces, host_local=_served(),
                    node_pods={"worker-1": pods_1, "worker-2": pods_2})


def test_reservations_no_pod_on_the_node_holds_are_named_with_their_node_and_network() -> None:
    d = diagnose(_snap())
    found = [f for f in d.findings if f.check == "host-local:leaked"]
    assert [(f.subject, f.field) for f in found] == [
        ("Node worker-1", "/var/lib/cni/networks/cbr0"),
        ("Node worker-1", "/var/lib/cni/networks/mac")]
    cbr0, mac = found
    assert "198.18.1.9 (container deadbeef0000)" in cbr0.message and "198.18.1.2" not in \
        cbr0.message
    # held by a pod on another node does not count; too young is not judged; a finished
    # pod holds nothing
    assert "192.0.2.11 (container feedface0000)" in mac.message
    assert "192.0.2.13" in mac.message and "192.0.2.12" not in mac.message
    assert "192.0.2.10" not in mac.message
    assert mac.message.startswith("2 host-local reservation(s) of network mac")
    assert all(f.severity == "warning" for f in found)
    assert "delete each address's file in /var/lib/cni/networks/mac" in mac.fix
    assert d.exit_code == 1
    assert "Node worker-1: 2 host-local reservation(s) of network mac" in format_text(d)


def test_a_scoped_run_judges_only_its_nads_networks() -> None:
    found = [f.field for f in diagnose(_snap(frozenset({"t"}))).findings
             if f.check == "host-local:leaked"]
    assert found == ["/var/lib/cni/networks/mac"]  # not the cluster network's cbr0
    assert not [f for f in diagnose(_snap(frozenset({"u"}))).findings
                if f.check == "host-local:leaked"]


def test_nothing_is_judged_without_the_node_plugin_or_the_nodes_pods() -> None:
    snap = _snap()
    snap.host_local = None
    assert not [f for f in diagnose(snap).findings if f.check == "host-local:leaked"]
    snap = _snap()
    snap.node_pods = {}
    assert not [f for f in diagnose(snap).findings if f.check == "host-local:leaked"]


NODE_PLUGIN_DS = {
    "metadata": {"name": "netplumb-node", "namespace": "kube-system"},
    "spec": {"selector": {"matchLabels": {"app": "netplumb-node"}}, "template": {"spec": {
        "containers": [{"name": "metrics", "image": "ghcr.io/netplumb/netplumb-node:v0.1.0",
                        "args": ["metrics", "--listen=:9479"],
                        "ports": [{"name": "metrics", "containerPort": 9479}]}]}}}}


def _plugin_pod(node: str) -> dict[str, Any]:
    return {"metadata": {"name": f"netplumb-node-{node}", "namespace": "kube-system"},
            "spec": {"nodeName": node}, "status": {"phase": "Running"}}


class _FakeKube:
    """What :func:`read_snapshot` asks, answered from lists; the node plugin's pod proxy
    from ``served`` (a node missing there answers 503)."""

    def __init__(self, pods: list[dict[str, Any]], served: dict[str, Any]) -> None:
        self.pods, self.served = pods, served
        self.paths: list[str] = []
        self.field_selectors: list[str | None] = []

    def resource(self, api_version: str, kind: str) -> object | None:
        return None

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None
             ) -> list[dict[str, Any]]:
        if kind == "Node":
            return NODES
        if kind == "DaemonSet":
            return [NODE_PLUGIN_DS]
        if kind == "Pod" and label_selector == "app=netplumb-node":
            return [_plugin_pod("worker-1"), _plugin_pod("worker-2")]
        if kind == "Pod":
            self.field_selectors.append(field_selector)
            node = (field_selector or "").removeprefix("spec.nodeName=")
            return [p for p in self.pods if not field_selector or p["spec"]["nodeName"] == node]
        if kind == "NetworkAttachmentDefinition":
            return [_nad("mac")]
        return []

    def get(self, *args: Any, **kw: Any) -> None:
        return None

    def request(self, method: str, path: str, **kw: Any) -> Any:
        self.paths.append(path)
        for node, networks in self.served.items():
            if path.endswith(f"netplumb-node-{node}:9479/proxy/host-local"):
                return networks
        raise KubeError(503, "ServiceUnavailable", "no endpoints")


def test_live_reads_each_nodes_plugin_through_the_pod_proxy() -> None:
    pods = [_pod("a", "worker-1", "198.18.1.2", "192.0.2.10"),
            _pod("b", "worker-2", "198.18.2.2", "192.0.2.11")]
    served = _served()
    kube = _FakeKube(pods, served)
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert kube.paths == [
        "/api/v1/namespaces/kube-system/pods/netplumb-node-worker-1:9479/proxy/host-local",
        "/api/v1/namespaces/kube-system/pods/netplumb-node-worker-2:9479/proxy/host-local"]
    assert snap.host_local == served
    # every namespace's pods of each node with reservations old enough to judge
    assert "spec.nodeName=worker-1" in kube.field_selectors
    assert snap.node_pods["worker-1"] == [pods[0]]
    found = [f for f in diagnose(snap).findings if f.check == "host-local:leaked"]
    assert [f.subject for f in found] == ["Node worker-1"]
    # only young reservations: the node's pods are not read
    young = {"worker-1": [{"network": "mac", "dir": "/d", "reservations": [
        _res("192.0.2.50", 1.0)]}]}
    kube = _FakeKube(pods, young)
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert snap.node_pods == {} and "spec.nodeName=worker-1" not in kube.field_selectors
    # a node plugin that cannot be reached is said, not guessed
    assert snap.unreadable == ["host-local reservations on node worker-2 "
                               "(503 ServiceUnavailable)"]


class _Unready(_FakeKube):
    def list(self, api_version: str, kind: str, **kw: Any) -> list[dict[str, Any]]:
        if kind == "Node":
            return [NODES[0], {"metadata": {"name": "worker-2"}, "status": {
                "conditions": [{"type": "Ready", "status": "Unknown"}]}}]
        return super().list(api_version, kind, **kw)


class _Slow(_FakeKube):
    def request(self, method: str, path: str, **kw: Any) -> Any:
        if "worker-2" in path:
            raise KubeError(0, "Unreachable", "timed out")
        return super().request(method, path, **kw)


def test_live_asks_only_ready_nodes_and_only_when_the_scope_has_host_local_networks() -> None:
    pods = [_pod("a", "worker-1", "198.18.1.2", "192.0.2.10")]
    kube: _FakeKube = _Unready(pods, _served())
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert [p.split("/")[6] for p in kube.paths] == ["netplumb-node-worker-1:9479"]
    assert set(snap.host_local or {}) == {"worker-1"} and snap.unreadable == []
    # the namespace "u" has no host-local NAD: no node plugin is asked
    kube = _FakeKube(pods, _served())
    snap = read_snapshot(kube, ["u"])  # type: ignore[arg-type]
    assert kube.paths == [] and snap.host_local is None
    # a proxy call that times out is that node's, said as such; the rest is read
    kube = _Slow(pods, _served())
    snap = read_snapshot(kube, ["t"])  # type: ignore[arg-type]
    assert set(snap.host_local or {}) == {"worker-1", "worker-2"}
    assert snap.unreadable == ["host-local reservations on node worker-2 (504 GatewayTimeout)"]
