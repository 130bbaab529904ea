"""The cluster around a stack: its own networks, which secondary networks should stay clear
of, and what the stack may do to its cluster-wide objects."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..cni import fields as fc
from ..validation import FieldIssue, each
from .base import InputModel
from .images import mirror_prefix


class ClusterNetworksArgs(InputModel):
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


_ADOPT_KINDS = ("Kind/name", "Kind/namespace/name")


class ClusterObjectsArgs(InputModel):
    """What the stack may do to cluster-wide objects: CRDs, ClusterRoles and bindings,
    namespaces it creates, and the Multus, Flannel and SR-IOV installs."""

    on_destroy: Literal["retain", "delete"] = "retain"
    """``retain`` (default): ``pulumi destroy`` leaves cluster-wide objects in place (other
    stacks' NADs live under the CRD; other teams' objects live in the namespaces), and lists
    them. ``delete``: destroy removes them too."""
    adopt: list[str] = Field(default_factory=list)
    """Existing objects this stack may take over from another manager, as ``Kind/name`` or
    ``Kind/namespace/name``, e.g.
    ``CustomResourceDefinition/network-attachment-definitions.k8s.cni.cncf.io``. Without it,
    preview fails when the stack would take over another owner's object."""
    adopted_on_destroy: Literal["retain", "delete"] = "retain"
    """What happens to the objects taken over through ``adopt`` (NADs ``netplumb adopt``
    found in the cluster, a CRD installed by hand) when the stack no longer holds them:
    ``retain`` (default) leaves them in the cluster, on ``pulumi destroy`` and when they are
    removed from the stack, as Pulumi's ``retainOnDelete`` keeps an imported resource (the
    state as last applied decides: set ``delete`` in one ``up`` before removing them).
    ``delete``: they go like the stack's own objects (namespaced ones on destroy; cluster-wide
    ones as ``on_destroy`` says)."""

    @field_validator("adopt")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        for i, ref in enumerate(v):
            parts = ref.split("/")
            if len(parts) not in (2, 3) or not all(parts) or not parts[0][:1].isupper():
                raise FieldIssue(f"expected {' or '.join(_ADOPT_KINDS)} (a Kind starts with "
                                 "an upper-case letter)", subpath=(i,), value=ref,
                                 has_value=True)
        return v


class ImagesArgs(InputModel):
    """Where the stack's images are pulled from."""

    mirror: str | None = None
    """A registry prefix every image of the stack is pulled from instead of its own registry
    (``registry.example.com/netplumb``: ``ghcr.io/flannel-io/flannel:v0.28.10`` becomes
    ``registry.example.com/netplumb/flannel-io/flannel:v0.28.10``), for clusters that cannot
    reach the public registries. ``netplumb images <stack>`` lists what to copy there."""

    @field_validator("mirror")
    @classmethod
    def _mirror(cls, v: str | None) -> str | None:
        return None if v is None else mirror_prefix(v)
