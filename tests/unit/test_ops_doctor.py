"""``netplumb doctor``'s findings from a cluster snapshot (pure).

The snapshots are plain API objects as the apiserver serves them; the sandbox-failure
messages are those the embedded node recorded with real Multus v4.3.0 and CNI plugins v1.9.1.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from netplumb.ops.doctor import Snapshot, diagnose, format_text, selection_refs

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
UID = "041f62b1-f8f6-4a84-8713-fba3f6e06319"
NODE = {"metadata": {"name": "n0"}, "status": {"conditions": [{"type": "Ready",
                                                               "status": "True"}]}}
WRAP = "Failed to create pod sandbox: CNI ADD failed (code 999): "


def _nad(name: str, config: Any, ns: str = "t") -> dict[str, Any]:
    text = config if isinstance(config, str) else json.dumps(config)
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": ns}, "spec": {"config": text}}


def _pod(name: str, nets: list[str], phase: str = "Pending", status: Any = None,
         ns: str = "t") -> dict[str, Any]:
    notes = {"k8s.v1.cni.cncf.io/networks": json.dumps([{"name": n} for n in nets])}
    if status is not None:
        notes["k8s.v1.cni.cncf.io/network-status"] = json.dumps(status)
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "annotations": notes, "creationTimestamp": "2026-05-01T11:59:00Z"},
            "spec": {"nodeName": "n0"}, "status": {"phase": phase}}


def _event(pod: str, message: str, reason: str = "FailedCreatePodSandBox") -> dict[str, Any]:
    return {"reason": reason, "message": message, "count": 3,
            "lastTimestamp": "2026-05-01T11:59:30Z",
            "involvedObject": {"kind": "Pod", "namespace": "t", "name": pod,
                               "uid": f"uid-{pod}"}}


TINY = {"cniVersion": "1.0.0", "name": "tiny", "type": "bridge", "bridge": "br0",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.7.0/24",
                                                    "rangeStart": "198.18.7.10",
                                                    "rangeEnd": "198.18.7.11"}]]}}
NOMASTER = {"cniVersion": "1.0.0", "name": "nomaster", "type": "macvlan", "master": "ens9nope",
            "ipam": {"type": "host-local", "subnet": "198.18.5.0/24"}}
BADJSON = '{"cniVersion": "1.0.0", "name": "badjson", "type": "macvlan",'


def _running_on_tiny(name: str, ip: str) -> dict[str, Any]:
    return _pod(name, ["tiny"], "Running", [
        {"name": "np-cluster", "interface": "eth0", "ips": ["198.51.100.4"], "default": True},
        {"name": "t/tiny", "interface": "net1", "ips": [ip]}])


def _broken() -> Snapshot:
    pods = [_pod("a", ["badjson"]), _pod("b", ["nomaster"]), _running_on_tiny("d1", "198.18.7.10"),
            _running_on_tiny("d2", "198.18.7.11"), _pod("d3", ["tiny"]), _pod("e", ["nosuch"])]
    events = [
        _event("a", WRAP + f"Multus: [t/a/{UID}]: error loading k8s delegates k8s args: "
               "TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: "
               "failed getting the delegate: GetCNIConfig: err in getCNIConfigFromSpec: failed "
               "to unmarshal Spec.Config: unexpected end of JSON input"),
        _event("b", WRAP + f'[t/b/{UID}:nomaster]: error adding container to network '
               '"nomaster": Link not found'),
        _event("d3", WRAP + f'[t/d3/{UID}:tiny]: error adding container to network "tiny": '
               "failed to allocate for range 0: no IP addresses available in range set: "
               "198.18.7.10-198.18.7.11"),
        _event("e", "cannot find a network-attachment-definition (nosuch) in namespace (t): "
               'network-attachment-definitions.k8s.cni.cncf.io "nosuch" not found',
               reason="NoNetworkFound"),
        _event("gone", WRAP + "old failure of a pod deleted since"),
    ]
    return Snapshot([NODE], [], [], {}, [_nad("badjson", BADJSON), _nad("nomaster", NOMASTER),
                                         _nad("tiny", TINY)], pods, events, NOW,
                    frozenset({"t"}))


def test_three_broken_nads_named_with_their_pods_and_fixes() -> None:
    d = diagnose(_broken())
    by = {(f.check, f.subject): f for f in d.findings}
    # the NAD that does not parse: one finding, with the field, its pods and their failures
    assert ("sandbox:config-invalid", "NetworkAttachmentDefinition t/badjson") not in by
    parse = by[("nad-config", "NetworkAttachmentDefinition t/badjson")]
    assert parse.severity == "error" and parse.field == "spec.config" and parse.pods == ["t/a"]
    assert parse.message.startswith("spec.config: malformed JSON at line 1")
    assert parse.message.endswith("1 pod(s) stuck creating (3 sandbox failures)")
    master = by[("sandbox:master-missing", "NetworkAttachmentDefinition t/nomaster")]
    assert master.pods == ["t/b"] and "host link missing (ens9nope)" in master.message
    assert "create host link ens9nope on node(s) n0" in master.fix
    assert "spec.config.master" in master.fix
    pool = by[("sandbox:pool-exhausted", "NetworkAttachmentDefinition t/tiny")]
    assert pool.pods == ["t/d3"] and pool.count == 3
    assert "held: 2/2 on node n0" in pool.message
    assert "spec.config.ipam.ranges" in pool.fix
    missing = by[("nad-missing", "NetworkAttachmentDefinition t/nosuch")]
    assert missing.pods == ["t/e"] and missing.severity == "error"
    assert d.exit_code == 2
    assert all(f.fix for f in d.findings if f.severity != "info")
    text = format_text(d)
    assert "pods: t/d3" in text and text.rstrip().endswith("warning(s)")
    # the stale event of a deleted pod is not reported
    assert not any("old failure" in f.message for f in d.findings)


def test_healthy_namespace_has_nothing_to_fix() -> None:
    snap = Snapshot([NODE], [], [], {}, [_nad("tiny", TINY)], [_running_on_tiny("d1",
                                                                                "198.18.7.10")],
                    [], NOW, frozenset({"t"}))
    d = diagnose(snap)
    assert d.exit_code == 0
    assert [f.severity for f in d.findings] == ["info"]  # Multus outside a DaemonSet works
    assert "Multus on node(s) n0 attaches networks" in d.findings[0].message
    assert [(u.network, u.used, u.size, u.scope) for u in d.pools] == [
        ("t/tiny", 1, 2, "node n0")]
    assert format_text(d).rstrip().endswith("nothing to fix")


def test_full_pool_without_a_stuck_pod_and_a_busy_one() -> None:
    pods = [_running_on_tiny("d1", "198.18.7.10"), _running_on_tiny("d2", "198.18.7.11")]
    d = diagnose(Snapshot([NODE], [], [], {}, [_nad("tiny", TINY)], pods, [], NOW, None))
    [f] = [f for f in d.findings if f.check == "pool"]
    assert f.severity == "error" and "2/2" in f.message


def _multus(ready: bool, oom: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    ds = {"metadata": {"name": "kube-multus-ds", "namespace": "kube-system"},
          "spec": {"selector": {"matchLabels": {"name": "multus"}}, "template": {"spec": {
              "containers": [{"name": "kube-multus", "image": "ghcr.io/x/multus-cni:v4.3.0"}],
              "volumes": [{"name": "cfg", "configMap": {"name": "multus-daemon-config"}}]}}},
          "status": {"desiredNumberScheduled": 1, "numberReady": int(ready)}}
    status: dict[str, Any] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "kube-multus", "restartCount": 4, "state": {
            "waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "OOMKilled"}} if oom else {}}]}
    pod = {"metadata": {"name": "kube-multus-ds-x", "namespace": "kube-system",
                        "labels": {"name": "multus"}}, "spec": {"nodeName": "n0"},
           "status": status}
    return ds, pod


def test_multus_daemonset_not_ready_and_its_configmap() -> None:
    ds, pod = _multus(ready=False, oom=True)
    requesting = _pod("p", ["tiny"])
    cm: dict[tuple[str, str], dict[str, Any] | None] = {
        ("kube-system", "multus-daemon-config"): {"data": {"daemon-config.json": "{oops"}}}
    d = diagnose(Snapshot([NODE], [ds], [pod], cm, [_nad("tiny", TINY)], [requesting], [],
                          NOW, None))
    subjects = {f.subject: f for f in d.findings}
    notready = subjects["DaemonSet kube-system/kube-multus-ds"]
    assert "not ready on 1 node(s): n0" in notready.message and "OOM" in notready.message
    assert "memory limit" in notready.fix
    config = subjects["ConfigMap kube-system/multus-daemon-config"]
    assert "daemon-config.json" in config.message and config.severity == "error"
    ds_ok, pod_ok = _multus(ready=True)
    d = diagnose(Snapshot([NODE], [ds_ok], [pod_ok], {("kube-system", "multus-daemon-config"):
                                                      {"data": {"daemon-config.json": "{}"}}},
                          [_nad("tiny", TINY)], [], [], NOW, None))
    assert d.exit_code == 0 and d.findings == []


def test_no_multus_at_all_and_selection_forms() -> None:
    d = diagnose(Snapshot([NODE], [], [], {}, [_nad("tiny", TINY)], [_pod("p", ["tiny"])], [],
                          NOW, None))
    assert any(f.check == "multus" and f.severity == "error" for f in d.findings)
    pod = _pod("q", [])
    pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "other/a@net5, b"
    assert selection_refs(pod) == ([("other", "a"), ("t", "b")], None)
    pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "[{"
    refs, problem = selection_refs(pod)
    assert refs == [] and problem is not None and "not valid JSON" in problem


def test_a_node_that_is_not_ready_is_named_with_its_pods() -> None:
    down = {"metadata": {"name": "n1"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}}
    on_down = _running_on_tiny("stranded", "198.18.7.10")
    on_down["spec"]["nodeName"] = "n1"
    fine = _running_on_tiny("fine", "198.18.7.11")
    d = diagnose(Snapshot([NODE, down], [], [], {}, [_nad("tiny", TINY)], [on_down, fine], [],
                          NOW, None))
    [f] = [f for f in d.findings if f.check == "node"]
    assert f.severity == "error" and f.subject == "Node n1"
    assert "NodeStatusUnknown" in f.message and "t/stranded" in f.message
    assert f.pods == ["t/stranded"] and "drain n1" in f.fix
    assert not [f for f in diagnose(Snapshot([NODE], [], [], {}, [], [fine], [], NOW,
                                             None)).findings if f.check == "node"]


PASSTHRU = {"cniVersion": "1.0.0", "name": "pt", "type": "macvlan", "master": "np-pt0",
            "mode": "passthru", "ipam": {"type": "host-local", "subnet": "198.18.9.0/24"}}


def test_a_second_passthru_pod_is_named_with_the_pod_holding_the_master() -> None:
    holder = _pod("p1", ["pt"], "Running", [{"name": "t/pt", "interface": "net1",
                                             "ips": ["198.18.9.2"]}])
    refused = _event("p2", WRAP + f'[t/p2/{UID}:pt]: error adding container to network "pt": '
                     "failed to create macvlan: invalid argument")
    bridge = {**PASSTHRU, "name": "br", "mode": "bridge"}
    other = _event("q", WRAP + f'[t/q/{UID}:br]: error adding container to network "br": '
                   "failed to create macvlan: invalid argument")
    snap = Snapshot([NODE], [], [], {}, [_nad("pt", PASSTHRU), _nad("br", bridge)],
                    [holder, _pod("p2", ["pt"]), _pod("q", ["br"])], [refused, other], NOW,
                    frozenset({"t"}))
    by = {(f.check, f.subject): f for f in diagnose(snap).findings}
    taken = by[("sandbox:macvlan-passthru-taken", "NetworkAttachmentDefinition t/pt")]
    assert taken.pods == ["t/p2"] and taken.field == "spec.config.mode"
    assert "np-pt0 on node(s) n0 is held by t/p1" in taken.fix
    # the same refusal on a NAD in another mode is not blamed on passthru
    plain = by[("sandbox:macvlan-failed", "NetworkAttachmentDefinition t/br")]
    assert plain.pods == ["t/q"] and "np-pt0" in plain.fix
