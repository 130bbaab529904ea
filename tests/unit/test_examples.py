"""The example programs run under mocks and register what they say."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi

from .pulumi_mocks import Registered, run_program

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_storage_network_example() -> None:
    mocks = run_program(
        lambda: runpy.run_path(str(EXAMPLES / "storage_network/__main__.py")) and None)
    nads = {r.inputs["metadata"]["name"]: r.inputs
            for r in mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")}
    assert set(nads) == {"storage", "mgmt"}
    assert json.loads(nads["storage"]["spec"]["config"])["capabilities"] == {"ips": True}
    pods = mocks.of_type("kubernetes:core/v1:Pod")
    assert len(pods) == 1
    selections = json.loads(
        pods[0].inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selections == [
        {"name": "storage", "namespace": "default", "interface": "storage0",
         "ips": ["192.0.2.10/24"]},
        {"name": "mgmt", "namespace": "default", "interface": "mgmt0"},
    ]


def test_storage_network_example_uses_jumbo_frames() -> None:
    mocks = run_program(
        lambda: runpy.run_path(str(EXAMPLES / "storage_network/__main__.py")) and None)
    [storage] = [r.inputs for r in mocks.of_type(
        "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")
        if r.inputs["metadata"]["name"] == "storage"]
    config = json.loads(storage["spec"]["config"])
    assert (config["type"], config["mtu"], config["master"]) == ("macvlan", 9000, "ens2f0")


def test_multi_tenant_example() -> None:
    mocks = run_program(
        lambda: runpy.run_path(str(EXAMPLES / "multi_tenant/__main__.py")) and None)
    namespaces = {r.inputs["metadata"]["name"]
                  for r in mocks.of_type("kubernetes:core/v1:Namespace")}
    assert namespaces == {"team-a", "team-b"}
    quotas = {(r.inputs["metadata"]["namespace"], r.inputs["spec"]["hard"]["pods"])
              for r in mocks.of_type("kubernetes:core/v1:ResourceQuota")}
    assert quotas == {("team-a", "10"), ("team-b", "10")}
    policies = mocks.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert {r.inputs["metadata"]["namespace"] for r in policies} == {"team-a", "team-b"}
    roles = {r.inputs["metadata"]["name"]
             for r in mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")}
    assert roles == {"tenants-network-admin", "tenants-network-viewer"}
    nads = {(r.inputs["metadata"]["namespace"], json.loads(r.inputs["spec"]["config"])
             ["ipam"]["subnet"])
            for r in mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")}
    assert nads == {("team-a", "203.0.113.0/25"), ("team-b", "203.0.113.128/25")}
    pods = mocks.of_type("kubernetes:core/v1:Pod")
    assert sorted(p.inputs["metadata"]["namespace"] for p in pods) == ["team-a", "team-b"]
    for p in pods:
        [container] = p.inputs["spec"]["containers"]
        assert container["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}


def test_sriov_pool_example() -> None:
    mocks = run_program(
        lambda: runpy.run_path(str(EXAMPLES / "sriov_pool/__main__.py")) and None)
    [ds] = mocks.of_type("kubernetes:apps/v1:DaemonSet")
    assert ds.inputs["spec"]["template"]["spec"]["nodeSelector"] == {
        "feature.node.kubernetes.io/network-sriov.capable": "true"}
    [nad] = mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")
    assert nad.inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == \
        "intel.com/sriov_storage"
    assert json.loads(nad.inputs["spec"]["config"])["vlan"] == 100
    pods = mocks.of_type("kubernetes:core/v1:Pod")
    assert len(pods) == 2
    for p in pods:
        [container] = p.inputs["spec"]["containers"]
        assert container["resources"]["limits"]["intel.com/sriov_storage"] == "1"


def _monitoring(config: dict[str, str]) -> dict[str, Registered]:
    for key, value in config.items():
        pulumi.runtime.set_config(f"netplumb:{key}", value)
    try:
        mocks = run_program(
            lambda: runpy.run_path(str(EXAMPLES / "monitoring/__main__.py")) and None)
    finally:
        for key in config:
            pulumi.runtime.config.CONFIG.get().pop(f"netplumb:{key}", None)
    return {r.type.rsplit(":", 1)[-1]: r for r in mocks.registered
            if r.type.startswith("kubernetes:")}


def test_monitoring_example_labels_for_kube_prometheus_stack() -> None:
    objects = _monitoring({})
    assert set(objects) == {"Namespace", "Service", "ServiceMonitor", "PrometheusRule",
                            "ConfigMap"}
    for kind in ("ServiceMonitor", "PrometheusRule"):
        meta = objects[kind].inputs["metadata"]
        assert (meta["namespace"], meta["labels"]["release"]) == (
            "netplumb-monitoring", "kube-prometheus-stack")
    assert objects["Service"].inputs["metadata"]["namespace"] == "kube-system"
    assert objects["ConfigMap"].inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    rules = objects["PrometheusRule"].inputs["spec"]["groups"][0]["rules"]
    assert all(r["labels"]["team"] == "network" for r in rules)
    exprs = " ".join(r["expr"] for r in rules)
    assert "0.02" in exprs and "0.8" in exprs  # the example's thresholds, not the defaults


def test_monitoring_example_without_scraping_leaves_service_and_monitor_out() -> None:
    objects = _monitoring({"scrape": "false", "namespace": "team-obs"})
    assert set(objects) == {"Namespace", "PrometheusRule", "ConfigMap"}
    assert objects["PrometheusRule"].inputs["metadata"]["namespace"] == "team-obs"
