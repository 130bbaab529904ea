"""``netplumb check`` on quotas (issue P): what ResourceQuota admission is bound to refuse,
said at plan time at the key that causes it: the plan's pods past a quota (an error), and
containers without the compute resources a quota limits (a warning: a LimitRange may give
defaults)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.stack import StackSpec
from netplumb.checks.quotas import show_quantity
from netplumb.errors import Finding
from netplumb.plan import build_plan

J = dict[str, Any]
AT = ("config", "netplumb:spec")
S = "config.netplumb:spec"
Q = f"{S}.guardrails.quotas[0]"

SEED_QUOTA: J = {"name": "multus-quota", "namespace": "team", "requests_cpu": "4",
                 "requests_memory": "8Gi", "limits_cpu": "8", "limits_memory": "16Gi",
                 "devices": {"intel.com/sriov": 4}}
SMALL: J = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
SRIOV_NET: J = {"name": "vf", "namespace": "team", "type": "sriov",
                "resource_name": "intel.com/sriov", "ipam": {"type": "static"}}


def workload(name: str, replicas: int, resources: J | None = None, **more: Any) -> J:
    return {"kind": "Deployment", "name": name, "namespace": "team", "image": "app:1",
            "replicas": replicas, "resources": resources or SMALL, **more}


def spec_of(quota: J | None = None, **keys: Any) -> StackSpec:
    return StackSpec.parse({"guardrails": {"rbac": None, "quotas": [quota or SEED_QUOTA]},
                            **keys}, at=AT)


def errors_of(spec: StackSpec) -> list[Finding]:
    with pytest.raises(PlanError) as err:
        build_plan(spec, root=AT)
    return err.value.findings


def test_pods_within_the_quota_pass() -> None:
    plan = build_plan(spec_of(workloads=[workload("a", 4)]), root=AT)  # 4 cpu, 8Gi, 8, 16Gi
    assert plan.findings == []


def test_requests_past_the_quota_are_an_error_at_its_key() -> None:
    found = errors_of(spec_of(workloads=[workload("a", 3), workload("b", 2)]))
    paths = sorted(f.path for f in found)
    assert paths == [f"{Q}.limits_cpu", f"{Q}.limits_memory", f"{Q}.requests_cpu",
                     f"{Q}.requests_memory"]
    [cpu] = [f for f in found if f.path == f"{Q}.requests_cpu"]
    assert cpu.value == "4"
    assert "quota team/multus-quota allows 4 of requests.cpu" in cpu.message
    assert "count 5 (largest: config.netplumb:spec.workloads[0] ×3 at 1, " in cpu.message
    assert "exceeded quota" in cpu.message
    [mem] = [f for f in found if f.path == f"{Q}.requests_memory"]
    assert "count 5Gi" not in mem.message and "count 10Gi" in mem.message


def test_a_limit_alone_counts_as_the_request() -> None:
    only_limits = {"limits": {"cpu": "3", "memory": "1Gi"}}
    found = errors_of(spec_of(workloads=[workload("a", 2, only_limits)]))
    assert sorted(f.path for f in found) == [f"{Q}.requests_cpu"]


def test_device_requests_netplumb_adds_count_against_the_devices_key() -> None:
    spec = spec_of(networks=[SRIOV_NET],
                   workloads=[workload("dpdk", 5, networks=[{"name": "vf"}],
                                       resources={"requests": {"cpu": "100m",
                                                               "memory": "64Mi"},
                                                  "limits": {"cpu": "100m",
                                                             "memory": "64Mi"}})])
    [found] = errors_of(spec)
    assert found.path == f"{Q}.devices.intel.com/sriov"
    assert "allows 4 of requests.intel.com/sriov" in found.message
    assert "count 5 " in found.message


def test_pods_and_extra_keys() -> None:
    quota = {"name": "q", "namespace": "team", "pods": 2, "extra": {"limits.cpu": "1"}}
    pods = [{"name": f"p{i}", "namespace": "team", "resources": SMALL} for i in range(3)]
    found = errors_of(spec_of(quota, pods=pods))
    assert sorted(f.path for f in found) == [f"{Q}.extra.limits.cpu", f"{Q}.pods"]


def test_other_namespaces_do_not_count() -> None:
    plan = build_plan(spec_of(workloads=[{**workload("a", 9), "namespace": "elsewhere"}]),
                      root=AT)
    assert plan.findings == []


def test_a_container_without_the_resources_the_quota_limits_is_warned_about() -> None:
    bare = {"kind": "Deployment", "name": "bare", "namespace": "team", "image": "app:1"}
    plan = build_plan(spec_of(workloads=[bare, workload("ok", 1)]), root=AT)
    [warning] = plan.warnings
    assert warning.path == f"{S}.workloads[0].resources"
    assert "must specify limits.cpu, limits.memory, requests.cpu, requests.memory" in (
        warning.message)
    assert "LimitRange" in warning.message


def test_only_the_compute_keys_of_the_quota_are_required() -> None:
    quota = {"name": "q", "namespace": "team", "requests_cpu": "2",
             "devices": {"intel.com/sriov": 4}}
    pod = {"name": "p", "namespace": "team", "resources": {"limits": {"memory": "1Gi"}}}
    [warning] = build_plan(spec_of(quota, pods=[pod]), root=AT).warnings
    assert "must specify requests.cpu)" in warning.message


def test_the_prod_stack_is_told_its_dpdk_app_has_no_cpu_or_memory() -> None:
    from pathlib import Path

    from netplumb.args.stack import load_stack_file

    prod = load_stack_file(Path(__file__).parents[2] / "stacks/Pulumi.prod.yaml")
    quota = [w for w in build_plan(prod).warnings if "ResourceQuota admission" in w.message]
    assert [w.path for w in quota] == ["config.netplumb:spec.workloads[1].resources"]


@pytest.mark.parametrize(("value", "key", "shown"), [
    (Fraction(4), "requests.cpu", "4"), (Fraction(3, 2), "limits.cpu", "1500m"),
    (Fraction(10 * 2**30), "requests.memory", "10Gi"), (Fraction(3 * 2**20), "limits.memory",
                                                         "3Mi"),
    (Fraction(1000), "requests.memory", "1000")])
def test_quantities_are_shown_as_kubernetes_writes_them(value: Fraction, key: str,
                                                        shown: str) -> None:
    assert show_quantity(value, key) == shown
