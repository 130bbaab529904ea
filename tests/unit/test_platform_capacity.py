"""Capacity: pods and replicas declared against a network must fit its address pool."""

from __future__ import annotations

import json
import random

from netplumb import parse_cni_config
from netplumb.checks.capacity import check_capacity, pool_capacity
from netplumb.checks.selections import check_selections
from netplumb.cni.selection import NetworkSelection
from netplumb.plan import PlannedNetwork, Workload

from .test_seed_nads import SEED_MACVLAN


def network(name: str, ipam: dict[str, object], namespace: str = "default") -> PlannedNetwork:
    conf = {"cniVersion": "1.0.0", "name": name, "type": "macvlan", "master": "eth1",
            "ipam": ipam}
    return PlannedNetwork(name, namespace, parse_cni_config(json.dumps(conf)),
                          where=f"networks.{name}")


# 10.0.0.11-10.0.0.30: 20 addresses (the gateway .1 is outside the range)
TWENTY = network("storage", {"type": "host-local", "subnet": "10.0.0.0/24",
                             "rangeStart": "10.0.0.11", "rangeEnd": "10.0.0.30"})


def pods(n: int, name: str = "storage", replicas: int = 1) -> list[Workload]:
    return [Workload(f"pods[{i}]", "default", [NetworkSelection(name=name)], replicas)
            for i in range(n)]


def test_85_percent_warns() -> None:
    [f] = check_capacity([TWENTY], pods(17))
    assert f.severity == "warning"
    assert f.path == "networks.storage.ipam"
    for part in ("network default/storage", "demand 17", "pool of size 20",
                 "10.0.0.11-10.0.0.30", "85% used"):
        assert part in f.message


def test_below_80_percent_is_quiet_and_80_warns() -> None:
    assert check_capacity([TWENTY], pods(15)) == []
    [f] = check_capacity([TWENTY], pods(16))
    assert f.severity == "warning" and "80% used" in f.message


def test_above_100_percent_fails_naming_network_pool_and_demand() -> None:
    [f] = check_capacity([TWENTY], pods(7, replicas=3))
    assert f.severity == "error"
    assert f.value == 21
    for part in ("network default/storage", "demand 21", "pool of size 20", "exceeds it by 1",
                 "pods[0] ×3"):
        assert part in f.message
    assert check_capacity([TWENTY], pods(20))[0].severity == "warning"  # exactly full


def test_seed_macvlan_pool_is_eleven_addresses() -> None:
    seed = PlannedNetwork("macvlan-conf", "default", parse_cni_config(SEED_MACVLAN))
    cap = pool_capacity(seed.config)
    assert cap is not None and cap.size == 11  # .240-.250, gateway .1 outside
    [f] = check_capacity([seed], [Workload("deploy/web", "default",
                                           [NetworkSelection(name="macvlan-conf")], 12)])
    assert f.severity == "error" and "pool of size 11" in f.message and "demand 12" in f.message


def test_range_sets_take_the_smallest_and_ranges_in_a_set_add_up() -> None:
    dual = network("dual", {"type": "host-local", "ranges": [
        [{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10", "rangeEnd": "10.1.0.19"},
         {"subnet": "10.2.0.0/24", "rangeStart": "10.2.0.10", "rangeEnd": "10.2.0.14"}],
        [{"subnet": "fd00::/120", "rangeStart": "fd00::10", "rangeEnd": "fd00::1b"}]]})
    cap = pool_capacity(dual.config)
    assert cap is not None and cap.size == 12  # v4 set: 10 + 5, v6 set: 12
    [f] = check_capacity([dual], pods(13, "dual"))
    assert f.severity == "error" and "pool of size 12" in f.message


def test_gateway_and_exclusions_are_not_addresses() -> None:
    gw_inside = network("gw", {"type": "host-local", "subnet": "10.3.0.0/28"})
    cap = pool_capacity(gw_inside.config)
    assert cap is not None and cap.size == 13  # .1-.14 minus gateway .1
    wb = network("wb", {"type": "whereabouts", "range": "10.4.0.0/28",
                        "exclude": ["10.4.0.0/30"]})
    cap = pool_capacity(wb.config)
    assert cap is not None and cap.size == 11  # .1-.14 minus .1-.3


def test_unsizable_and_external_networks_are_skipped() -> None:
    static = network("static", {"type": "static"})
    dhcp = network("dhcp", {"type": "dhcp"})
    assert pool_capacity(static.config) is None
    assert check_capacity([static, dhcp], pods(500, "static") + pods(500, "dhcp")) == []
    ext = PlannedNetwork("storage", "default", TWENTY.config, external=True)
    assert check_capacity([ext], pods(50)) == []


def test_each_selection_counts_and_namespaces_are_kept_apart() -> None:
    twice = [Workload("pods[0]", "default", [NetworkSelection(name="storage", interface="a"),
                                             NetworkSelection(name="storage", interface="b")],
                      9)]
    [f] = check_capacity([TWENTY], twice)
    assert "demand 18" in f.message
    other_ns = [Workload("pods[0]", "team", [NetworkSelection(name="storage")], 30)]
    assert check_capacity([TWENTY], other_ns) == []


def big_plan(n_networks: int, n_pods: int, per_pod: int = 3
             ) -> tuple[list[PlannedNetwork], list[Workload]]:
    rng = random.Random(7)
    nets = []
    for i in range(n_networks):
        conf = {"cniVersion": "1.0.0", "name": f"net-{i}", "type": "macvlan",
                "master": f"ens{i // 50}",
                "ipam": {"type": "host-local",
                         "ranges": [[{"subnet": f"10.{i // 256}.{i % 256}.0/24"}]]}}
        nets.append(PlannedNetwork(f"net-{i}", "default", parse_cni_config(json.dumps(conf)),
                                   where=f"networks[{i}]"))
    work = []
    for j in range(n_pods):
        picks = rng.sample(range(n_networks), per_pod)
        work.append(Workload(f"pods[{j}]", "default",
                             [NetworkSelection(name=f"net-{k}", interface=f"net{m + 1}")
                              for m, k in enumerate(picks)], 1))
    return nets, work


def test_500_networks_5000_pods_check_clean() -> None:
    """The plan bench/plan_pods.py times: it checks clean (timings live in the bench)."""
    nets, work = big_plan(500, 5000)
    assert check_selections(nets, work) + check_capacity(nets, work) == []
