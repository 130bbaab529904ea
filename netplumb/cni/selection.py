"""The pod side: one element of the ``k8s.v1.cni.cncf.io/networks`` annotation."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from ..errors import PlanError, format_path
from ..validation import FieldIssue, each, validate
from . import fields as fc
from .base import CniModel

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"


class NetworkSelection(CniModel):
    """A pod's request for one attachment (Multus' NetworkSelectionElement)."""

    name: fc.K8sName
    """NAD name."""
    namespace: fc.Namespace | None = None
    """NAD namespace; defaults to the pod's."""
    interface: fc.IfName | None = None
    """Interface name in the pod (``net1``, ``net2``, … when unset)."""
    ips: list[str] | None = None
    """Static addresses with prefix (needs ``capabilities.ips`` on the network)."""
    mac: fc.Mac | None = None
    """Static MAC (needs ``capabilities.mac`` on the network)."""
    default_route: list[str] | None = Field(default=None, alias="default-route")
    """Gateway(s) to make this attachment the pod's default route."""
    cni_args: dict[str, Any] | None = Field(default=None, alias="cni-args")
    """Extra ``args.cni`` passed to the plugin."""

    def key(self, pod_namespace: str) -> str:
        """``namespace/name`` of the selected NAD, for a pod in ``pod_namespace``."""
        return f"{self.namespace or pod_namespace}/{self.name}"

    @field_validator("ips")
    @classmethod
    def _ips(cls, v: list[str] | None) -> list[str] | None:
        return each(v, fc.ip_interface)

    @field_validator("default_route")
    @classmethod
    def _gw(cls, v: list[str] | None) -> list[str] | None:
        return each(v, fc.ip_address)


NON_MULTUS_SELECTION_KEYS: dict[str, str] = {
    "gateway": "Multus has no 'gateway' key in a network selection (it would be dropped "
               "silently). To route the pod's default traffic via this network use "
               "\"default-route\": [\"<gateway>\"]; routes of the network itself belong in the "
               "NAD's IPAM (gateway, routes)",
    "gateway-request": "'gateway-request' is Multus' internal name; the selection key is "
                       "\"default-route\"",
    "ip": "the key is \"ips\", a list of addresses with prefix such as [\"192.0.2.10/24\"]",
    "ifname": "the key is \"interface\"",
    "interfaceName": "the key is \"interface\"",
    "macAddress": "the key is \"mac\"",
    "defaultRoute": "the key is \"default-route\"",
}
"""Keys found in hand-written selections that Multus ignores, with what to write instead."""


def refuse_non_multus_keys(selection: Any, *, at: tuple[str | int, ...] = ()) -> None:
    """Raise :class:`FieldIssue` for a selection key Multus does not know, saying what to
    write instead (e.g. the guide's ``gateway``)."""
    if not isinstance(selection, dict):
        return
    for key in selection:
        hint = NON_MULTUS_SELECTION_KEYS.get(str(key))
        if hint is not None:
            raise FieldIssue(hint, subpath=(*at, str(key)), value=selection[key],
                             has_value=True)


def parse_selections(data: Any, *, at: tuple[str | int, ...] = ()) -> list[NetworkSelection]:
    """Validate a hand-written ``k8s.v1.cni.cncf.io/networks`` list (decoded JSON).

    Unknown keys are refused; keys Multus does not have but people write (the guide's
    ``gateway``) are refused with what to write instead.
    """
    if not isinstance(data, list):
        raise PlanError.one(format_path(at), data, "expected a JSON array of selections")
    out: list[NetworkSelection] = []
    for i, item in enumerate(data):
        try:
            refuse_non_multus_keys(item)
        except FieldIssue as exc:
            raise PlanError.one(format_path((*at, i, *exc.subpath)), exc.value,
                                exc.message) from None
        out.append(validate(lambda d: NetworkSelection.model_validate(
            d, context={"typed": True}), item, at=(*at, i)))
    return out


def networks_annotation(selections: list[NetworkSelection]) -> str:
    """The annotation value: a JSON list, one object per attachment."""
    return json.dumps([s.to_dict() for s in selections], indent=2)


def same_selections(text: str, selections: list[NetworkSelection]) -> bool:
    """Whether a networks annotation's ``text`` says what ``selections`` say."""
    return bool(_decoded(text) == _decoded(networks_annotation(selections)))


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_one_source(annotations: dict[str, str], selections: list[NetworkSelection]) -> None:
    """Raise :class:`FieldIssue` when both a networks annotation and selections are given and
    they differ: two sources for one list."""
    old = annotations.get(NETWORKS_ANNOTATION)
    if selections and old is not None and not same_selections(old, selections):
        raise FieldIssue("the annotations already select networks, and differently; give "
                         "them as networks only", subpath=("annotations", NETWORKS_ANNOTATION),
                         value=old, has_value=True)
