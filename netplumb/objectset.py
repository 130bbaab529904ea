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

This module holds the pure part, the API calls and the dynamic provider (kept light, so the
provider process starts fast); :class:`netplumb.components.objects.ObjectSet` is the
resource. The provider reaches the cluster the way the default kubernetes provider does:
``kubernetes:kubeconfig`` / ``kubernetes:context`` in the stack config, else
``$KUBECONFIG``, else ``~/.kube/config``.

What each engine call does:

* ``check``: objects new to the set that already exist under another owner fail the
  preview (one list per kind and namespace), unless adopted.
* ``read`` (refresh): one list; drifted objects come back as their live values, so
  ``preview --refresh --diff`` shows the hand edit and the next ``up`` undoes it.
* ``diff``: changed, added or removed objects, and drift found by one list.
* ``create`` / ``update``: server-side apply of what changed or drifted, in parallel; removed
  objects deleted; pods awaited until Ready. A failed create deletes what it created.
* ``delete``: every object deleted in parallel, and awaited until gone, except the retained
  ones (``retain``: the adopted objects, see ``cluster_objects.adopted_on_destroy``), which
  stay in the cluster as they are, as they do when an update drops them from the set. The
  state as last applied decides (``retain`` of the old inputs), as Pulumi's
  ``retainOnDelete`` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import dynamic

from .kube import Kube, KubeConfigError, KubeError
from .ownership import FIELD_MANAGER, OWNER_ANNOTATION, ObjectRef, describe_manager, owner_of
from .waiting import wait_for

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
    """Why ``live`` no longer is what netplumb applied as ``want`` (``None``: it is).

    netplumb applies as field manager ``netplumb`` (object sets directly, typed resources
    through the kubernetes provider's ``pulumi.com/patchFieldManager``); any other manager
    owning a field netplumb sets is a hand edit."""
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
                if _overlaps(path, mine) and not _same_at(want, live, mine):
                    return f"{'.'.join(mine)} changed by {entry.get('manager')!r}"
    for path, value in ours.items():
        if isinstance(value, list | Mapping):
            continue
        found, got = _lookup(live, path)
        if not found or got != value:
            return f"{'.'.join(path)} is {got!r}" if found else f"{'.'.join(path)} is gone"
    return None


def _same_at(want: Mapping[str, Any], live: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    """Whether ``live`` holds at ``path`` what ``want`` sets there. Server-side apply leaves
    a field that another manager set to the same value co-owned (an adopted object's earlier
    managers keep such fields after netplumb's first apply): that is no edit."""
    found, got = _lookup(live, path)
    mine_found, mine = _lookup(want, path)
    return found and mine_found and got == mine


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


REPLACED_KINDS = frozenset({"Pod"})
"""Kinds whose spec is (mostly) immutable: a change the apiserver refuses as invalid (422,
``pod updates may not change fields …``) replaces the object, delete then create, as the
kubernetes provider replaces a resource whose immutable field changed."""


def apply_all(kube: Kube, manifests: Sequence[Mapping[str, Any]]) -> None:
    """Server-side apply every manifest (netplumb's field manager, conflicts forced); a Pod
    whose change cannot be applied in place is replaced."""
    failures = _parallel(lambda m: kube.apply(m, field_manager=FIELD_MANAGER), manifests)
    immutable = {key for key, exc in failures
                 if isinstance(exc, KubeError) and exc.status == 422}
    replace = [m for m in manifests
               if object_key(m) in immutable and m.get("kind") in REPLACED_KINDS]
    if replace:
        delete_all(kube, replace, wait=300.0)
        replaced = {object_key(m) for m in replace}
        failures = [f for f in failures if f[0] not in replaced]
        failures += _parallel(lambda m: kube.apply(m, field_manager=FIELD_MANAGER), replace)
    if failures:
        raise SetError(_summary("apply", sorted(failures, key=lambda f: f[0])))


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
    left = set(keys)

    def all_gone() -> bool:
        nonlocal left
        left = keys & set(list_live(kube, scopes))
        return not left

    # an API error ends the wait at once (retry=()): create() rolls back on SetError only
    wait_for("the deleted objects to be gone", all_gone, timeout=wait, interval=0.2,
             retry=(), error=lambda _: SetError(
                 f"{len(left)} object(s) still present {wait:.0f}s after delete: "
                 + ", ".join(sorted(left)[:10])))


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
    waiting: dict[str, str] = {}

    def all_ready() -> bool:
        nonlocal waiting
        live = list_live(kube, scopes, selector=selector)
        problems = {k: (_pod_problem(live[k]) if k in live else "not created") for k in keys}
        waiting = {k: why for k, why in problems.items() if why is not None}
        return not waiting

    def not_ready(_: str) -> SetError:
        shown = "\n".join(f"  {k}: {why}" for k, why in sorted(waiting.items())[:10])
        return SetError(f"{len(waiting)} pod(s) not Ready after {timeout:.0f}s:\n{shown}")

    wait_for("the pods to be Ready", all_ready, timeout=timeout, interval=0.25, retry=(),
             error=not_ready)


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


# --------------------------------------------------------------------------- the provider


_LIVE_TTL = 5.0
"""Seconds a list result is reused between the calls of one operation (check → create)."""


def _objects(props: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(props.get("objects") or {})


def retained(props: Mapping[str, Any]) -> frozenset[str]:
    """Keys of the set's objects it leaves in the cluster when it deletes (``retain``)."""
    return frozenset(str(k) for k in props.get("retain") or [])


def to_delete(props: Mapping[str, Any], keys: Iterable[str]) -> list[dict[str, Any]]:
    """The manifests among ``keys`` of ``props``' objects that a delete removes: all but the
    retained ones, in key order."""
    objects, keep = _objects(props), retained(props)
    return [objects[k] for k in sorted(keys) if k in objects and k not in keep]


def _selector(props: Mapping[str, Any]) -> str:
    return f"{OWNER_ID_LABEL}={owner_id(str(props['owner']))}"


class ObjectSetProvider(dynamic.ResourceProvider):
    """The dynamic provider behind :class:`ObjectSet` (see the module docstring)."""

    serialize_as_secret_always = False

    def __init__(self) -> None:
        super().__init__()
        self._config: tuple[str | None, str | None] = (None, None)

    # ----------------------------------------------------------------- plumbing

    def configure(self, req: dynamic.ConfigureRequest) -> None:
        self._config = (req.config.get("kubernetes:kubeconfig"),
                        req.config.get("kubernetes:context"))

    def _kube(self) -> Kube:
        state = self.__dict__.setdefault("_state", {"lock": threading.Lock()})
        with state["lock"]:
            if "kube" not in state:
                state["kube"] = Kube.from_kubeconfig(*self._config)
            kube: Kube = state["kube"]
        return kube

    def _live(self, props: Mapping[str, Any], *, fresh: bool = False,
              mine_only: bool = True) -> dict[str, dict[str, Any]]:
        """Live objects of the set's scopes (one list each), briefly cached."""
        objects = _objects(props)
        scopes = Scope.of(objects.values())
        selector = _selector(props) if mine_only else None
        cache = self.__dict__.setdefault("_cache", {})
        key = (tuple(scopes), selector)
        hit = cache.get(key)
        if hit is not None and not fresh and time.monotonic() - hit[0] < _LIVE_TTL:
            return dict(hit[1])
        live = list_live(self._kube(), scopes, selector=selector)
        cache[key] = (time.monotonic(), live)
        return dict(live)

    @staticmethod
    def _changed(olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[set[str], set[str]]:
        """(keys to apply because they are new or changed, keys removed from the set)."""
        want, had = _objects(news), dict(olds.get("applied") or {})
        changed = {k for k, m in want.items() if had.get(k) != digest(m)}
        return changed, set(_objects(olds)) - set(want)

    def _drifted(self, props: Mapping[str, Any], *, fresh: bool) -> dict[str, str]:
        live = self._live(props, fresh=fresh)
        owner = str(props["owner"])
        found = {k: drift(m, live.get(k), owner) for k, m in _objects(props).items()}
        return {k: why for k, why in found.items() if why is not None}

    @staticmethod
    def _outs(props: Mapping[str, Any]) -> dict[str, Any]:
        applied = {k: digest(m) for k, m in _objects(props).items()}
        return {**props, "applied": applied}

    def _await(self, props: Mapping[str, Any], manifests: Sequence[Mapping[str, Any]]) -> None:
        if props.get("await") == "ready":
            wait_ready(self._kube(), manifests, timeout=float(props.get("timeout") or 600),
                       selector=_selector(props))

    # ----------------------------------------------------------------- engine calls

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        new = {k: m for k, m in _objects(news).items() if k not in _objects(_olds)}
        if not new:
            return dynamic.CheckResult(news, [])
        try:
            live = self._live({**news, "objects": new}, mine_only=False)
        except (KubeConfigError, OSError, SetError) as exc:
            return dynamic.CheckResult(news, [dynamic.CheckFailure(
                "objects", f"cannot read the cluster to check owners: {exc}")])
        problems = takeover_problems(new, live, str(news["owner"]), news.get("adopt") or [])
        return dynamic.CheckResult(news, [dynamic.CheckFailure("objects", p)
                                          for p in problems])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed, removed = self._changed(olds, news)
        settings = any(olds.get(k) != news.get(k)
                       for k in ("owner", "await", "adopt", "retain"))
        drifted = {} if changed or removed else self._drifted(news, fresh=False)
        return dynamic.DiffResult(changes=bool(changed or removed or settings or drifted),
                                  replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        objects = _objects(props)
        before = set(self._live(props, mine_only=False))
        try:
            apply_all(self._kube(), list(objects.values()))
            self._await(props, list(objects.values()))
        except SetError:
            created = [m for k, m in objects.items() if k not in before]
            try:
                delete_all(self._kube(), created, wait=60.0)
            except SetError as cleanup:
                pulumi.log.warn(f"netplumb: rolling back a failed create left: {cleanup}")
            raise
        name = str(props.get("name") or "")
        return dynamic.CreateResult(f"{props['owner']}/{name}", self._outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]
               ) -> dynamic.UpdateResult:
        changed, removed = self._changed(olds, news)
        changed |= set(self._drifted(news, fresh=True))
        objects = _objects(news)
        apply = [objects[k] for k in sorted(changed)]
        apply_all(self._kube(), apply)
        delete_all(self._kube(), to_delete(olds, removed))
        self._await(news, apply)
        return dynamic.UpdateResult(self._outs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        delete_all(self._kube(), to_delete(props, _objects(props)),
                   wait=float(props.get("timeout") or 600))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        live = self._live(props, fresh=True)
        owner = str(props["owner"])
        objects: dict[str, Any] = {}
        applied = dict(props.get("applied") or {})
        for key, want in _objects(props).items():
            why = drift(want, live.get(key), owner)
            if why is None:
                objects[key] = want
                continue
            applied.pop(key, None)
            if key in live:
                objects[key] = live_view(want, live[key])
                applied[key] = f"drifted: {why}"
        inputs = {k: v for k, v in props.items() if k != "applied"}
        inputs["objects"] = objects
        return dynamic.ReadResult(id_, {**inputs, "applied": applied}, inputs)


__all__ = [
    "OWNER_ANNOTATION",
    "OWNER_ID_LABEL",
    "ObjectSetProvider",
    "Scope",
    "SetError",
    "apply_all",
    "delete_all",
    "digest",
    "drift",
    "list_live",
    "live_view",
    "object_key",
    "owner_id",
    "retained",
    "set_paths",
    "takeover_problems",
    "to_delete",
    "wait_ready",
]
