"""Typed arguments of :class:`~netplumb.components.Whereabouts`: cluster-wide IP allocation
(whereabouts v0.9.2) for networks with ``ipam: {type: whereabouts}``, and the stack setting
that says who installs it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..validation import FieldIssue
from .base import InputModel
from .fields import Labels
from .images import NETPLUMB_NODE_IMAGE, WHEREABOUTS_IMAGE, PinnedImage
from .placement import Toleration, tolerate_all
from .resources import ContainerResources

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                     "@hourly")


def cron_expression(value: str) -> str:
    """A standard five-field cron expression (minute hour day-of-month month day-of-week), a
    descriptor such as ``@daily``, or ``@every <duration>``: what the reconciler's scheduler
    (gocron v2 ``CronJob(expr, false)``) parses."""
    text = value.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        _, _, text = text.partition(" ")
    if text in _CRON_DESCRIPTORS:
        return value
    if text.startswith("@every "):
        if re.match(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", text[7:].strip()):
            return value
        raise FieldIssue("@every takes a Go duration; expected e.g. @every 6h")
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise FieldIssue("not a five-field cron expression; expected minute hour "
                         "day-of-month month day-of-week, e.g. 30 4 * * * (daily at 04:30 "
                         "UTC), or a descriptor such as @daily")
    return value


class WhereaboutsArgs(InputModel):
    """whereabouts in the cluster: its CRDs (IPPool, OverlappingRangeIPReservation,
    NodeSlicePool), RBAC, and a DaemonSet on every node with the ip-control-loop (frees
    the addresses of deleted pods and, on a schedule, every address no pod holds) beside a
    container that writes the plugin's configuration and kubeconfig onto the node.

    The ``whereabouts`` plugin binary itself is installed by the node plugin
    (:class:`~netplumb.components.NodePlugin`, which ``multus:`` places)."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the DaemonSet and its ServiceAccount; the plugin keeps its IPPools,
    reservations and leases here too (the kubeconfig's namespace)."""
    image: PinnedImage = WHEREABOUTS_IMAGE
    """whereabouts image with ``/ip-control-loop`` (and ``/node-slice-controller``), pinned;
    upstream's release image or one built from the same tag."""
    config_image: PinnedImage = NETPLUMB_NODE_IMAGE
    """Image of the container that writes ``whereabouts.conf`` and the plugin's kubeconfig
    (with the ServiceAccount's token, rewritten when it rotates) under
    ``/etc/cni/net.d/whereabouts.d`` on every node: the node plugin image
    (``netplumb-node whereabouts-config``)."""
    install_crds: bool = True
    """Create the whereabouts CRDs (``ippools``, ``overlappingrangeipreservations``,
    ``nodeslicepools`` in ``whereabouts.cni.cncf.io``)."""
    reconciler_schedule: str = "30 4 * * *"
    """When the reconciler frees addresses no live pod holds (cron, UTC); upstream's default
    is daily at 04:30."""
    node_slice_controller: bool = False
    """Also run the node-slice-controller (a Deployment), which hands each node a slice of a
    range for networks whose IPAM sets ``node_slice_size``."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "50m", "memory": "50Mi"}, limits={"memory": "200Mi"}))
    """ip-control-loop's resources (the node-slice-controller gets the same)."""
    tolerations: list[Toleration] = Field(default_factory=tolerate_all)
    """The plugin's configuration is needed wherever pods run; by default the DaemonSet
    tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the DaemonSet from being evicted: it keeps the plugin's token on the node
    current."""

    @field_validator("reconciler_schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return cron_expression(v)


class WhereaboutsStackArgs(WhereaboutsArgs):
    """The stack's ``whereabouts:`` setting: who installs whereabouts for its networks.

    A stack whose networks use whereabouts IPAM needs whereabouts in the cluster. A stack
    that installs Multus (the cluster's platform) installs it by default; any other stack
    says so: ``whereabouts: {installed: external}`` when another stack or tool installed it,
    ``whereabouts: {}`` to install it here."""

    installed: Literal["here", "external"] = "here"
    """``here``: this stack installs whereabouts (with the options beside this key), also
    when none of its networks uses it. ``external``: the cluster already has it; nothing is
    installed."""

    @model_validator(mode="after")
    def _external(self) -> WhereaboutsStackArgs:
        if self.installed == "external":
            extra = sorted(self.model_fields_set - {"installed"})
            if extra:
                raise FieldIssue("install options given but installed is external; "
                                 "expected installed: here or no options",
                                 subpath=(extra[0],), value=getattr(self, extra[0]),
                                 has_value=True)
        return self

    def install_args(self) -> WhereaboutsArgs:
        """The component's args (without ``installed``)."""
        data = self.model_dump(by_alias=True, exclude_unset=True, exclude={"installed"})
        return WhereaboutsArgs.parse(data)
