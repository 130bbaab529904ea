"""``netplumb doctor`` on pods the scheduler cannot place (pure).

The messages are written the way kube-scheduler v1.36 words a failed attempt (the node count,
the histogram of rejection reasons, preemption's part), with the reasons of its
NodeResourcesFit, NodeAffinity, TaintToleration and NodeUnschedulable filters; one test
uses the older taint wording (a taint named inside the reason).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from netplumb.args.stack import load_stack_file
from netplumb.cli.doctor import device_pools
from netplumb.ops.doctor import Snapshot, diagnose, format_text
from netplumb.ops.scheduling import Reason, causes, parse_message, primary
from netplumb.plan import build_plan

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parents[2]


def _node(name: str, *, taints: list[dict[str, str]] | None = None, cordoned: bool = False,
          allocatable: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux"}},
            "spec": {**({"taints": taints} if taints else {}),
                     **({"unschedulable": True} if cordoned else {})},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110",
                                       **(allocatable or {})}}}


def _unplaced(name: str, message: str | None, ns: str = "t", **spec: Any) -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                   "message": message}] if message is not None else []
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "creationTimestamp": "2026-05-01T11:58:00Z"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec},
            "status": {"phase": "Pending", "conditions": conditions}}


def _scheduling_event(pod: str, message: str, count: int = 4) -> dict[str, Any]:
    return {"reason": "FailedScheduling", "message": message, "count": count,
            "lastTimestamp": "2026-05-01T11:59:30Z",
            "involvedObject": {"kind": "Pod", "namespace": "t", "name": pod,
                               "uid": f"uid-{pod}"}}


SRIOV_MSG = ("0/2 nodes are available: 2 Insufficient intel.com/sriov. preemption: 0/2 nodes "
             "are available: 2 No preemption victims found for incoming pod.")
SELECTOR_MSG = ("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
                "preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
                "scheduling.")
TAINT_MSG = ("0/2 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were "
             "unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful "
             "for scheduling.")
CPU_MSG = ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
           "2 No preemption victims found for incoming pod.")
SRIOV_NAD = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
             "metadata": {"name": "sriov-net", "namespace": "t", "annotations": {
                 "k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"}},
             "spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": "sriov-net",
                                            "type": "sriov", "vlan": 100})}}


def _sriov_pod() -> dict[str, Any]:
    pod = _unplaced("dpdk-0", SRIOV_MSG)
    pod["metadata"]["annotations"] = {"k8s.v1.cni.cncf.io/networks": "sriov-net"}
    pod["spec"]["containers"][0]["resources"] = {"requests": {"intel.com/sriov": "1"},
                                                 "limits": {"intel.com/sriov": "1"}}
    return pod


def _snapshot(pods: list[dict[str, Any]], nodes: list[dict[str, Any]] | None = None,
              events: list[dict[str, Any]] | None = None, **more: Any) -> Snapshot:
    return Snapshot(nodes or [_node("worker-1"), _node("worker-2")], [], [], {}, [SRIOV_NAD],
                    pods, events or [], NOW, frozenset({"t"}), **more)


def test_unschedulable_pods_grouped_by_cause_with_the_fix() -> None:
    tainted = _node("worker-1", taints=[{"key": "dedicated", "value": "db",
                                         "effect": "NoSchedule"},
                                        {"key": "soft", "effect": "PreferNoSchedule"}])
    nodes = [tainted, _node("worker-2", cordoned=True)]
    sriov = _sriov_pod()
    selector = _unplaced("picky", SELECTOR_MSG, nodeSelector={"disktype": "ssd",
                                                               "kubernetes.io/os": "linux"})
    selector2 = _unplaced("picky-2", SELECTOR_MSG, nodeSelector={"disktype": "ssd"})
    taint = _unplaced("db-0", TAINT_MSG)
    by_event = _unplaced("hungry", None)  # no condition yet: its event speaks for it
    placed = _unplaced("placed", None, nodeName="worker-2")  # has a node: not unschedulable
    d = diagnose(_snapshot([sriov, selector, selector2, taint, by_event, placed], nodes,
                           [_scheduling_event("hungry", CPU_MSG),
                            _scheduling_event("dpdk-0", SRIOV_MSG, count=7)]))
    found = {f.check: f for f in d.findings if f.check.startswith("unschedulable:")}
    assert set(found) == {"unschedulable:device", "unschedulable:selector",
                          "unschedulable:taints", "unschedulable:resources"}
    device = found["unschedulable:device"]
    assert device.severity == "error" and device.subject == "Resource intel.com/sriov"
    assert device.pods == ["t/dpdk-0"] and device.count == 7
    assert "request intel.com/sriov, which no node advertises" in device.message
    assert "2 Insufficient intel.com/sriov" in device.message
    assert "resourceName sriov and prefix intel.com" in device.fix
    assert "no device plugin DaemonSet runs in the cluster" in device.fix
    assert "NAD(s) t/sriov-net name it" in device.fix
    selector_f = found["unschedulable:selector"]
    assert selector_f.pods == ["t/picky", "t/picky-2"]
    assert selector_f.subject == "Node selection disktype=ssd"
    assert "no node has label disktype=ssd" in selector_f.message
    assert "kubernetes.io/os" not in selector_f.message  # every node has that label
    assert "kubectl label node <node> disktype=ssd" in selector_f.fix
    taints = found["unschedulable:taints"]
    assert taints.pods == ["t/db-0"]
    assert "worker-1: dedicated=db:NoSchedule" in taints.message
    assert "soft" not in taints.message  # PreferNoSchedule keeps no pod off
    assert "tolerations" in taints.fix
    cpu = found["unschedulable:resources"]
    assert cpu.pods == ["t/hungry"] and cpu.subject == "Resource cpu" and cpu.count == 4
    assert all(f.fix for f in found.values())
    assert "t/placed" not in {p for f in d.findings for p in f.pods}
    assert d.exit_code == 2
    assert "pods: t/dpdk-0" in format_text(d)


def test_tolerated_taints_and_other_namespaces_are_not_named() -> None:
    tainted = _node("worker-1", taints=[{"key": "dedicated", "value": "db",
                                         "effect": "NoSchedule"}])
    tolerant = _unplaced("db-1", TAINT_MSG, tolerations=[{"key": "dedicated",
                                                          "operator": "Exists"}])
    elsewhere = _unplaced("x", SRIOV_MSG, ns="other")
    d = diagnose(_snapshot([tolerant, elsewhere], [tainted, _node("worker-2", cordoned=True)]))
    [f] = [f for f in d.findings if f.check.startswith("unschedulable:")]
    assert f.check == "unschedulable:taints" and f.pods == ["t/db-1"]
    assert "dedicated" not in f.message  # tolerated: the taints found are none


def test_a_device_some_nodes_advertise_and_the_stack_pool_that_provides_it() -> None:
    nodes = [_node("worker-1", allocatable={"intel.com/sriov": "4"}), _node("worker-2")]
    d = diagnose(_snapshot([_sriov_pod()], nodes, device_pools={
        "intel.com/sriov": "pool 'sriov' of stack prod's sriov: (the SR-IOV network device "
                           "plugin in namespace kube-system)"},
        device_plugins=[{"metadata": {"name": "kube-sriov-device-plugin",
                                      "namespace": "kube-system"}}]))
    [f] = [f for f in d.findings if f.check == "unschedulable:device"]
    assert "1 node(s) advertise (worker-1: 4)" in f.message
    assert f.fix.startswith("intel.com/sriov is pool 'sriov' of stack prod's sriov:")
    assert "device plugin DaemonSet(s) in the cluster: kube-system/kube-sriov-device-plugin" \
        in f.fix


def test_the_prod_stack_names_its_sriov_pool() -> None:
    plan = build_plan(load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml"))
    pools = device_pools(plan, "prod")
    assert list(pools) == ["intel.com/sriov"]
    assert pools["intel.com/sriov"].startswith("pool 'sriov' of stack prod's sriov:")
    assert "feature.node.kubernetes.io/network-sriov.capable=true" in pools["intel.com/sriov"]


def test_scheduler_messages_parsed() -> None:
    total, reasons = parse_message(
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 Insufficient cpu, "
        "2 Insufficient memory. no new claims to deallocate, preemption: 0/3 nodes are "
        "available: 3 Preemption is not helpful for scheduling.")
    assert total == 3 and reasons == [Reason(1, "node(s) had untolerated taint(s)"),
                                      Reason(2, "Insufficient cpu"),
                                      Reason(2, "Insufficient memory")]
    older = causes("0/3 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/"
                   "master: }, that the pod didn't tolerate, 2 Insufficient intel.com/sriov.")
    assert [(c.id, c.key, c.reason.nodes) for c in older] == [
        ("taints", "", 1), ("device", "intel.com/sriov", 2)]
    main = primary(older)
    assert main is not None and main.id == "device"
    [other] = causes("0/2 nodes are available: pod has unbound immediate "
                     "PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 "
                     "Preemption is not helpful for scheduling.")
    assert other.id == "other" and other.reason == Reason(
        None, "pod has unbound immediate PersistentVolumeClaims")
    [pods] = causes("0/1 nodes are available: 1 Too many pods.")
    assert (pods.id, pods.key) == ("resources", "pods")


def test_affinity_no_node_meets_and_a_combination_no_node_has() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
            {"key": "kubernetes.io/os", "operator": "Exists"}]}]}}}
    by_affinity = _unplaced("zoned", SELECTOR_MSG, affinity=affinity)
    both = _unplaced("both", SELECTOR_MSG, nodeSelector={"kubernetes.io/hostname": "worker-1",
                                                         "kubernetes.io/os": "linux"},
                     affinity={"nodeAffinity": {
                         "requiredDuringSchedulingIgnoredDuringExecution": {
                             "nodeSelectorTerms": [{"matchFields": [
                                 {"key": "metadata.name", "operator": "In",
                                  "values": ["worker-2"]}]}]}}})
    d = diagnose(_snapshot([by_affinity, both]))
    found = {f.subject: f for f in d.findings if f.check == "unschedulable:selector"}
    zoned = found["Node selection affinity zone In [a, b]"]
    assert zoned.pods == ["t/zoned"] and "node affinity zone In [a, b]" in zoned.message
    combined = found["Node selection (combined)"]
    assert combined.pods == ["t/both"]
    assert "no node matches their node selector and node affinity together" in \
        combined.message
