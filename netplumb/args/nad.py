"""Typed arguments of the network components, one class per NAD kind.

Each ``<Kind>NetworkArgs`` *is* its plugin model (same fields, same validation, same
docs) plus the NetworkAttachmentDefinition's own options, so the CNI fields are listed
once, in :mod:`netplumb.cni.plugins`. Stack files use the same classes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ..cni import fields as fc
from ..cni.base import CniModel
from ..cni.config import DEFAULT_CNI_VERSION, CniConfig, CniVersion, ConfList, _Header
from ..cni.plugins import (
    AnyPlugin,
    BridgePlugin,
    HostDevicePlugin,
    IpvlanPlugin,
    MacvlanPlugin,
    Plugin,
    SriovPlugin,
    VlanPlugin,
)
from ..errors import PlanError
from ..validation import FieldIssue, by_type, tagged_union
from .base import INPUT_CONFIG, InputModel
from .fields import name_or_default

RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"


class NadFields(InputModel, CniModel):
    """Options of the NetworkAttachmentDefinition object itself (not of the CNI config)."""

    model_config = INPUT_CONFIG  # the input's, not CniModel's (pydantic takes the last base's)

    name: fc.K8sName | None = None
    """NAD name; in a program it defaults to the component's resource name."""
    namespace: fc.Namespace = "default"
    """Namespace of the NAD; pods in other namespaces select it as ``namespace/name``."""
    cni_name: str | None = None
    """CNI network name inside the config; defaults to the NAD name, ``""`` leaves it out."""
    cni_version: CniVersion = DEFAULT_CNI_VERSION
    """CNI spec version written into the config."""
    resource_name: str | None = None
    """Device-plugin resource (``intel.com/sriov``), set as the resourceName annotation."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels of the NAD object."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the NAD object (netplumb adds its owner and, with ``resource_name``,
    the resourceName annotation)."""
    chain: list[AnyPlugin] = Field(default_factory=list)
    """Chained plugins run after the interface plugin (tuning, portmap, bandwidth, sbr);
    with any, the config is written as a conflist."""

    @field_validator("cni_name")
    @classmethod
    def _cni_name(cls, v: str | None) -> str | None:
        return v if not v else fc.cni_name(v)

    @field_validator("resource_name")
    @classmethod
    def _resource(cls, v: str | None) -> str | None:
        if v is not None and (v.count("/") != 1 or not all(v.split("/"))):
            raise FieldIssue("expected an extended resource name such as intel.com/sriov")
        return v

    type: str = ""
    """The plugin type; each kind fixes it."""

    def nad_name(self, default: str) -> str:
        """The NAD's name: ``name``, else ``default`` (a component's resource name), checked."""
        return name_or_default(self.name, default, fc.k8s_name, "NAD")

    def to_dict(self) -> dict[str, Any]:
        """The interface plugin's JSON object (what goes into the CNI config)."""
        return self.plugin_dict()

    def plugin_dict(self) -> dict[str, Any]:
        """The interface plugin's JSON object (the CNI fields that were given)."""
        body = self.json_fields(skip=NAD_KEYS)
        last: dict[str, Any] = {k: body.pop(k) for k in ("capabilities", "ipam") if k in body}
        return {"type": self.type, **body, **last}

    def cni_config(self, default_name: str) -> CniConfig:
        """The CNI config this NAD carries; raises :class:`PlanError` if it is invalid.

        The args were validated field by field already, so the config is assembled from
        them rather than validated a second time.
        """
        name = self.nad_name(default_name)
        cni_name = name if self.cni_name is None else (self.cni_name or None)
        if self.chain and cni_name is None:
            raise PlanError.one("cni_name", "", "a chained config (conflist) needs a name")
        # These args *are* the plugin model (validated already); the config uses them as its
        # plugin, and to_dict() below gives the plugin's JSON without the NAD's own options.
        plugin: Plugin = self  # type: ignore[assignment]
        if self.chain:
            header: _Header = ConfList.model_construct(
                _fields_set={"cni_version", "name", "plugins"}, cni_version=self.cni_version,
                name=cni_name, plugins=[])
            return CniConfig(header, [plugin, *self.chain], is_list=True)
        fields = {"cni_version"} | ({"name"} if cni_name is not None else set())
        header = _Header.model_construct(_fields_set=fields, cni_version=self.cni_version,
                                         name=cni_name)
        return CniConfig(header, [plugin], is_list=False)


NAD_KEYS: frozenset[str] = frozenset(NadFields.model_fields)
"""The NAD's own options (and ``type``), left out of the interface plugin's JSON."""


# duplicates: intended: one class per NAD kind, each fixing its ``type`` for the tagged union
# (NetworkSpec) to pick it by; their bodies are alike by design.
class MacvlanNetworkArgs(NadFields, MacvlanPlugin):
    """A macvlan network: each pod gets a sub-interface of ``master`` with its own MAC."""

    model_config = INPUT_CONFIG
    type: Literal["macvlan"] = "macvlan"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class IpvlanNetworkArgs(NadFields, IpvlanPlugin):
    """An ipvlan network: pods share ``master``'s MAC (for MAC-restricted underlays)."""

    model_config = INPUT_CONFIG
    type: Literal["ipvlan"] = "ipvlan"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class BridgeNetworkArgs(NadFields, BridgePlugin):
    """A bridge network: a veth per pod plugged into a Linux bridge on the node."""

    model_config = INPUT_CONFIG
    type: Literal["bridge"] = "bridge"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class HostDeviceNetworkArgs(NadFields, HostDevicePlugin):
    """A host-device network: an existing host link is moved into the pod."""

    model_config = INPUT_CONFIG
    type: Literal["host-device"] = "host-device"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class SriovNetworkArgs(NadFields, SriovPlugin):
    """An SR-IOV network: a VF from the device plugin's ``resource_name`` pool."""

    model_config = INPUT_CONFIG
    type: Literal["sriov"] = "sriov"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class VlanNetworkArgs(NadFields, VlanPlugin):
    """A vlan network: an 802.1q sub-interface of ``master`` per pod."""

    model_config = INPUT_CONFIG
    type: Literal["vlan"] = "vlan"
    """The CNI plugin type; fixed for this kind (may be left out)."""


class CniNetworkArgs(NadFields):
    """Any CNI config, given whole (imported NADs, plugins netplumb does not model)."""

    model_config = INPUT_CONFIG
    config: dict[str, Any]
    """The CNI JSON object (single plugin or conflist), kept exactly as given: a mapping, or
    its JSON text as a string. The text keeps the keys in their order on every path into a
    program (an inline ``netplumb:spec`` reaches it through the Pulumi CLI's config, which
    hands mappings over with their keys sorted); ``netplumb adopt`` writes it so."""

    @field_validator("config", mode="before")
    @classmethod
    def _from_text(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        try:
            data = json.loads(v)
        except ValueError as exc:
            raise FieldIssue(f"not valid JSON ({exc}); expected the CNI config's JSON object "
                             "as text, or a mapping", value=v, has_value=True) from None
        if not isinstance(data, dict):
            raise FieldIssue("expected a JSON object (the CNI config), as text or a mapping; "
                             f"got JSON {type(data).__name__}", value=v, has_value=True)
        return data

    def plugin_dict(self) -> dict[str, Any]:
        return dict(self.config)

    def cni_config(self, default_name: str) -> CniConfig:
        try:
            return CniConfig.from_dict(self.config)
        except PlanError as exc:
            raise exc.prefixed(("config",)) from None


ARGS_BY_TYPE: dict[str, type[NadFields]] = by_type(
    MacvlanNetworkArgs, IpvlanNetworkArgs, BridgeNetworkArgs, HostDeviceNetworkArgs,
    SriovNetworkArgs, VlanNetworkArgs)
"""The network kinds a stack file names by ``type``."""


def _network_tag(data: Any) -> str | None:
    if not isinstance(data, dict) or "config" in data:
        return "config"
    t = data.get("type")
    return t if isinstance(t, str) and t in ARGS_BY_TYPE else None


_KINDS = ", ".join(ARGS_BY_TYPE)

if TYPE_CHECKING:
    NetworkSpec = NadFields
else:
    NetworkSpec = tagged_union(
        {**ARGS_BY_TYPE, "config": CniNetworkArgs}, _network_tag,
        custom_error_type="network_kind",
        custom_error_message=f"unknown network type; expected type one of {_KINDS}, or a raw "
                             "'config' object",
        custom_error_context={"discriminator": "type", "choices": _KINDS})
"""A network in a stack file: ``type`` picks the kind, ``config`` gives a raw CNI config."""
