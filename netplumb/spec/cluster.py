"""The cluster's own networks, which secondary networks should stay clear of."""

from __future__ import annotations

from pydantic import Field, field_validator

from . import fieldcheck as fc
from .platform import PlatformModel, each


class ClusterNetworksArgs(PlatformModel):
    """The pod and service networks of the cluster. A secondary subnet overlapping one of
    them gets a warning: in a pod attached to it, traffic to pods or Services there leaves
    through the wrong interface."""

    pods: list[str] = Field(default_factory=list)
    """Pod network CIDRs (the controller-manager's ``--cluster-cidr``); Flannel's
    ``network`` is added when the stack installs Flannel."""
    services: list[str] = Field(default_factory=list)
    """Service CIDRs (the apiserver's ``--service-cluster-ip-range``)."""

    _check = field_validator("pods", "services")(
        classmethod(lambda cls, v: each(v, fc.ip_network)))
