"""``ObjectSet``: many objects of one kind and namespace as one Pulumi resource.

See :mod:`netplumb.objectset` for why. The provider runs in Pulumi's Python dynamic-provider
process (``pulumi-resource-pulumi-python``, from the project's virtualenv) and reaches the
cluster the way the default kubernetes provider does: ``kubernetes:kubeconfig`` /
``kubernetes:context`` in the stack config, else ``$KUBECONFIG``, else ``~/.kube/config``.

What each engine call does:

* ``check``: objects new to the set that already exist under another owner fail the
  preview (one list per kind and namespace), unless adopted.
* ``read`` (refresh): one list; drifted objects come back as their live values, so
  ``preview --refresh --diff`` shows the hand edit and the next ``up`` undoes it.
* ``diff``: changed, added or removed objects, and drift found by one list.
* ``create`` / ``update``: server-side apply of what changed or drifted, in parallel; removed
  objects deleted; pods awaited until Ready. A failed create deletes what it created.
* ``delete``: every object deleted in parallel, and awaited until gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi import dynamic

from ..kube import Kube, KubeConfigError
from ..objectset import (
    OWNER_ID_LABEL,
    Scope,
    SetError,
    apply_all,
    delete_all,
    digest,
    drift,
    list_live,
    live_view,
    object_key,
    owner_id,
    takeover_problems,
    wait_ready,
)
from ..ownership import stamp

_LIVE_TTL = 5.0
"""Seconds a list result is reused between the calls of one operation (check → create)."""


def _objects(props: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(props.get("objects") or {})


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
        settings = any(olds.get(k) != news.get(k) for k in ("owner", "await", "adopt"))
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
        old = _objects(olds)
        delete_all(self._kube(), [old[k] for k in sorted(removed)])
        self._await(news, apply)
        return dynamic.UpdateResult(self._outs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        delete_all(self._kube(), list(_objects(props).values()),
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


def owned(manifest: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``manifest`` stamped with its owner and the owner-id label sets are listed by."""
    out = stamp(manifest, owner)
    out["metadata"]["labels"] = {**out["metadata"]["labels"], OWNER_ID_LABEL: owner_id(owner)}
    return out


class ObjectSet(dynamic.Resource, module="netplumb", name="ObjectSet"):
    """Objects of one kind and namespace, applied, diffed and deleted as one resource.

    ``await_ready``: wait until every pod is Ready (``timeout`` seconds). ``adopt``: keys
    (``Kind/namespace/name``) the set may take over from another owner.

    Outputs: ``objects`` (key → manifest), ``applied`` (key → digest of what was applied).
    """

    objects: pulumi.Output[dict[str, Any]]
    applied: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, manifests: Iterable[Mapping[str, Any]], *, owner: str,
                 adopt: Iterable[str] = (), await_ready: bool = False, timeout: int = 600,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        objects = {object_key(m): owned(m, owner) for m in manifests}
        props: dict[str, Any] = {
            "name": name, "owner": owner, "objects": objects, "adopt": sorted(adopt),
            "await": "ready" if await_ready else "none", "timeout": timeout,
            "applied": None}
        super().__init__(ObjectSetProvider(), name, props, opts)
