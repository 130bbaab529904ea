"""host-local on a segment the nodes share, used by pods on several nodes: a warning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netplumb import parse_cni_config
from netplumb.args.pod import PodArgs
from netplumb.args.stack import StackSpec
from netplumb.args.workload import WorkloadArgs
from netplumb.checks.ipam_scope import check_node_local_ipam
from netplumb.cni.selection import NetworkSelection
from netplumb.plan import PlannedNetwork, build_plan, workload_of, workload_of_pod

HOST_LOCAL = {"type": "host-local", "subnet": "192.0.2.0/24"}
WHEREABOUTS = {"type": "whereabouts", "range": "192.0.2.0/24"}


def network(plugin: dict[str, Any], ipam: dict[str, Any], name: str = "n") -> PlannedNetwork:
    conf = {"cniVersion": "1.0.0", "name": name, **plugin, "ipam": ipam}
    return PlannedNetwork(name, "default", parse_cni_config(json.dumps(conf)),
                          where=f"networks.{name}")


MACVLAN = {"type": "macvlan", "master": "eth1"}


def deployment(replicas: int, kind: str = "Deployment",
               node_selector: dict[str, str] | None = None) -> Any:
    args = WorkloadArgs(kind=kind, name="app", image="busybox:1.36",
                        replicas=replicas, node_selector=node_selector or {},
                        networks=[NetworkSelection(name="n")])
    return workload_of("workloads[0]", args)


@pytest.mark.parametrize("plugin", [
    MACVLAN,
    {"type": "ipvlan", "master": "eth1"},
    {"type": "vlan", "master": "eth1", "vlanId": 10},
    {"type": "sriov"},
])
def test_spread_workload_on_shared_segment_warns(plugin: dict[str, Any]) -> None:
    [f] = check_node_local_ipam([network(plugin, HOST_LOCAL)], [deployment(3)])
    assert f.severity == "warning"
    assert f.path == "networks.n.ipam"
    assert f.value == "host-local"
    for part in ("network default/n", plugin["type"], "allocates per node", "workloads[0] ×3",
                 "whereabouts"):
        assert part in f.message, (part, f.message)


def test_daemonset_spreads_even_with_one_replica() -> None:
    assert check_node_local_ipam([network(MACVLAN, HOST_LOCAL)], [deployment(1, "DaemonSet")])


def _pod(i: int, node: str | None = None) -> Any:
    selector = {"kubernetes.io/hostname": node} if node else {}
    return workload_of_pod(f"pods[{i}]", PodArgs(name=f"p{i}", node_selector=selector,
                                                 networks=[NetworkSelection(name="n")]))


@pytest.mark.parametrize(("net", "users"), [
    (network(MACVLAN, HOST_LOCAL), [deployment(1)]),                      # one pod
    (network(MACVLAN, HOST_LOCAL),
     [deployment(3, node_selector={"kubernetes.io/hostname": "n1"})]),   # pinned to a node
    (network(MACVLAN, WHEREABOUTS), [deployment(3)]),                     # cluster-wide IPAM
    (network({"type": "bridge", "bridge": "br0"}, HOST_LOCAL), [deployment(3)]),  # node-local
    (network(MACVLAN, HOST_LOCAL), [_pod(0)]),                            # one bare pod
    (network(MACVLAN, HOST_LOCAL), [_pod(i, "n1") for i in range(5)]),   # pinned to one node
])
def test_quiet_where_no_address_can_repeat(net: PlannedNetwork, users: list[Any]) -> None:
    assert check_node_local_ipam([net], users) == []


@pytest.mark.parametrize("users", [
    [_pod(i) for i in range(3)],                 # unpinned bare pods: any two nodes
    [_pod(0, "n1"), _pod(1)],                    # one pinned, one free to go elsewhere
    [_pod(0, "n1"), _pod(1, "n2")],              # pinned to two nodes
])
def test_bare_pods_that_can_land_on_two_nodes_warn(users: list[Any]) -> None:
    """Two bare pods on one host-local range, scheduled to two nodes, get the same address
    (shown on two real nodes in tests/e2e/test_multinode.py)."""
    [f] = check_node_local_ipam([network(MACVLAN, HOST_LOCAL)], users)
    assert f.path == "networks.n.ipam" and "pods[0]" in f.message and "pods[1]" in f.message


def test_one_warning_per_network_naming_every_workload() -> None:
    other = WorkloadArgs(name="db", image="busybox:1.36", replicas=2,
                         networks=[NetworkSelection(name="n")])
    [f] = check_node_local_ipam([network(MACVLAN, HOST_LOCAL)],
                                [deployment(3), workload_of("workloads[1]", other)])
    assert "workloads[0] ×3" in f.message and "workloads[1] ×2" in f.message


def test_build_plan_carries_it() -> None:
    data = {
        "networks": [{"type": "ipvlan", "name": "mgmt", "master": "eth2",
                      "ipam": {"type": "host-local", "subnet": "203.0.113.0/24"}}],
        "workloads": [{"kind": "Deployment", "name": "app", "image": "busybox:1.36",
                       "replicas": 2, "networks": [{"name": "mgmt"}]}],
    }
    plan = build_plan(StackSpec.parse(data, at=("config", "netplumb:spec")))
    [w] = [f for f in plan.warnings if "allocates per node" in f.message]
    assert w.path == "config.netplumb:spec.networks[0].ipam"
