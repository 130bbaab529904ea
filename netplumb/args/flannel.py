"""Typed arguments of :class:`~netplumb.components.Flannel`: Flannel as the cluster's
default network."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..cni import fields as fc
from ..cni.config import CniVersion
from ..validation import FieldIssue
from .base import InputModel
from .fields import Labels, Port
from .images import FLANNEL_CNI_PLUGIN_IMAGE, FLANNEL_IMAGE, PinnedImage
from .placement import Toleration
from .resources import ContainerResources


class FlannelArgs(InputModel):
    """Flannel as the cluster's default network (``--kube-subnet-mgr`` mode)."""

    namespace: fc.Namespace = "kube-flannel"
    """Namespace of Flannel's objects; labelled PodSecurity ``privileged``."""
    network: str = "10.244.0.0/16"
    """Pod network CIDR (``Network`` in net-conf.json); must contain the nodes' podCIDRs,
    i.e. match the controller-manager's ``--cluster-cidr``."""
    backend: Literal["vxlan", "host-gw"] = "vxlan"
    """``vxlan`` encapsulates (works across L3); ``host-gw`` routes directly and needs every
    node on one L2 segment."""
    iface: fc.IfName | None = None
    """Node interface for inter-node traffic (``--iface``); unset uses the default-route
    interface, which is wrong on hosts whose cluster network is a second NIC (the guide's
    ``enp0s8``)."""
    ip_masq: bool = True
    """Masquerade traffic leaving the pod network (``--ip-masq``)."""
    enable_nftables: bool = False
    """Use nftables instead of iptables for masquerading (``EnableNFTables``)."""
    cni_name: str = "cbr0"
    """Name of the CNI conflist written to ``/etc/cni/net.d/10-flannel.conflist``."""
    cni_version: CniVersion = "0.3.1"
    """cniVersion of that conflist (Multus' generated config follows it)."""
    image: PinnedImage = FLANNEL_IMAGE
    """flanneld image (pinned)."""
    cni_plugin_image: PinnedImage = FLANNEL_CNI_PLUGIN_IMAGE
    """Image that places the ``flannel`` CNI binary into ``/opt/cni/bin`` (pinned)."""
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(operator="Exists", effect="NoSchedule")])
    """Flannel must run on every node, control plane included."""
    node_selector: Labels = Field(default_factory=dict)
    """Extra node selector (Flannel already requires ``kubernetes.io/os: linux``)."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "100m", "memory": "50Mi"}))
    """flanneld's resources; upstream requests only, and so does this default."""
    healthz_port: Port = 8081
    """Port of flanneld's /healthz and /readyz on the host network."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the default network from being evicted before the pods that depend on it."""


    @field_validator("network")
    @classmethod
    def _network(cls, v: str) -> str:
        net = fc.ip_network(v)
        if net.version != 4:
            raise FieldIssue("Flannel's Network is IPv4; expected e.g. 10.244.0.0/16")
        if net.prefixlen > 28:
            raise FieldIssue(f"{net} is too small for a pod network; expected at most /28")
        return v

    @field_validator("cni_name")
    @classmethod
    def _cni_name(cls, v: str) -> str:
        return fc.cni_name(v)

