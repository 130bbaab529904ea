"""Rendered manifests → pulumi_kubernetes resources (one place for every kind), or many as one
:class:`ObjectSet`, and the ownership policy every registration follows
(:mod:`netplumb.ownership`).

``ObjectSet``'s provider is :class:`netplumb.objectset.ObjectSetProvider`, which runs in
Pulumi's Python dynamic-provider process (``pulumi-resource-pulumi-python``, from the project's
virtualenv); it lives in that small module so the provider process starts without importing
the components, and under that name because a stack's state names it."""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi import dynamic

from ..objectset import OWNER_ID_LABEL, ObjectSetProvider, drift, object_key, owner_id
from ..ownership import FIELD_MANAGER, ObjectRef, OwnershipPolicy, Wanted, check_takeovers, stamp
from ..render.mirror import with_mirror
from .cluster import program_live, program_reader

PATCH_FORCE = "pulumi.com/patchForce"
"""netplumb owns the objects it declares: a hand edit (another field manager) is taken back
by the next ``pulumi up`` instead of failing with a server-side-apply conflict."""
PATCH_FIELD_MANAGER = "pulumi.com/patchFieldManager"
"""The kubernetes provider applies as field manager ``netplumb``, as object sets do."""
RECONCILE = "netplumb.dev/reconcile"
"""A counter the program bumps when the live object drifted (a hand edit): the changed input
makes the next ``pulumi up`` apply the object again, without a refresh of every object."""

# pulumi_kubernetes module and class per kind, imported on first use: its typed modules take
# about a second to import, and a stack of networks and pods registers none of them.
_TYPED: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.v1.Namespace",
    ("v1", "ServiceAccount"): "core.v1.ServiceAccount",
    ("v1", "ConfigMap"): "core.v1.ConfigMap",
    ("v1", "Service"): "core.v1.Service",
    ("v1", "Pod"): "core.v1.Pod",
    ("v1", "ResourceQuota"): "core.v1.ResourceQuota",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.v1.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.v1.ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.v1.Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.v1.RoleBinding",
    ("apps/v1", "DaemonSet"): "apps.v1.DaemonSet",
    ("apps/v1", "Deployment"): "apps.v1.Deployment",
    ("apps/v1", "StatefulSet"): "apps.v1.StatefulSet",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networking.v1.NetworkPolicy",
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        "apiextensions.v1.CustomResourceDefinition",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


_policy: list[OwnershipPolicy] = []
_retained: list[ObjectRef] = []
_mirror: list[str | None] = []


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


@contextlib.contextmanager
def images_from(mirror: str | None) -> Iterator[None]:
    """Register everything inside the block pulling its images from ``mirror`` (a stack's
    ``images.mirror``; ``None``: from their own registries)."""
    _mirror.append(mirror)
    try:
        yield
    finally:
        _mirror.pop()


def current_mirror() -> str | None:
    return _mirror[-1] if _mirror else None


def retained_refs() -> list[str]:
    """Objects registered so far in this program that ``pulumi destroy`` will leave."""
    return sorted({r.key for r in _retained})


def note_retained(refs: list[ObjectRef]) -> None:
    """Objects an object set leaves on destroy (adopted ones), for :func:`retained_refs`."""
    _retained.extend(refs)


def _typed_class(api_version: str, kind: str) -> Any:
    where = _TYPED.get((api_version, kind))
    if where is None:
        return None
    module, _, name = where.rpartition(".")
    return getattr(importlib.import_module(f"pulumi_kubernetes.{module}"), name)


def reconciled(manifest: dict[str, Any], owner: str) -> dict[str, Any]:
    """``manifest`` with its owner-id label and the :data:`RECONCILE` counter: the live
    object's value, bumped when the live object drifted from ``manifest``. Objects a hand
    deleted are only seen by ``pulumi up --refresh``."""
    meta = manifest["metadata"]
    meta["labels"] = {**meta.get("labels", {}), OWNER_ID_LABEL: owner_id(owner)}
    live = None
    index = program_live(str(manifest["apiVersion"]), str(manifest["kind"]),
                         f"{OWNER_ID_LABEL}={owner_id(owner)}")
    if index is not None:
        live = index.get(ObjectRef.of(manifest).key)
    current = str(((live or {}).get("metadata") or {}).get("annotations", {}).get(RECONCILE)
                  or "0")
    meta["annotations"] = {**meta.get("annotations", {}), RECONCILE: current}
    why = drift(manifest, live, owner) if live is not None else None
    if why is not None:
        bumped = str(int(current) + 1) if current.isdigit() else "1"
        meta["annotations"][RECONCILE] = bumped
        pulumi.log.info(f"netplumb: {ObjectRef.of(manifest).key} drifted ({why}); "
                        "applying it again")
    return manifest


def register_object(name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions, *,
                    cluster_wide: bool = False) -> pulumi.CustomResource:
    """Register a rendered manifest as its pulumi_kubernetes resource: typed where
    pulumi_kubernetes has the kind, ``CustomResource`` otherwise (NADs, policies, …).

    Every object carries its owner (``netplumb.dev/owner``); a ``cluster_wide`` one is
    retained on destroy unless the policy says ``delete_on_destroy``, an adopted one unless
    it says not ``retain_adopted``."""
    policy = current_policy()
    manifest = with_mirror(manifest, current_mirror())
    manifest = reconciled(stamp(manifest, policy.owner), policy.owner)
    if policy.retains(ObjectRef.of(manifest), cluster_wide=cluster_wide):
        _retained.append(ObjectRef.of(manifest))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True))
    meta = dict(manifest["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), PATCH_FORCE: "true",
                           PATCH_FIELD_MANAGER: FIELD_MANAGER}
    body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
    cls = _typed_class(manifest["apiVersion"], manifest["kind"])
    if cls is None:
        return k8s.apiextensions.CustomResource(
            name, api_version=manifest["apiVersion"], kind=manifest["kind"], metadata=meta,
            opts=opts, **body)
    kwargs = {_CAMEL.sub("_", k).lower(): v for k, v in body.items()}
    resource: pulumi.CustomResource = cls(name, metadata=meta, opts=opts, **kwargs)
    return resource


def register_patch(name: str, manifest: dict[str, Any],
                   opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Apply ``manifest``'s metadata to an object that exists already (a namespace: its labels);
    nothing else of it is owned."""
    if (manifest["apiVersion"], manifest["kind"]) != ("v1", "Namespace"):
        raise ValueError(f"cannot patch a {manifest['kind']}: only a Namespace")
    patch: pulumi.CustomResource = k8s.core.v1.NamespacePatch(
        name, metadata=manifest["metadata"], opts=opts)
    return patch


def check_owners(wanted: list[Wanted]) -> None:
    """Refuse (before anything registers) to take over another owner's objects."""
    check_takeovers(wanted, program_reader(), current_policy())


def children(parent: pulumi.Resource, *deps: pulumi.Resource | None) -> pulumi.ResourceOptions:
    """Options of a child of ``parent`` that waits for ``deps`` (None ones left out)."""
    return pulumi.ResourceOptions(parent=parent, depends_on=[d for d in deps if d is not None])


def owned(manifest: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``manifest`` stamped with its owner and the owner-id label sets are listed by."""
    out = stamp(manifest, owner)
    out["metadata"]["labels"] = {**out["metadata"]["labels"], OWNER_ID_LABEL: owner_id(owner)}
    return out


class ObjectSet(dynamic.Resource, module="netplumb", name="ObjectSet"):
    """Objects of one kind and namespace, applied, diffed and deleted as one resource.

    ``await_ready``: wait until every pod is Ready (``timeout`` seconds). ``adopt``: keys
    (``Kind/namespace/name``) the set may take over from another owner. ``retain``: keys of
    objects the set leaves in the cluster on destroy and when they are dropped from it (the
    adopted ones, unless the stack deletes those); only those of this set count.

    Outputs: ``objects`` (key → manifest), ``applied`` (key → digest of what was applied).
    """

    objects: pulumi.Output[dict[str, Any]]
    applied: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, manifests: Iterable[Mapping[str, Any]], *, owner: str,
                 adopt: Iterable[str] = (), retain: Iterable[str] = (),
                 await_ready: bool = False, timeout: int = 600,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        objects = {object_key(m): owned(m, owner) for m in manifests}
        props: dict[str, Any] = {
            "name": name, "owner": owner, "objects": objects, "adopt": sorted(adopt),
            "retain": sorted(set(retain) & set(objects)),
            "await": "ready" if await_ready else "none", "timeout": timeout,
            "applied": None}
        super().__init__(ObjectSetProvider(), name, props, opts)
