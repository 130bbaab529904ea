"""``verify``'s comparison of live pods' network-status with the plan (pure)."""

from __future__ import annotations

import json
from typing import Any

from netplumb.args.stack import StackSpec
from netplumb.ops.attachments import (
    compare_pod,
    expected_of,
    facts_of,
    missing_pods,
    owners_of,
)
from netplumb.plan import build_plan

SPEC = {
    "networks": [
        {"name": "storage", "type": "macvlan", "master": "ens2f0", "mtu": 9000,
         "capabilities": {"ips": True},
         "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                  "rangeStart": "192.0.2.100", "rangeEnd": "192.0.2.150",
                  "gateway": "192.0.2.1"}},
        {"name": "fixed", "type": "macvlan", "master": "ens2f0",
         "capabilities": {"ips": True, "mac": True}, "ipam": {"type": "static"}},
    ],
    "pods": [
        {"name": "app", "networks": [{"name": "storage"},
                                     {"name": "fixed", "interface": "fx0",
                                      "ips": ["192.0.2.245/24"], "mac": "02:00:00:00:00:01"}]},
        {"name": "router", "networks": [{"name": "storage", "interface": "net1",
                                         "default-route": ["192.0.2.1"]}]},
    ],
    "workloads": [{"kind": "Deployment", "name": "web", "replicas": 2, "image": "web:1",
                   "networks": [{"name": "storage", "interface": "st0"}]}],
}


def _plan() -> Any:
    return build_plan(StackSpec.parse(SPEC))


def _pod(name: str, status: list[dict[str, Any]] | None, phase: str = "Running") -> dict[str, Any]:
    notes = {} if status is None else {"k8s.v1.cni.cncf.io/network-status": json.dumps(
        [{"name": "np-cluster", "interface": "eth0", "ips": ["198.51.100.9"], "default": True,
          "gateway": ["198.51.100.1"]}, *status])}
    return {"metadata": {"name": name, "namespace": "default", "annotations": notes},
            "spec": {"nodeName": "n0"}, "status": {"phase": phase}}


def _app_status(**over: Any) -> list[dict[str, Any]]:
    storage = {"name": "default/storage", "interface": "net1", "ips": ["192.0.2.101"],
               "mac": "0a:58:00:00:00:01", "mtu": 9000}
    fixed = {"name": "default/fixed", "interface": "fx0", "ips": ["192.0.2.245"],
             "mac": "02:00:00:00:00:01"}
    storage.update(over.get("storage", {}))
    fixed.update(over.get("fixed", {}))
    return [storage, fixed]


def _check(pod: dict[str, Any], owner_name: str = "app") -> list[Any]:
    plan = _plan()
    owner = next(o for o in owners_of(plan) if o.name == owner_name)
    return compare_pod(pod, str(owner), expected_of(owner), facts_of(plan))


def test_pod_as_planned() -> None:
    checks = _check(_pod("app", _app_status()))
    assert [(c.network, c.interface, c.ok) for c in checks] == [
        ("default/storage", "net1", True), ("default/fixed", "fx0", True)]
    assert checks[0].ips == ["192.0.2.101"] and checks[0].node == "n0"


def test_each_mismatch_is_named() -> None:
    checks = _check(_pod("app", _app_status(
        storage={"ips": ["192.0.2.9"], "mtu": 1500},
        fixed={"ips": ["192.0.2.246"], "mac": "02:00:00:00:00:02"})))
    assert checks[0].problems == ["addresses 192.0.2.9 outside the pool "
                                  "192.0.2.100-192.0.2.150", "MTU 1500, the network sets 9000"]
    assert checks[1].problems == ["requested addresses 192.0.2.245/24 missing (has "
                                  "192.0.2.246)", "MAC 02:00:00:00:00:02, requested "
                                                  "02:00:00:00:00:01"]


def test_missing_interface_and_missing_status() -> None:
    storage_only = _app_status()[:1]
    [ok, gone] = _check(_pod("app", storage_only))
    assert ok.ok and gone.problems == ["no fx0 in network-status"]
    renamed = [_app_status()[0], {**_app_status()[1], "interface": "net2"}]
    checks = _check(_pod("app", renamed))
    assert checks[1].problems == ["attached as net2, the plan asks fx0"]
    assert checks[2].notes == ["attached, but not in the plan"]  # net2 itself
    pending = _check(_pod("app", None, phase="Pending"))
    assert [c.problems for c in pending] == [["the pod is Pending"]] * 2
    no_status = _check(_pod("app", None))
    assert no_status[0].problems == ["no network-status annotation: Multus has not attached "
                                     "this pod"]


def test_default_route_request() -> None:
    entry = {"name": "default/storage", "interface": "net1", "ips": ["192.0.2.120"]}
    [c] = _check(_pod("router", [entry]), "router")
    assert c.ok and c.notes == ["default route via 192.0.2.1 requested (network-status shows "
                                "no routes: the probe checks it)"]
    [c] = _check(_pod("router", [{**entry, "gateway": ["192.0.2.254"]}]), "router")
    assert c.problems == ["default route requested via 192.0.2.1; Multus reports 192.0.2.254"]
    [c] = _check(_pod("router", [{**entry, "gateway": ["192.0.2.1"]}]), "router")
    assert c.ok and c.notes == ["default route via 192.0.2.1 requested"]


def test_workload_pods_counted() -> None:
    [web] = [o for o in owners_of(_plan()) if o.name == "web"]
    assert web.label_selector == "app.kubernetes.io/managed-by=netplumb,app=web"
    assert missing_pods(web, 1) == "1 of 2 pods exist"
    assert missing_pods(web, 2) is None
    [app] = [o for o in owners_of(_plan()) if o.name == "app"]
    assert missing_pods(app, 0) == "the pod does not exist"
