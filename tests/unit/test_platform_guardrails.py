"""NetworkGuardrails: the guide's NetworkPolicy and ResourceQuota, MultiNetworkPolicy,
network RBAC and PodSecurity labels."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from netplumb import PlanError
from netplumb.args.flannel import FlannelArgs
from netplumb.args.guardrails import (
    MultiNetworkPolicyArgs,
    NetworkGuardrailsArgs,
    NetworkPolicyArgs,
    NetworkRbacArgs,
    PodSecurityArgs,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    QuotaArgs,
)
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.sriov import SriovPoolArgs
from netplumb.checks.selections import check_policy_targets
from netplumb.components.guardrails import NetworkGuardrails
from netplumb.render.crds import multi_network_policy_crd, service_monitor_crd
from netplumb.render.flannel import flannel_manifests
from netplumb.render.guardrails import (
    POLICY_FOR_ANNOTATION,
    guardrail_manifests,
    multi_network_policy,
    network_policy,
    pod_security_namespace,
    rbac_manifests,
    resource_quota,
)
from netplumb.render.multus import multus_manifests
from netplumb.render.sriov import sriov_manifests

from .pulumi_mocks import run_program
from .test_platform_flannel import refused

SEED_NETWORK_POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: multus-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      app: multus-app
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - podSelector:
        matchLabels:
          app: allowed
    ports:
    - protocol: TCP
      port: 80
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: database
    ports:
    - protocol: TCP
      port: 5432
"""
SEED_RESOURCE_QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata:
  name: multus-quota
  namespace: default
spec:
  hard:
    requests.cpu: "4"
    requests.memory: 8Gi
    limits.cpu: "8"
    limits.memory: 16Gi
    # SR-IOV resources
    intel.com/sriov: "4"
"""

SEED_POLICY_ARGS = NetworkPolicyArgs(
    name="multus-network-policy", pod_selector={"app": "multus-app"},
    policy_types=["Ingress", "Egress"],
    ingress=[PolicyRule(peers=[PolicyPeer(pod_selector={"app": "allowed"})],
                        ports=[PolicyPort(protocol="TCP", port=80)])],
    egress=[PolicyRule(peers=[PolicyPeer(pod_selector={"app": "database"})],
                       ports=[PolicyPort(port=5432)])])
SEED_QUOTA_ARGS = QuotaArgs(name="multus-quota", requests_cpu="4", requests_memory="8Gi",
                            limits_cpu="8", limits_memory="16Gi",
                            devices={"intel.com/sriov": 4})


def seed(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def test_seed_network_policy() -> None:
    guide = seed(SEED_NETWORK_POLICY)
    made = network_policy(SEED_POLICY_ARGS)
    assert made["apiVersion"] == guide["apiVersion"] and made["kind"] == guide["kind"]
    assert {k: made["metadata"][k] for k in ("name", "namespace")} == guide["metadata"]
    assert made["spec"] == guide["spec"]


def test_policy_types_default_like_kubernetes() -> None:
    only_in = NetworkPolicyArgs(name="p", ingress=[PolicyRule()])
    assert network_policy(only_in)["spec"]["policyTypes"] == ["Ingress"]
    deny_all = network_policy(NetworkPolicyArgs(name="deny", policy_types=["Ingress",
                                                                            "Egress"]))
    assert deny_all["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_seed_resource_quota_with_sriov_counted_where_kubernetes_counts_it() -> None:
    guide = seed(SEED_RESOURCE_QUOTA)
    made = resource_quota(SEED_QUOTA_ARGS)
    assert {k: made["metadata"][k] for k in ("name", "namespace")} == guide["metadata"]
    hard = dict(guide["spec"]["hard"])
    # The guide's bare `intel.com/sriov` is accepted by the apiserver but never counted:
    # the quota evaluator records extended resources as requests.<name> only.
    hard["requests.intel.com/sriov"] = hard.pop("intel.com/sriov")
    assert made["spec"]["hard"] == hard
    with pytest.raises(PlanError) as err:
        QuotaArgs.parse({"name": "q", "extra": {"intel.com/sriov": "4"}})
    assert err.value.paths == ["extra.intel.com/sriov"]
    assert "never enforced" in str(err.value)


@pytest.mark.parametrize(("data", "path"), [
    ({"name": "q", "devices": {"requests.intel.com/sriov": 4}}, "devices.requests.intel.com/sriov"),
    ({"name": "q", "devices": {"sriov": 4}}, "devices.sriov"),
    ({"name": "q", "devices": {"kubernetes.io/x": 1}}, "devices.kubernetes.io/x"),
    ({"name": "q", "requests_cpu": "four"}, "requests_cpu"),
    ({"name": "q"}, "<root>"),
    ({"name": "Q", "pods": 1}, "name"),
])
def test_invalid_quota(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PlanError) as err:
        QuotaArgs.parse(data)
    assert err.value.paths == [path]


def test_multi_network_policy_names_its_nads() -> None:
    args = MultiNetworkPolicyArgs.parse({
        "name": "storage-only", "namespace": "default", "pod_selector": {"app": "db"},
        "policy_for": ["macvlan-conf", "storage/storage"],
        "ingress": [{"peers": [{"ip_block": {"cidr": "172.17.9.0/24",
                                             "except": ["172.17.9.240/28"]}}],
                     "ports": [{"port": 3260}]}]})
    made = multi_network_policy(args)
    assert made["apiVersion"] == "k8s.cni.cncf.io/v1beta1"
    assert made["kind"] == "MultiNetworkPolicy"
    assert made["metadata"]["annotations"] == {
        POLICY_FOR_ANNOTATION: "macvlan-conf,storage/storage"}
    assert made["spec"]["ingress"] == [{
        "from": [{"ipBlock": {"cidr": "172.17.9.0/24", "except": ["172.17.9.240/28"]}}],
        "ports": [{"protocol": "TCP", "port": 3260}]}]
    assert args.targets() == ["default/macvlan-conf", "storage/storage"]
    g = NetworkGuardrailsArgs(multi_network_policies=[args])
    [f] = check_policy_targets(g, {"default/macvlan-conf"})
    assert f.path == "multi_network_policies[0].policy_for[1]"
    assert "protects nothing" in f.message
    assert check_policy_targets(g, {"default/macvlan-conf", "storage/storage"}) == []


@pytest.mark.parametrize(("data", "path"), [
    ({"name": "p", "policy_for": []}, "policy_for"),
    ({"name": "p", "policy_for": ["Bad Name"]}, "policy_for[0]"),
    ({"name": "p", "policy_for": ["a"], "egress": [{"peers": [{}]}]}, "egress[0].peers[0]"),
    ({"name": "p", "policy_for": ["a"], "ingress": [{"peers": [
        {"pod_selector": {}, "ip_block": {"cidr": "10.0.0.0/8"}}]}]},
     "ingress[0].peers[0].ip_block"),
    ({"name": "p", "policy_for": ["a"], "ingress": [{"peers": [
        {"ip_block": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}]},
     "ingress[0].peers[0].ip_block.except[0]"),
    ({"name": "p", "policy_for": ["a"], "egress": [{}], "policy_types": ["Ingress"]},
     "policy_types"),
    ({"name": "p", "policy_for": ["a"], "ingress": [{"ports": [{"port": 0}]}]},
     "ingress[0].ports[0].port"),
    ({"name": "p", "policy_for": ["a"], "ingress": [{"ports": [{"port": "80"}]}]},
     "ingress[0].ports[0].port"),
])
def test_invalid_policies(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PlanError) as err:
        MultiNetworkPolicyArgs.parse(data)
    assert err.value.paths == [path]


def test_network_admin_alone_may_write_nads() -> None:
    rbac = NetworkRbacArgs.parse({"bindings": [
        {"role": "admin", "subjects": [{"kind": "Group", "name": "network-admins"}]},
        {"role": "viewer", "namespace": "team-a",
         "subjects": [{"kind": "Group", "name": "team-a"},
                      {"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"}]}]})
    made = rbac_manifests(rbac)
    everything = (made + flannel_manifests(FlannelArgs()) + multus_manifests(MultusInstallArgs())
                  + sriov_manifests(SriovPoolArgs.parse(
                      {"pools": [{"resource_name": "sriov", "selectors": {"vendors": ["8086"]}}]})))

    def writes_nads(role: dict[str, Any]) -> bool:
        return any(("k8s.cni.cncf.io" in r["apiGroups"] or "*" in r["apiGroups"])
                   and ({"network-attachment-definitions", "*"} & set(r["resources"]))
                   and ({"create", "update", "patch", "*"} & set(r["verbs"]))
                   for r in role.get("rules", []))

    writers = sorted(m["metadata"]["name"] for m in everything
                     if m["kind"] in ("ClusterRole", "Role") and writes_nads(m))
    # of every role netplumb deploys (Flannel, Multus, SR-IOV, guardrails), only the
    # network admin role writes NADs: Multus reads them
    assert writers == ["netplumb-network-admin"]
    by_name = {m["metadata"]["name"]: m for m in made}
    viewer = by_name["netplumb-network-viewer"]
    assert viewer["rules"] == [{"apiGroups": ["k8s.cni.cncf.io"],
                                "resources": ["network-attachment-definitions",
                                              "multi-networkpolicies"],
                                "verbs": ["get", "list", "watch"]}]
    admin_binding = by_name["netplumb-network-admin-cluster-0"]
    assert admin_binding["kind"] == "ClusterRoleBinding"
    assert admin_binding["subjects"] == [{"kind": "Group", "name": "network-admins",
                                          "apiGroup": "rbac.authorization.k8s.io"}]
    tenant = by_name["netplumb-network-viewer-team-a-1"]
    assert tenant["kind"] == "RoleBinding" and tenant["metadata"]["namespace"] == "team-a"
    assert tenant["roleRef"]["name"] == "netplumb-network-viewer"
    assert {"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"} in tenant["subjects"]


def test_bindings_are_named_after_the_roles_they_bind() -> None:
    """Two stacks with their own role names never share a binding (nor take one over)."""
    rbac = NetworkRbacArgs.parse({"admin_role": "tenants-network-admin", "bindings": [
        {"role": "admin", "subjects": [{"kind": "Group", "name": "network-admins"}]},
        {"role": "admin", "name": "ops-admins",
         "subjects": [{"kind": "Group", "name": "ops"}]}]})
    names = [m["metadata"]["name"] for m in rbac_manifests(rbac)
             if m["kind"] == "ClusterRoleBinding"]
    assert names == ["tenants-network-admin-cluster-0", "ops-admins"]


def test_viewer_can_aggregate_into_view() -> None:
    rbac = NetworkRbacArgs(aggregate_viewer_to_view=True)
    viewer = rbac_manifests(rbac)[1]
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"


@pytest.mark.parametrize(("data", "path"), [
    ({"role": "owner", "subjects": [{"kind": "User", "name": "a"}]}, "role"),
    ({"role": "admin", "subjects": []}, "subjects"),
    ({"role": "admin", "subjects": [{"kind": "ServiceAccount", "name": "a"}]},
     "subjects[0].namespace"),
    ({"role": "admin", "subjects": [{"kind": "User", "name": "a", "namespace": "x"}]},
     "subjects[0].namespace"),
])
def test_invalid_bindings(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PlanError) as err:
        NetworkRbacArgs.parse({"bindings": [data]})
    assert err.value.paths == [f"bindings[0].{path}"]


def test_pod_security_labels() -> None:
    ns = pod_security_namespace(PodSecurityArgs(namespace="tenants", enforce="restricted",
                                                warn="restricted", audit="baseline"))
    assert ns["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest"}
    with pytest.raises(PlanError) as err:
        PodSecurityArgs.parse({"namespace": "x", "enforce": "strict"})
    assert err.value.paths == ["enforce"]


def test_minimal_crds() -> None:
    mnp = multi_network_policy_crd()
    assert mnp["metadata"]["name"] == "multi-networkpolicies.k8s.cni.cncf.io"
    [v] = mnp["spec"]["versions"]
    assert v["name"] == "v1beta1" and v["served"] and v["storage"]
    spec = v["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["podSelector"]  # the full schema: tests/unit/test_policy_crd.py
    smon = service_monitor_crd()
    assert smon["metadata"]["name"] == "servicemonitors.monitoring.coreos.com"
    assert smon["spec"]["names"]["kind"] == "ServiceMonitor"


GUARDRAILS = NetworkGuardrailsArgs.parse({
    "quotas": [SEED_QUOTA_ARGS.model_dump(exclude_unset=True)],
    "network_policies": [SEED_POLICY_ARGS.model_dump(exclude_unset=True)],
    "multi_network_policies": [{"name": "storage", "policy_for": ["macvlan-conf"],
                                "pod_selector": {"app": "db"}, "policy_types": ["Ingress"]}],
    "install_multi_network_policy_crd": True,
    "rbac": {"bindings": [{"role": "admin",
                           "subjects": [{"kind": "Group", "name": "net-admins"}]}]},
    "pod_security": [{"namespace": "default", "enforce": "baseline"},
                     {"namespace": "tenant-a", "enforce": "restricted", "create": True}],
})


def test_component_registers_every_guardrail() -> None:
    mocks = run_program(lambda: NetworkGuardrails("guard", GUARDRAILS))
    types = [r.type for r in mocks.registered]
    assert types[0] == "netplumb:index:NetworkGuardrails"
    assert sorted(types[1:]) == sorted([
        "kubernetes:core/v1:NamespacePatch", "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ResourceQuota", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:k8s.cni.cncf.io/v1beta1:MultiNetworkPolicy",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"])
    [quota] = mocks.of_type("kubernetes:core/v1:ResourceQuota")
    assert quota.inputs["spec"]["hard"]["requests.intel.com/sriov"] == "4"
    [patch] = mocks.of_type("kubernetes:core/v1:NamespacePatch")
    assert patch.inputs["metadata"]["name"] == "default"
    assert all(r.name.startswith("guard-") for r in mocks.registered[1:])
    assert guardrail_manifests(GUARDRAILS)[0]["kind"] == "Namespace"


def test_component_checks_policy_targets_and_registers_nothing_when_wrong() -> None:
    err, mocks = refused(lambda: NetworkGuardrails("guard", GUARDRAILS,
                                                   known_networks={"default/other"}))
    assert err.paths == ["multi_network_policies[0].policy_for[0]"]
    assert mocks.registered == []
    ok = run_program(lambda: NetworkGuardrails("guard", GUARDRAILS,
                                               known_networks={"default/macvlan-conf"}))
    assert ok.of_type("kubernetes:k8s.cni.cncf.io/v1beta1:MultiNetworkPolicy")


def test_invalid_component_input_registers_nothing() -> None:
    bad = NetworkGuardrailsArgs.model_construct(
        quotas=[QuotaArgs.model_construct(name="q", devices={"intel.com/sriov": -1})])
    err, mocks = refused(lambda: NetworkGuardrails("guard", bad))
    assert err.paths == ["quotas[0].devices.intel.com/sriov"]
    assert mocks.registered == []


def test_duplicate_names_refused() -> None:
    with pytest.raises(PlanError) as err:
        NetworkGuardrailsArgs.parse({"quotas": [{"name": "q", "pods": 1},
                                                {"name": "q", "pods": 2}]})
    assert err.value.paths == ["quotas[1].name"]
