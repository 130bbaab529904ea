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
from .crds import (
    MULTI_NETWORK_POLICY_API_VERSION,
    MULTI_NETWORK_POLICY_KIND,
    MULTI_NETWORK_POLICY_PLURAL,
)
from .manifests import cluster_role, manifest, metadata, namespace, role_binding, rule
from .nad import NAD_GROUP, NAD_PLURAL

POLICY_FOR_ANNOTATION = "k8s.v1.cni.cncf.io/policy-for"
_NETWORK_RESOURCES = [NAD_PLURAL, MULTI_NETWORK_POLICY_PLURAL]
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
    return manifest("v1", "ResourceQuota", metadata(q.name, q.namespace),
                    spec={"hard": hard})


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
    return manifest("networking.k8s.io/v1", "NetworkPolicy", metadata(p.name, p.namespace),
                    spec=_policy_spec(p))


def multi_network_policy(p: MultiNetworkPolicyArgs) -> dict[str, Any]:
    return manifest(MULTI_NETWORK_POLICY_API_VERSION, MULTI_NETWORK_POLICY_KIND,
                    metadata(p.name, p.namespace,
                             annotations={POLICY_FOR_ANNOTATION: ",".join(p.policy_for)}),
                    spec=_policy_spec(p))


def admin_role(rbac: NetworkRbacArgs) -> dict[str, Any]:
    """The one role that may write NADs (and MultiNetworkPolicies)."""
    return cluster_role(rbac.admin_role, [rule([NAD_GROUP], _NETWORK_RESOURCES,
                                               _READ + _WRITE)])


def viewer_role(rbac: NetworkRbacArgs) -> dict[str, Any]:
    """Read-only access for tenants: they select networks, they do not define them."""
    labels = ({"rbac.authorization.k8s.io/aggregate-to-view": "true"}
              if rbac.aggregate_viewer_to_view else {})
    return cluster_role(rbac.viewer_role, [rule([NAD_GROUP], _NETWORK_RESOURCES, _READ)],
                        labels)


def binding_name(role: str, b: RoleBindingArgs, index: int) -> str:
    """``b.name``, else named after the ClusterRole it binds (so stacks whose roles have
    other names never share a binding)."""
    return b.name or f"{role}-{b.namespace or 'cluster'}-{index}"


def network_role_binding(rbac: NetworkRbacArgs, b: RoleBindingArgs, index: int) -> dict[str, Any]:
    """A ClusterRoleBinding, or a RoleBinding when the binding names a namespace."""
    role = rbac.admin_role if b.role == "admin" else rbac.viewer_role
    return role_binding(binding_name(role, b, index), role, [s.to_dict() for s in b.subjects],
                        namespace=b.namespace)


def rbac_manifests(rbac: NetworkRbacArgs) -> list[dict[str, Any]]:
    return [admin_role(rbac), viewer_role(rbac),
            *(network_role_binding(rbac, b, i) for i, b in enumerate(rbac.bindings))]


def pod_security_namespace(ps: PodSecurityArgs) -> dict[str, Any]:
    """The namespace with its PodSecurity labels (created, or patched when it exists)."""
    return namespace(ps.namespace, ps.labels(), managed=False)


def guardrail_manifests(args: NetworkGuardrailsArgs) -> list[dict[str, Any]]:
    """Every guardrail object, in apply order (CRD not included)."""
    out: list[dict[str, Any]] = [pod_security_namespace(p) for p in args.pod_security]
    out += [resource_quota(q) for q in args.quotas]
    out += [network_policy(p) for p in args.network_policies]
    out += [multi_network_policy(p) for p in args.multi_network_policies]
    if args.rbac is not None:
        out += rbac_manifests(args.rbac)
    return out
