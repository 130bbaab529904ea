"""What changes between two renderings of a stack: per object and per field (pure).

Objects are matched by API group, kind, namespace and name. Inside a matched pair the
manifests are compared field by field:

* mappings key by key;
* lists whose elements are all mappings with a distinct ``name`` (containers, volumes,
  ports, network selections) element by name (``containers[name=main]``), any other list
  index by index;
* a string holding a JSON object or list on both sides (a NAD's ``spec.config``, the
  ``k8s.v1.cni.cncf.io/networks`` annotation, a Multus daemon config) as the decoded
  structure, so a changed MTU is ``spec.config.mtu`` and not the whole JSON text.

Paths read like the rest of netplumb's field paths: ``spec.config.ipam.ranges[0][0].rangeEnd``;
keys that are not plain words are quoted: ``metadata.annotations["k8s.v1.cni.cncf.io/networks"]``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..render.yamlout import dump

ChangeKind = Literal["added", "removed", "changed"]
MISSING: Any = object()
"""Marks the side of a field change where the field does not exist."""

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: its path, and its value on each side (``MISSING`` if absent)."""

    path: str
    base: Any
    head: Any

    @property
    def kind(self) -> ChangeKind:
        if self.base is MISSING:
            return "added"
        if self.head is MISSING:
            return "removed"
        return "changed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "change": self.kind}
        if self.base is not MISSING:
            out["base"] = self.base
        if self.head is not MISSING:
            out["head"] = self.head
        return out


@dataclass(frozen=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        api = str(obj.get("apiVersion", ""))
        meta = obj.get("metadata") or {}
        return cls(api.rpartition("/")[0], str(obj.get("kind", "")),
                   str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass
class ObjectChange:
    """An object added, removed or changed; ``fields`` for a change, ``manifest`` (the
    object as it is on the side where it exists) for an addition or removal."""

    key: ObjectKey
    kind: ChangeKind
    fields: list[FieldChange] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.key.kind, "namespace": self.key.namespace or None,
                               "name": self.key.name, "group": self.key.group,
                               "change": self.kind}
        if self.kind == "changed":
            out["fields"] = [f.to_dict() for f in self.fields]
        else:
            out["manifest"] = self.manifest
        return out


# --------------------------------------------------------------------------- comparing


def format_key(path: str, key: str) -> str:
    if _WORD.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _embedded_json(value: Any) -> Any:
    """The decoded structure of a string holding a JSON object or list, else ``MISSING``."""
    if not isinstance(value, str):
        return MISSING
    text = value.strip()
    if not text or text[0] not in "{[":
        return MISSING
    try:
        decoded = json.loads(text)
    except ValueError:
        return MISSING
    return decoded if isinstance(decoded, dict | list) else MISSING


def _named(items: Sequence[Any]) -> dict[str, Any] | None:
    """``name`` → element when every element is a mapping with a distinct string name."""
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("name"), str)
                            for i in items):
        return None
    names = [str(i["name"]) for i in items]
    if len(set(names)) != len(names):
        return None
    return dict(zip(names, items, strict=True))


def _keyed(base: Mapping[Any, Any], head: Mapping[Any, Any],
           sub: Callable[[Any], str]) -> list[FieldChange]:
    """Entries matched by key: base's order, then the keys only head has."""
    out: list[FieldChange] = []
    for k in list(base) + [k for k in head if k not in base]:
        old, new = base.get(k, MISSING), head.get(k, MISSING)
        if old is MISSING or new is MISSING:
            out.append(FieldChange(sub(k), old, new))
        else:
            out += diff_values(old, new, sub(k))
    return out


def diff_values(base: Any, head: Any, path: str = "") -> list[FieldChange]:
    """Every field that differs between ``base`` and ``head``, in document order."""
    if base == head:
        return []
    if isinstance(base, Mapping) and isinstance(head, Mapping):
        return _keyed(base, head, lambda k: format_key(path, str(k)))
    if isinstance(base, list) and isinstance(head, list):
        by_b, by_h = _named(base), _named(head)
        if by_b is not None and by_h is not None:
            return _keyed(by_b, by_h, lambda name: f"{path}[name={name}]")
        return _keyed(dict(enumerate(base)), dict(enumerate(head)), lambda i: f"{path}[{i}]")
    b_json, h_json = _embedded_json(base), _embedded_json(head)
    if b_json is not MISSING and h_json is not MISSING:
        inside = diff_values(b_json, h_json, path)
        if inside:
            return inside
        # the same structure written differently: still a change to the object
    return [FieldChange(path or "<root>", base, head)]


def diff_objects(base: Iterable[Mapping[str, Any]],
                 head: Iterable[Mapping[str, Any]]) -> list[ObjectChange]:
    """Objects added, removed or changed from ``base`` to ``head``: head's order first
    (changed and added objects), then the removed ones in base's order."""
    before = {ObjectKey.of(o): o for o in base}
    after = {ObjectKey.of(o): o for o in head}
    out: list[ObjectChange] = []
    for key, obj in after.items():
        old = before.get(key)
        if old is None:
            out.append(ObjectChange(key, "added", manifest=dict(obj)))
            continue
        fields = diff_values(old, obj)
        if fields:
            out.append(ObjectChange(key, "changed", fields))
    out += [ObjectChange(key, "removed", manifest=dict(obj))
            for key, obj in before.items() if key not in after]
    return out


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Side:
    """One side of a diff, as the report names it."""

    label: str
    """What the user gave (``main``, ``HEAD~1``, ``working tree``)."""
    commit: str | None = None
    """The commit it resolved to (``None``: the working tree)."""
    note: str | None = None
    """E.g. ``the stack file does not exist at this revision``."""

    def show(self) -> str:
        at = f"{self.label} ({self.commit[:12]})" if self.commit else self.label
        return f"{at}; {self.note}" if self.note else at

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.label, "commit": self.commit, "note": self.note}


@dataclass
class StackDiff:
    stack: str
    base: Side
    head: Side
    objects: list[ObjectChange]

    def counts(self) -> dict[ChangeKind, int]:
        out: dict[ChangeKind, int] = {"changed": 0, "added": 0, "removed": 0}
        for o in self.objects:
            out[o.kind] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        if not self.objects:
            return "no changes"
        return f"{c['changed']} changed, {c['added']} added, {c['removed']} removed"

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "base": self.base.to_dict(), "head": self.head.to_dict(),
                "summary": self.counts(), "objects": [o.to_dict() for o in self.objects]}


RENDERED_BY = "both sides rendered by this checkout's netplumb"


def show_value(value: Any, limit: int = 160) -> str:
    """A field value for a diff line: JSON, shortened past ``limit`` characters."""
    text = json.dumps(value, sort_keys=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MARK = {"added": "+", "removed": "-", "changed": "~"}


def format_text(d: StackDiff, *, manifests: bool = True) -> str:
    """Plain text: one header per object, one line per field, added and removed objects'
    manifests indented below (unless ``manifests`` is off)."""
    lines = [f"netplumb diff {d.stack}: {d.base.show()} -> {d.head.show()} ({RENDERED_BY})"]
    for o in d.objects:
        lines.append(f"{_MARK[o.kind]} {o.key}")
        if o.kind == "changed":
            for f in o.fields:
                if f.kind == "changed":
                    lines.append(f"    {f.path}: {show_value(f.base)} -> {show_value(f.head)}")
                elif f.kind == "added":
                    lines.append(f"    + {f.path}: {show_value(f.head)}")
                else:
                    lines.append(f"    - {f.path}: {show_value(f.base)}")
        elif manifests and o.manifest is not None:
            mark = _MARK[o.kind]
            lines += [f"    {mark} {line}" for line in dump(o.manifest).rstrip().splitlines()]
    lines.append(d.summary())
    return "\n".join(lines) + "\n"


def _code(value: str) -> str:
    """Inline code for a Markdown table cell (HTML, so backticks and pipes are safe)."""
    return "<code>" + html.escape(value).replace("|", "&#124;") + "</code>"


def format_markdown(d: StackDiff) -> str:
    """A pull-request comment: a table of changed fields, added and removed objects in
    collapsed blocks."""
    out = [f"#### netplumb diff: stack `{d.stack}`", "",
           f"base {_code(d.base.show())} → head {_code(d.head.show())} ({RENDERED_BY})", ""]
    if not d.objects:
        out.append("**No changes.**")
        return "\n".join(out) + "\n"
    out += [f"**{d.summary()}**", "", "| | object | field | base | head |",
            "|:-:|---|---|---|---|"]
    for o in d.objects:
        if o.kind == "changed":
            for f in o.fields:
                base = "*(absent)*" if f.base is MISSING else _code(show_value(f.base, 120))
                head = "*(absent)*" if f.head is MISSING else _code(show_value(f.head, 120))
                out.append(f"| ~ | {_code(str(o.key))} | {_code(f.path)} | {base} | {head} |")
        else:
            out.append(f"| {_MARK[o.kind]} | {_code(str(o.key))} | *{o.kind}* | | |")
    for o in d.objects:
        if o.kind != "changed" and o.manifest is not None:
            out += ["", f"<details><summary>{_MARK[o.kind]} {html.escape(str(o.key))}"
                        "</summary>", "", "```yaml", dump(o.manifest).rstrip(), "```", "",
                    "</details>"]
    return "\n".join(out) + "\n"


def format_json(d: StackDiff) -> str:
    return json.dumps(d.to_dict(), indent=2, default=str) + "\n"
