"""Typed arguments of :class:`~netplumb.components.NetworkPolicyEnforcer`: Kubernetes
NetworkPolicy enforcement on the default network (eth0) beside Flannel, which enforces none,
by kube-router v2.1.0's firewall controller alone (no routing, no service proxy, no CNI
config: Flannel stays the network)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..validation import FieldIssue, each
from .base import InputModel
from .fields import Labels, Port, Verbosity
from .images import KUBE_ROUTER_IMAGE, PinnedImage
from .node_plugin import GoDuration
from .placement import Toleration, tolerate_all
from .resources import ContainerResources

HEALTH_PORT = 20244
"""kube-router's ``--health-port`` default (``/healthz``)."""
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12"
"""kube-router's ``--service-cluster-ip-range`` default (kubeadm's service network)."""
NODE_PORT_RANGE = "30000-32767"
"""kube-router's ``--service-node-port-range`` default (the apiserver's)."""

_PORT_RANGE = re.compile(r"^([0-9]+)[:-]([0-9]+)$")


def node_port_range(value: str) -> str:
    """``first-last`` (or ``first:last``) with first < last, as kube-router's firewall parses
    ``--service-node-port-range``."""
    m = _PORT_RANGE.match(value)
    if m is None:
        raise FieldIssue("not a port range; expected first-last such as 30000-32767")
    first, last = int(m[1]), int(m[2])
    if last > 65535:
        raise FieldIssue("port out of range; expected ports up to 65535")
    if first >= last:
        raise FieldIssue("the first port must be below the last; expected e.g. 30000-32767")
    return value


class NetworkPolicyEnforcerArgs(InputModel):
    """kube-router's firewall on every node: it reads NetworkPolicies, pods and namespaces
    and keeps iptables rules and ipsets on the node that filter pod traffic, for a default
    network that enforces no NetworkPolicy itself (Flannel).

    Only the firewall runs (``--run-firewall=true --run-router=false
    --run-service-proxy=false``): routing stays Flannel's and Services kube-proxy's; nothing
    is written to the CNI config directory. It reaches the API in-cluster with its
    ServiceAccount and finds its node by ``NODE_NAME``."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the DaemonSet and its ServiceAccount."""
    image: PinnedImage = KUBE_ROUTER_IMAGE
    """kube-router image, pinned (``docker.io/cloudnativelabs/kube-router:v2.1.0``)."""
    health_port: Port = HEALTH_PORT
    """Port of ``/healthz`` on every node (``--health-port``; the pods use the host
    network); the liveness probe asks it."""
    metrics_port: Port | None = None
    """Serve Prometheus metrics on this port of every node (``--metrics-port``); unset:
    none (kube-router's default)."""
    service_cluster_ip_range: list[str] = Field(
        default_factory=lambda: [SERVICE_CLUSTER_IP_RANGE])
    """The Service CIDRs (``--service-cluster-ip-range``; one, or one per family with both
    enabled): traffic to them is let through before the policies. In a stack it defaults
    to ``cluster_networks.services`` (those of the enabled families) where that is set,
    else kube-router's 10.96.0.0/12."""
    service_node_port_range: str = NODE_PORT_RANGE
    """The NodePort range (``--service-node-port-range``), let through like the Services."""
    enable_ipv4: bool = True
    """Enforce policies on IPv4 (``--enable-ipv4``)."""
    enable_ipv6: bool = False
    """Enforce policies on IPv6 too (``--enable-ipv6``; every node then needs an IPv6
    InternalIP or ExternalIP)."""
    iptables_sync_period: GoDuration = "5m"
    """How often the whole rule set is synced again besides on every change
    (``--iptables-sync-period``, a Go duration)."""
    log_level: Verbosity = 0
    """klog verbosity (``--v``); 0 logs errors and changes, 3 and up every sync."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "250m", "memory": "250Mi"}))
    """The container's resources (upstream's requests)."""
    tolerations: list[Toleration] = Field(default_factory=tolerate_all)
    """Policies must hold on every node pods run on; by default it tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the firewall from being evicted (upstream's class)."""

    @field_validator("service_cluster_ip_range")
    @classmethod
    def _ranges(cls, v: list[str]) -> list[str]:
        each(v, fc.ip_network)
        if not 1 <= len(v) <= 2:
            raise FieldIssue("expected one Service CIDR, or two (one per family) for dual "
                             "stack")
        return v

    @field_validator("service_node_port_range")
    @classmethod
    def _node_ports(cls, v: str) -> str:
        return node_port_range(v)

    @model_validator(mode="after")
    def _check(self) -> NetworkPolicyEnforcerArgs:
        if not (self.enable_ipv4 or self.enable_ipv6):
            raise FieldIssue("neither IPv4 nor IPv6 is enabled; expected enable_ipv4 or "
                             "enable_ipv6", subpath=("enable_ipv4",), value=False,
                             has_value=True)
        versions = [fc.ip_network(c).version for c in self.service_cluster_ip_range]
        expected = {4} if not self.enable_ipv6 else {6} if not self.enable_ipv4 else {4, 6}
        # kube-router's own checks: single stack takes one CIDR of its family, dual stack
        # one of each (the first may be either)
        if len(versions) == 2 and (expected != {4, 6} or set(versions) != {4, 6}):
            raise FieldIssue("two Service CIDRs need dual stack (enable_ipv4 and enable_ipv6) "
                             "and one CIDR of each family",
                             subpath=("service_cluster_ip_range",),
                             value=self.service_cluster_ip_range, has_value=True)
        if len(versions) == 1 and len(expected) == 1 and versions[0] not in expected:
            family = "IPv4" if expected == {4} else "IPv6"
            raise FieldIssue(f"only {family} is enabled, so the Service CIDR must be {family}",
                             subpath=("service_cluster_ip_range", 0),
                             value=self.service_cluster_ip_range[0], has_value=True)
        if self.metrics_port is not None and self.metrics_port == self.health_port:
            raise FieldIssue("the metrics port is the health port; expected another port",
                             subpath=("metrics_port",), value=self.metrics_port,
                             has_value=True)
        return self

    def families(self) -> set[int]:
        """The IP versions it enforces on."""
        return {v for v, on in ((4, self.enable_ipv4), (6, self.enable_ipv6)) if on}
