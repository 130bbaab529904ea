"""Quotas, policies, network RBAC and PodSecurity labels around the networks."""

from __future__ import annotations

from typing import Any

from ..args.guardrails import (
    MultiNetworkPolicyArgs,
    NetworkGuardrailsArgs,
    NetworkPolicyArgs,
    NetworkRbacArgs,
    PodSecurityArgs,
    QuotaArgs,
    RoleBindingArgs,
)
from .crds import MULTI_NETWORK_POLICY_API_VERSION, MULTI_NETWORK_POLICY_KIND
from .nad import MANAGED_BY, NAD_GROUP, NAD_PLURAL

POLICY_FOR_ANNOTATION = "k8s.v1.cni.cncf.io/policy-for"
RBAC_API = "rbac.authorization.k8s.io/v1"
_NETWORK_RESOURCES = [NAD_PLURAL, "multi-networkpolicies"]
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]
_READ = ["get", "list", "watch"]


def resource_quota(q: QuotaArgs) -> dict[str, Any]:
    """The quota; device resources under ``requests.<resource>`` (the only key Kubernetes
    counts them under)."""
    hard: dict[str, str] = {}
    for key, value in (("requests.cpu", q.requests_cpu), ("requests.memory", q.requests_memory),
                       ("limits.cpu", q.limits_cpu), ("limits.memory", q.limits_memory)):
        if value is not None:
            hard[key] = str(value)
    if q.pods is not None:
        hard["pods"] = str(q.pods)
    for res, n in q.devices.items():
        hard[f"requests.{res}"] = str(n)
    for key, v in q.extra.items():
        hard[key] = str(v)
    return {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": q.name, "namespace": q.namespace, "labels": dict(MANAGED_BY)},
            "spec": {"hard": hard}}


def _policy_spec(p: NetworkPolicyArgs | MultiNetworkPolicyArgs) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": dict(p.pod_selector)}
                            if p.pod_selector else {},
                            "policyTypes": p.types()}
    if p.ingress:
        spec["ingress"] = [r.to_dict("from") for r in p.ingress]
    if p.egress:
        spec["egress"] = [r.to_dict("to") for r in p.egress]
    return spec


def network_policy(p: NetworkPolicyArgs) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(MANAGED_BY)},
            "spec": _policy_spec(p)}


def multi_network_policy(p: MultiNetworkPolicyArgs) -> dict[str, Any]:
    return {"apiVersion": MULTI_NETWORK_POLICY_API_VERSION, "kind": MULTI_NETWORK_POLICY_KIND,
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": dict(MANAGED_BY),
                         "annotations": {POLICY_FOR_ANNOTATION: ",".join(p.policy_for)}},
            "spec": _policy_spec(p)}


def admin_role(rbac: NetworkRbacArgs) -> dict[str, Any]:
    """The one role that may write NADs (and MultiNetworkPolicies)."""
    return {"apiVersion": RBAC_API, "kind": "ClusterRole",
            "metadata": {"name": rbac.admin_role, "labels": dict(MANAGED_BY)},
            "rules": [{"apiGroups": [NAD_GROUP], "resources": list(_NETWORK_RESOURCES),
                       "verbs": _READ + _WRITE}]}


def viewer_role(rbac: NetworkRbacArgs) -> dict[str, Any]:
    """Read-only access for tenants: they select networks, they do not define them."""
    labels = dict(MANAGED_BY)
    if rbac.aggregate_viewer_to_view:
        labels["rbac.authorization.k8s.io/aggregate-to-view"] = "true"
    return {"apiVersion": RBAC_API, "kind": "ClusterRole",
            "metadata": {"name": rbac.viewer_role, "labels": labels},
            "rules": [{"apiGroups": [NAD_GROUP], "resources": list(_NETWORK_RESOURCES),
                       "verbs": list(_READ)}]}


def binding_name(b: RoleBindingArgs, index: int) -> str:
    return b.name or f"netplumb-network-{b.role}-{b.namespace or 'cluster'}-{index}"


def role_binding(rbac: NetworkRbacArgs, b: RoleBindingArgs, index: int) -> dict[str, Any]:
    """A ClusterRoleBinding, or a RoleBinding when the binding names a namespace."""
    role = rbac.admin_role if b.role == "admin" else rbac.viewer_role
    meta: dict[str, Any] = {"name": binding_name(b, index), "labels": dict(MANAGED_BY)}
    if b.namespace:
        meta["namespace"] = b.namespace
    return {"apiVersion": RBAC_API,
            "kind": "RoleBinding" if b.namespace else "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [s.to_dict() for s in b.subjects]}


def rbac_manifests(rbac: NetworkRbacArgs) -> list[dict[str, Any]]:
    return [admin_role(rbac), viewer_role(rbac),
            *(role_binding(rbac, b, i) for i, b in enumerate(rbac.bindings))]


def pod_security_namespace(ps: PodSecurityArgs) -> dict[str, Any]:
    """The namespace with its PodSecurity labels (created, or patched when it exists)."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ps.namespace, "labels": ps.labels()}}


def guardrail_manifests(args: NetworkGuardrailsArgs) -> list[dict[str, Any]]:
    """Every guardrail object, in apply order (CRD not included)."""
    out: list[dict[str, Any]] = [pod_security_namespace(p) for p in args.pod_security]
    out += [resource_quota(q) for q in args.quotas]
    out += [network_policy(p) for p in args.network_policies]
    out += [multi_network_policy(p) for p in args.multi_network_policies]
    if args.rbac is not None:
        out += rbac_manifests(args.rbac)
    return out
