"""Many objects of one stack, applied, compared and deleted as one set.

A stack of thousands of networks and pods would cost the Pulumi engine one resource (with a
provider read, diff, state checkpoint and await) per object. An object set is one Pulumi
resource per kind and namespace instead, and its provider does what ``kubectl apply
--server-side`` does: apply the objects in parallel, list them back with one request, and
delete them in parallel.

Drift (a hand edit, a deleted object) is found with one list per set, not one read per
object: an object has drifted when it is missing, when another stack's owner annotation is on
it, when a field manager other than netplumb's owns a field netplumb sets, or when a scalar
field netplumb sets holds another value. Only drifted or changed objects are applied again.

This module is the pure part plus the API calls; :mod:`netplumb.components.objectset` is the
Pulumi resource and its provider.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .kube import Kube, KubeError
from .ownership import FIELD_MANAGER, OWNER_ANNOTATION, ObjectRef, describe_manager, owner_of

OWNER_ID_LABEL = "netplumb.dev/owner-id"
"""A label-safe digest of the owner, so one list selects exactly one stack's objects."""
WORKERS = int(os.environ.get("NETPLUMB_APPLY_WORKERS", "8"))
"""Parallel API requests per set (``$NETPLUMB_APPLY_WORKERS``)."""

Path = tuple[str, ...]


def owner_id(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:20]


def object_key(manifest: Mapping[str, Any]) -> str:
    return ObjectRef.of(manifest).key


def digest(manifest: Mapping[str, Any]) -> str:
    """A stable digest of what netplumb applies for one object."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()[:24]


# --------------------------------------------------------------------------- drift (pure)


def set_paths(manifest: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """The field paths ``manifest`` sets, through maps only: a list or a scalar ends a path
    (its value is the path's value)."""
    out: dict[Path, Any] = {}
    for key, value in manifest.items():
        if prefix == () and key in ("apiVersion", "kind"):
            continue
        path = (*prefix, str(key))
        if value is None:
            continue
        if isinstance(value, Mapping) and value:
            out.update(set_paths(value, path))
        else:
            out[path] = value
    return out


def fields_v1_paths(fields: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """Leaf paths of a ``managedFields[].fieldsV1`` tree, through maps only: a list element
    (``k:``, ``v:``, ``i:``) ends the path at its list field. ``.`` (the map or list itself
    exists) is no field of its own."""
    out: set[Path] = set()
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            path = (*prefix, key[2:])
            if isinstance(sub, Mapping) and sub and any(k != "." for k in sub):
                out |= fields_v1_paths(sub, path)
            else:
                out.add(path)
        else:  # k:/v:/i: a list element: the list field itself is owned
            out.add(prefix)
    return {p for p in out if p}


def _lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, Mapping) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def _overlaps(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def drift(want: Mapping[str, Any], live: Mapping[str, Any] | None, owner: str) -> str | None:
    """Why ``live`` no longer is what netplumb applied as ``want`` (``None``: it is)."""
    if live is None:
        return "missing"
    if owner_of(live) != owner:
        return f"owner annotation is {owner_of(live)!r}"
    ours = set_paths(want)
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER or entry.get("subresource"):
            continue
        for path in fields_v1_paths(entry.get("fieldsV1") or {}):
            if path[:1] == ("status",):
                continue
            for mine in ours:
                if _overlaps(path, mine):
                    return f"{'.'.join(mine)} changed by {entry.get('manager')!r}"
    for path, value in ours.items():
        if isinstance(value, list | Mapping):
            continue
        found, got = _lookup(live, path)
        if not found or got != value:
            return f"{'.'.join(path)} is {got!r}" if found else f"{'.'.join(path)} is gone"
    return None


def live_view(want: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """``want`` with every scalar it sets replaced by the live value (what a refresh shows)."""
    out: dict[str, Any] = json.loads(json.dumps(want))
    for path, value in set_paths(want).items():
        if isinstance(value, list | Mapping):
            continue
        found, got = _lookup(live, path)
        node = out
        for part in path[:-1]:
            node = node[part]
        if found:
            node[path[-1]] = got
        else:
            node.pop(path[-1], None)
    return out


# --------------------------------------------------------------------------- the cluster


@dataclass(frozen=True)
class Scope:
    """Where one set's objects live: one kind in one namespace (``None``: cluster)."""

    api_version: str
    kind: str
    namespace: str | None

    @classmethod
    def of(cls, manifests: Iterable[Mapping[str, Any]]) -> list[Scope]:
        return sorted({cls(str(m["apiVersion"]), str(m["kind"]),
                           m["metadata"].get("namespace")) for m in manifests},
                      key=lambda s: (s.api_version, s.kind, s.namespace or ""))


def list_live(kube: Kube, scopes: Sequence[Scope], *, selector: str | None = None
              ) -> dict[str, dict[str, Any]]:
    """Live objects of ``scopes`` by key, one list request per scope."""
    out: dict[str, dict[str, Any]] = {}
    for scope in scopes:
        for item in kube.iter_list(scope.api_version, scope.kind, namespace=scope.namespace,
                                   label_selector=selector):
            out[object_key(item)] = item
    return out


def _parallel(fn: Callable[[Mapping[str, Any]], Any],
              manifests: Sequence[Mapping[str, Any]]) -> list[tuple[str, Exception]]:
    """Run ``fn`` over ``manifests`` in parallel; the failures by key."""
    failures: list[tuple[str, Exception]] = []

    def one(m: Mapping[str, Any]) -> None:
        try:
            fn(m)
        except (KubeError, OSError) as exc:
            failures.append((object_key(m), exc))

    if not manifests:
        return failures
    with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(manifests)))) as pool:
        list(pool.map(one, manifests))
    return sorted(failures, key=lambda f: f[0])


class SetError(RuntimeError):
    """Some objects of a set could not be applied, deleted or awaited."""


def _summary(verb: str, failures: Sequence[tuple[str, Exception]]) -> str:
    shown = "\n".join(f"  {key}: {exc}" for key, exc in failures[:10])
    more = f"\n  … and {len(failures) - 10} more" if len(failures) > 10 else ""
    return f"could not {verb} {len(failures)} object(s):\n{shown}{more}"


def apply_all(kube: Kube, manifests: Sequence[Mapping[str, Any]]) -> None:
    """Server-side apply every manifest (netplumb's field manager, conflicts forced)."""
    failures = _parallel(lambda m: kube.apply(m, field_manager=FIELD_MANAGER), manifests)
    if failures:
        raise SetError(_summary("apply", failures))


def delete_all(kube: Kube, manifests: Sequence[Mapping[str, Any]], *,
               wait: float = 300.0) -> None:
    """Delete every object and wait until they are gone."""

    def gone(m: Mapping[str, Any]) -> None:
        meta = m["metadata"]
        kube.delete(str(m["apiVersion"]), str(m["kind"]), meta["name"], meta.get("namespace"))

    failures = _parallel(gone, manifests)
    if failures:
        raise SetError(_summary("delete", failures))
    keys = {object_key(m) for m in manifests}
    scopes = Scope.of(manifests)
    deadline = time.monotonic() + wait
    while True:
        left = keys & set(list_live(kube, scopes))
        if not left:
            return
        if time.monotonic() > deadline:
            raise SetError(f"{len(left)} object(s) still present {wait:.0f}s after delete: "
                           + ", ".join(sorted(left)[:10]))
        time.sleep(0.2)


def _pod_problem(pod: Mapping[str, Any]) -> str | None:
    """``None`` when the pod is Ready; else what it is waiting for."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return None
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"{waiting.get('reason')}: {waiting.get('message', '')}".strip(": ")
    return str(status.get("phase") or "no status yet")


def wait_ready(kube: Kube, manifests: Sequence[Mapping[str, Any]], *, timeout: float,
               selector: str) -> None:
    """Wait until every pod among ``manifests`` is Ready (other kinds need no wait)."""
    pods = [m for m in manifests if m["kind"] == "Pod"]
    if not pods:
        return
    keys = {object_key(m) for m in pods}
    scopes = Scope.of(pods)
    deadline = time.monotonic() + timeout
    while True:
        live = list_live(kube, scopes, selector=selector)
        waiting = {k: (_pod_problem(live[k]) if k in live else "not created")
                   for k in keys}
        waiting = {k: why for k, why in waiting.items() if why is not None}
        if not waiting:
            return
        if time.monotonic() > deadline:
            shown = "\n".join(f"  {k}: {why}" for k, why in sorted(waiting.items())[:10])
            raise SetError(f"{len(waiting)} pod(s) not Ready after {timeout:.0f}s:\n{shown}")
        time.sleep(0.25)


def takeover_problems(want: Mapping[str, Mapping[str, Any]], live: Mapping[str, Any],
                      owner: str, adopt: Iterable[str]) -> list[str]:
    """Objects of ``want`` that exist under another owner and are not adopted."""
    allowed = set(adopt)
    out = []
    for key in sorted(want):
        obj = live.get(key)
        if obj is None or owner_of(obj) == owner or key in allowed:
            continue
        out.append(f"{key} already exists, managed by {describe_manager(obj)}; this stack "
                   f"would silently take it over. Rename it, or take it over explicitly "
                   f"(cluster_objects.adopt: [{key!r}])")
    return out


__all__ = ["OWNER_ANNOTATION", "OWNER_ID_LABEL", "Scope", "SetError", "apply_all",
           "delete_all", "digest", "drift", "list_live", "live_view", "object_key",
           "owner_id", "set_paths", "takeover_problems", "wait_ready"]
