"""The example programs run under mocks and register what they say."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from .pulumi_mocks import run_program

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
