"""``ObjectSet``: many objects of one kind and namespace as one Pulumi resource.

See :mod:`netplumb.objectset` for why, and for its provider, which runs in Pulumi's Python
dynamic-provider process (``pulumi-resource-pulumi-python``, from the project's virtualenv).
The provider lives in that small module so the provider process starts without importing
the components.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi import dynamic

from ..objectset import OWNER_ID_LABEL, ObjectSetProvider, object_key, owner_id
from ..ownership import stamp


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
