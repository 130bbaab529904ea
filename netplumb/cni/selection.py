"""The pod side: one element of the ``k8s.v1.cni.cncf.io/networks`` annotation."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from ..validation import FieldIssue
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
    interface: str | None = None
    """Interface name in the pod (``net1``, ``net2``, … when unset)."""
    ips: list[str] | None = None
    """Static addresses with prefix (needs ``capabilities.ips`` on the network)."""
    mac: str | None = None
    """Static MAC (needs ``capabilities.mac`` on the network)."""
    default_route: list[str] | None = Field(default=None, alias="default-route")
    """Gateway(s) to make this attachment the pod's default route."""
    cni_args: dict[str, Any] | None = Field(default=None, alias="cni-args")
    """Extra ``args.cni`` passed to the plugin."""

    def key(self, pod_namespace: str) -> str:
        """``namespace/name`` of the selected NAD, for a pod in ``pod_namespace``."""
        return f"{self.namespace or pod_namespace}/{self.name}"

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return None if v is None else fc.ifname(v)

    @field_validator("ips")
    @classmethod
    def _ips(cls, v: list[str] | None) -> list[str] | None:
        for i, ip in enumerate(v or []):
            try:
                fc.ip_interface(ip)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(i,), value=ip, has_value=True) from None
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        return None if v is None else fc.mac(v)

    @field_validator("default_route")
    @classmethod
    def _gw(cls, v: list[str] | None) -> list[str] | None:
        for i, gw in enumerate(v or []):
            try:
                fc.ip_address(gw)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(i,), value=gw, has_value=True) from None
        return v


def networks_annotation(selections: list[NetworkSelection]) -> str:
    """The annotation value: a JSON list, one object per attachment."""
    return json.dumps([s.to_dict() for s in selections], indent=2)
