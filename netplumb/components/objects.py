"""Rendered manifests → pulumi_kubernetes resources (one place for every kind)."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PATCH_FORCE = "pulumi.com/patchForce"
"""netplumb owns the objects it declares: a hand edit (another field manager) is taken back
by the next ``pulumi up`` instead of failing with a server-side-apply conflict."""

_TYPED: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "Pod"): k8s.core.v1.Pod,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        k8s.apiextensions.v1.CustomResourceDefinition,
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def register_object(name: str, manifest: dict[str, Any],
                    opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register a rendered manifest as its pulumi_kubernetes resource: typed where
    pulumi_kubernetes has the kind, ``CustomResource`` otherwise (NADs, policies, …)."""
    meta = dict(manifest["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), PATCH_FORCE: "true"}
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    cls = _TYPED.get((manifest["apiVersion"], manifest["kind"]))
    if cls is None:
        return k8s.apiextensions.CustomResource(
            name, api_version=manifest["apiVersion"], kind=manifest["kind"], metadata=meta,
            opts=opts, **body)
    kwargs = {_CAMEL.sub("_", k).lower(): v for k, v in body.items()}
    resource: pulumi.CustomResource = cls(name, metadata=meta, opts=opts, **kwargs)
    return resource
