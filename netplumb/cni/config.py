"""A whole CNI network config: a single plugin or a conflist (``plugins: [...]``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator

from ..errors import PlanError
from ..validation import FieldIssue, validate
from . import fields as fc
from .base import CniModel
from .ipam import Pool, ipam_pools
from .plugins import AnyPlugin, Plugin

CniVersion = Literal["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
CNI_VERSIONS: tuple[str, ...] = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
DEFAULT_CNI_VERSION: CniVersion = "1.0.0"

_PLUGIN = TypeAdapter(AnyPlugin)
_TOP_KEYS = ("cniVersion", "name")


class _Header(CniModel):
    """cniVersion and name: what every config starts with."""

    cni_version: CniVersion = Field(alias="cniVersion")
    """CNI spec version the config is written for."""
    name: str | None = None
    """Network name (required for a conflist; the plugins' IPAM state is keyed by it)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else fc.cni_name(v)


class ConfList(_Header):
    """The conflist object: header plus ``plugins``; unknown top-level keys kept."""

    name: str | None = None
    """Network name; the plugins' IPAM state and the runtime's cache are keyed by it."""
    plugins: list[AnyPlugin]
    """The plugins, run in order on ADD and in reverse on DEL."""
    disable_check: bool | None = Field(default=None, alias="disableCheck")
    """Skip the runtime's CHECK calls for this network."""
    disable_gc: bool | None = Field(default=None, alias="disableGC")
    """Skip the runtime's GC calls for this network (CNI 1.1)."""

    @model_validator(mode="after")
    def _check(self) -> ConfList:
        if self.name is None:
            raise FieldIssue("a conflist needs a name", subpath=("name",), value=None,
                             has_value=True)
        if not self.plugins:
            raise FieldIssue("empty plugin list; expected at least one plugin",
                             subpath=("plugins",), value=[], has_value=True)
        return self


class CniConfig:
    """A validated CNI network config that writes back exactly what it read.

    Build one with :func:`parse_cni_config`, :meth:`from_dict`, or :meth:`single` /
    :meth:`chain` from typed plugin models.
    """

    __slots__ = ("_extra", "_header", "_key_order", "is_list", "plugins")

    def __init__(self, header: _Header, plugins: list[Plugin], *, is_list: bool,
                 extra: dict[str, Any] | None = None,
                 key_order: tuple[str, ...] = ()) -> None:
        self._header = header
        self.plugins: list[Plugin] = plugins
        self.is_list = is_list
        self._extra = extra or {}
        # the top-level keys of a single-plugin config as read: header and plugin keys are
        # split between two models, and written back interleaved as they came
        self._key_order = key_order

    # construction -----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> CniConfig:
        """Validate a decoded JSON object; raises :class:`PlanError` naming the field."""
        if not isinstance(data, dict):
            raise PlanError.one("<root>", data, "expected a JSON object")
        if "plugins" in data:
            conf = ConfList.parse(data)
            return cls(conf, list(conf.plugins), is_list=True)
        header = _Header.parse({k: data[k] for k in _TOP_KEYS if k in data})
        if "type" not in data:
            raise PlanError.one("type", None, "required field is missing; expected the plugin "
                                "type (or 'plugins' for a conflist)")
        body = {k: v for k, v in data.items() if k not in _TOP_KEYS}
        plugin = validate(lambda d: _PLUGIN.validate_python(d, by_alias=True, by_name=False), body)
        return cls(header, [plugin], is_list=False, key_order=tuple(str(k) for k in data))

    @classmethod
    def single(cls, plugin: Plugin, *, name: str | None,
               cni_version: str = DEFAULT_CNI_VERSION) -> CniConfig:
        """A single-plugin config (validated through the same path as parsed input)."""
        head: dict[str, Any] = {"cniVersion": cni_version}
        if name is not None:
            head["name"] = name
        return cls.from_dict({**head, **plugin.to_dict()})

    @classmethod
    def chain(cls, plugins: list[Plugin], *, name: str,
              cni_version: str = DEFAULT_CNI_VERSION) -> CniConfig:
        """A conflist of ``plugins`` (e.g. an interface plugin followed by tuning)."""
        return cls.from_dict({"cniVersion": cni_version, "name": name,
                              "plugins": [p.to_dict() for p in plugins]})

    # views ------------------------------------------------------------------------
    @property
    def cni_version(self) -> str:
        return self._header.cni_version

    @property
    def name(self) -> str | None:
        return self._header.name

    @property
    def main(self) -> Plugin:
        """The plugin that creates the interface (the first one in a conflist)."""
        return self.plugins[0]

    @property
    def type(self) -> str:
        return self.main.type

    def capabilities(self) -> dict[str, bool]:
        caps: dict[str, bool] = {}
        for p in self.plugins:
            caps.update(p.capabilities or {})
        return caps

    def pools(self) -> list[Pool]:
        """Allocatable address pools of the interface plugin's IPAM (host-local, whereabouts)."""
        return ipam_pools(getattr(self.main, "ipam", None))

    def ipam_type(self) -> str | None:
        ipam = getattr(self.main, "ipam", None)
        t = getattr(ipam, "type", None)
        return t if isinstance(t, str) else None

    # output -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON object, exactly as read: no default added, no unknown key dropped, keys
        in the order they were read (keys added since come after them)."""
        if self.is_list:
            out = self._header.to_dict()
            out["plugins"] = [p.to_dict() for p in self.plugins]
            return out
        merged = {**self._header.to_dict(), **self.plugins[0].to_dict()}
        if not self._key_order:
            return merged
        ordered = {k: merged[k] for k in self._key_order if k in merged}
        ordered.update((k, v) for k, v in merged.items() if k not in ordered)
        return ordered

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CniConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        # equality ignores key order (JSON objects are unordered): so must the hash
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        kind = "conflist" if self.is_list else self.type
        return f"CniConfig({self.name!r}, {kind})"


def parse_cni_config(text: str) -> CniConfig:
    """Parse CNI JSON (single plugin or conflist). Bad input raises :class:`PlanError`."""
    if not isinstance(text, str | bytes):
        raise PlanError.one("<root>", text, "expected CNI config JSON text")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError.one("<root>", text,
                            f"malformed JSON at line {exc.lineno} column {exc.colno}: "
                            f"{exc.msg}") from None
    return CniConfig.from_dict(data)
