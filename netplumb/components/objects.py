"""Rendered manifests → pulumi_kubernetes resources (one place for every kind), and the
ownership policy every registration follows (:mod:`netplumb.ownership`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..ownership import ObjectRef, OwnershipPolicy, stamp

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


_policy: list[OwnershipPolicy] = []
_retained: list[ObjectRef] = []


def default_policy() -> OwnershipPolicy:
    """This program's stack owns what it registers; cluster-wide objects are retained."""
    return OwnershipPolicy(owner=f"{pulumi.get_project()}/{pulumi.get_stack()}")


def current_policy() -> OwnershipPolicy:
    return _policy[-1] if _policy else default_policy()


@contextlib.contextmanager
def ownership(policy: OwnershipPolicy) -> Iterator[OwnershipPolicy]:
    """Register everything inside the block under ``policy``."""
    _policy.append(policy)
    try:
        yield policy
    finally:
        _policy.pop()


def retained_refs() -> list[str]:
    """Objects registered so far in this program that ``pulumi destroy`` will leave."""
    return sorted({r.key for r in _retained})


def register_object(name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions, *,
                    cluster_wide: bool = False) -> pulumi.CustomResource:
    """Register a rendered manifest as its pulumi_kubernetes resource: typed where
    pulumi_kubernetes has the kind, ``CustomResource`` otherwise (NADs, policies, …).

    Every object carries its owner (``netplumb.dev/owner``); a ``cluster_wide`` one is
    retained on destroy unless the policy says ``delete_on_destroy``."""
    policy = current_policy()
    manifest = stamp(manifest, policy.owner)
    if cluster_wide and not policy.delete_on_destroy:
        _retained.append(ObjectRef.of(manifest))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
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
