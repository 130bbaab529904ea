"""``multus.default_network: auto`` (the default): the cluster's own default network is used,
and Flannel is installed only where none runs; a cluster that cannot be read is a plan
error. Decided against the DaemonSets the program reads (a fixture stands in for them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.stack import StackSpec
from netplumb.components.cluster import (
    reset_daemonsets,
    resolve_default_network,
    use_daemonsets,
)
from netplumb.components.stack import NetplumbStack
from netplumb.ownership import OWNER_ANNOTATION
from netplumb.plan import build_plan
from netplumb.primary import find

from .pulumi_mocks import run_program


def _ds(name: str, namespace: str = "kube-system", image: str = "example.org/x:1",
        labels: dict[str, str] | None = None, owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    if owner:
        meta["annotations"] = {OWNER_ANNOTATION: owner}
    return {"metadata": meta, "spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": image}]}}}}


CALICO = _ds("calico-node", image="docker.io/calico/node:v3.28.0",
             labels={"k8s-app": "calico-node"})


@pytest.fixture
def cluster() -> Iterator[list[dict[str, Any]]]:
    items: list[dict[str, Any]] = []
    use_daemonsets(items)
    try:
        yield items
    finally:
        reset_daemonsets()


@pytest.mark.parametrize(("ds", "name"), [
    (CALICO, "Calico"),
    (_ds("node-agent", labels={"k8s-app": "cilium"}), "Cilium"),
    (_ds("net", image="quay.io/cilium/cilium:v1.16.0"), "Cilium"),
    (_ds("kube-flannel-ds", "kube-flannel"), "Flannel"),
    (_ds("weave-net"), "Weave Net"),
    (_ds("aws-node", image="602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1"),
     "Amazon VPC CNI"),
])
def test_well_known_default_networks_are_recognised(ds: dict[str, Any], name: str) -> None:
    [found] = find([ds])
    assert found.name == name


def test_kube_router_as_a_firewall_only_is_not_a_default_network() -> None:
    """kube-router with ``--run-router=false`` (its firewall beside another network, as
    netplumb's network_policy runs it) routes no pod; with its router it is the network."""
    firewall = _ds("kube-router", image="docker.io/cloudnativelabs/kube-router:v2.1.0")
    firewall["spec"]["template"]["spec"]["containers"][0]["args"] = [
        "--run-firewall=true", "--run-router=false", "--run-service-proxy=false"]
    assert find([firewall]) == []
    router = _ds("kube-router", image="docker.io/cloudnativelabs/kube-router:v2.1.0")
    router["spec"]["template"]["spec"]["containers"][0]["args"] = ["--run-router=true"]
    assert [p.name for p in find([router, firewall])] == ["kube-router"]


def test_other_daemonsets_are_not_default_networks() -> None:
    assert find([_ds("kube-multus-ds"), _ds("netplumb-node"), _ds("whereabouts"),
                 _ds("node-exporter", image="quay.io/prometheus/node-exporter:v1")]) == []


def test_auto_uses_a_running_default_network(cluster: list[dict[str, Any]]) -> None:
    cluster.append(CALICO)
    args = resolve_default_network(MultusInstallArgs(), "multus", "netplumb/team")
    assert args.default_network == "none" and not args.installs_flannel


def test_auto_installs_flannel_where_none_runs_or_keeps_its_own(
        cluster: list[dict[str, Any]]) -> None:
    assert resolve_default_network(MultusInstallArgs(), "m", "netplumb/p").installs_flannel
    cluster.append(_ds("kube-flannel-ds", "kube-flannel", owner="netplumb/p"))
    kept = resolve_default_network(MultusInstallArgs(), "m", "netplumb/p")
    assert kept.default_network == "flannel"
    # the same Flannel seen from another stack is the cluster's network, not its own
    other = resolve_default_network(MultusInstallArgs(), "m", "netplumb/team")
    assert other.default_network == "none"


def test_explicit_choices_are_not_second_guessed(cluster: list[dict[str, Any]]) -> None:
    cluster.append(CALICO)
    args = MultusInstallArgs(default_network="flannel")
    assert resolve_default_network(args, "m", "netplumb/p") is args


def test_a_cluster_that_cannot_be_read_is_a_plan_error() -> None:
    use_daemonsets(None)
    try:
        with pytest.raises(PlanError) as err:
            resolve_default_network(MultusInstallArgs(), "config.netplumb:spec.multus",
                                    "netplumb/p")
    finally:
        reset_daemonsets()
    assert err.value.path == "config.netplumb:spec.multus.default_network"
    assert "flannel" in str(err.value) and "none" in str(err.value)


def test_offline_plan_says_what_it_assumes() -> None:
    plan = build_plan(StackSpec.parse({"multus": {}}, at=("config", "netplumb:spec")))
    [w] = [f for f in plan.warnings if f.path.endswith("multus.default_network")]
    assert "decided at preview" in w.message
    explicit = build_plan(StackSpec.parse({"multus": {"default_network": "flannel"}}))
    assert not [f for f in explicit.warnings if "default_network" in f.path]


def test_a_stack_on_a_calico_cluster_installs_multus_and_no_flannel(
        cluster: list[dict[str, Any]]) -> None:
    cluster.append(CALICO)
    spec = StackSpec.parse({"multus": {}})
    mocks = run_program(lambda: NetplumbStack("calico", spec))
    types = {r.type for r in mocks.registered}
    assert "netplumb:index:MultusInstall" in types
    assert "netplumb:index:Flannel" not in types
    names = [r.name for r in mocks.registered]
    assert not [n for n in names if "flannel" in n], names
    [ds] = [r for r in mocks.of_type("kubernetes:apps/v1:DaemonSet")
            if r.name.endswith("multus-daemonset")]
    assert ds.inputs


def test_a_stack_on_an_empty_cluster_installs_flannel(cluster: list[dict[str, Any]]) -> None:
    mocks = run_program(lambda: NetplumbStack("empty", StackSpec.parse({"multus": {}})))
    assert "netplumb:index:Flannel" in {r.type for r in mocks.registered}
