"""Typed arguments of :class:`~netplumb.components.SriovPool`: the SR-IOV network device
plugin's pools and the sriov CNI binary (device plugin v3.11.0, sriov-cni v2.10.0)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..errors import PlanError
from ..validation import FieldIssue, each
from .base import InputModel
from .fields import Labels, extended_resource
from .images import SRIOV_CNI_IMAGE, SRIOV_DEVICE_PLUGIN_IMAGE, PinnedImage
from .nad import SriovNetworkArgs
from .placement import Toleration
from .resources import ContainerResources

_HEX4 = re.compile(r"^[0-9a-fA-F]{4}$")


def _hex4(s: str) -> None:
    if not _HEX4.match(s):
        raise FieldIssue("expected a 4-digit hex PCI id such as 8086")


def _pf_name(s: str) -> None:
    name, hash_, vfs = s.partition("#")
    fc.ifname(name)
    if hash_ and not re.match(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", vfs):
        raise FieldIssue("invalid VF range; expected e.g. ens1f0#0-3 or ens1f0#0,2")


class SriovSelectors(InputModel):
    """Which devices go into a pool; every given selector must match (a device missing from
    any list is left out)."""

    vendors: list[str] = Field(default_factory=list)
    """PCI vendor ids, e.g. ``8086`` (Intel), ``15b3`` (Mellanox)."""
    devices: list[str] = Field(default_factory=list)
    """PCI device ids of the VFs, e.g. ``154c``."""
    drivers: list[str] = Field(default_factory=list)
    """Kernel drivers bound to the VFs, e.g. ``iavf`` or ``vfio-pci`` (DPDK)."""
    pf_names: list[str] = Field(default_factory=list, alias="pfNames")
    """Physical functions whose VFs to take, optionally with a VF range (``ens1f0#0-3``)."""
    root_devices: list[str] = Field(default_factory=list, alias="rootDevices")
    """PCI addresses of the physical functions."""
    link_types: list[str] = Field(default_factory=list, alias="linkTypes")
    """Link types, e.g. ``ether`` or ``infiniband``."""
    pci_addresses: list[str] = Field(default_factory=list, alias="pciAddresses")
    """PCI addresses of individual VFs."""
    is_rdma: bool = Field(default=False, alias="isRdma")
    """Only RDMA-capable devices, and mount their RDMA character devices into the pod."""
    need_vhost_net: bool = Field(default=False, alias="needVhostNet")
    """Also mount /dev/vhost-net (DPDK virtio-user)."""

    _vendors = field_validator("vendors", "devices")(
        classmethod(lambda cls, v: each(v, _hex4)))
    _roots = field_validator("root_devices", "pci_addresses")(
        classmethod(lambda cls, v: each(v, fc.pci_address)))
    _pfs = field_validator("pf_names")(classmethod(lambda cls, v: each(v, _pf_name)))

    SELECTING: ClassVar[tuple[str, ...]] = (
        "vendors", "devices", "drivers", "pf_names", "root_devices", "pci_addresses")

    @model_validator(mode="after")
    def _some(self) -> SriovSelectors:
        if not any(getattr(self, k) for k in self.SELECTING):
            raise FieldIssue("no selector; a pool without selectors takes every SR-IOV device "
                             "of the node. Expected at least one of vendors, devices, drivers, "
                             "pfNames, rootDevices, pciAddresses", value={}, has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, f in type(self).model_fields.items():
            value = getattr(self, name)
            if value:
                out[f.alias or name] = value
        return out


class SriovResourcePool(InputModel):
    """One resource the device plugin advertises (an entry of ``resourceList``)."""

    resource_name: str
    """Pool name without prefix, e.g. ``sriov`` (letters, digits, '_' and '-')."""
    resource_prefix: str | None = None
    """Prefix for this pool; default the plugin's (``SriovPoolArgs.resource_prefix``)."""
    device_type: Literal["netDevice", "accelerator", "auxNetDevice"] | None = None
    """Kind of device; the plugin's default is ``netDevice``."""
    exclude_topology: bool = False
    """Do not report NUMA topology (for pools spanning NUMA nodes)."""
    selectors: SriovSelectors
    """Which devices form the pool."""

    @field_validator("resource_name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[a-zA-Z0-9_-]+$", v) or len(v) > 63:
            raise FieldIssue("invalid resourceName; the device plugin accepts letters, digits, "
                             "'_' and '-' (at most 63)")
        return v

    @field_validator("resource_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is not None:
            extended_resource(f"{v}/x")
        return v


class SriovPoolArgs(InputModel):
    """The SR-IOV network device plugin with its pools, and the sriov CNI binary."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the device plugin's objects."""
    resource_prefix: str = "intel.com"
    """Default prefix of the pools' resource names (``--resource-prefix``)."""
    pools: list[SriovResourcePool] = Field(min_length=1)
    """The resources to advertise; each becomes ``<prefix>/<resource_name>``."""
    image: PinnedImage = SRIOV_DEVICE_PLUGIN_IMAGE
    """Device plugin image (pinned)."""
    install_sriov_cni: bool = True
    """Place the ``sriov`` CNI binary in /opt/cni/bin (an init container of the plugin)."""
    sriov_cni_image: PinnedImage = SRIOV_CNI_IMAGE
    """sriov-cni image (pinned)."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes with SR-IOV NICs, e.g. ``feature.node.kubernetes.io/network-sriov.capable``."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations of the device plugin pods."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "250m", "memory": "40Mi"}, limits={"cpu": "1", "memory": "200Mi"}))
    """Device plugin resources (upstream's values)."""
    log_level: int = 10
    """Device plugin verbosity (``--log-level``)."""


    @field_validator("resource_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        extended_resource(f"{v}/x")
        return v

    @model_validator(mode="after")
    def _unique(self) -> SriovPoolArgs:
        seen: dict[str, int] = {}
        for i, pool in enumerate(self.pools):
            full = self.full_name(pool)
            if full in seen:
                raise FieldIssue(f"resource {full} is also pools[{seen[full]}]; expected unique "
                                 "resource names", subpath=("pools", i, "resource_name"),
                                 value=pool.resource_name, has_value=True)
            seen[full] = i
        return self

    def full_name(self, pool: SriovResourcePool) -> str:
        """``<prefix>/<resource_name>``: what pods request and NADs name."""
        return f"{pool.resource_prefix or self.resource_prefix}/{pool.resource_name}"

    def resource_names(self) -> dict[str, str]:
        """Pool name → full resource name."""
        return {p.resource_name: self.full_name(p) for p in self.pools}

    def resource_name(self, pool: str | None = None) -> str:
        """The full resource name of ``pool`` (or of the only pool)."""
        names = self.resource_names()
        if pool is None:
            if len(names) != 1:
                raise PlanError.one("pool", None, f"{len(names)} pools; expected the name of "
                                    f"one of them: {', '.join(names)}")
            return next(iter(names.values()))
        if pool not in names:
            raise PlanError.one("pool", pool, f"no such pool; expected one of: "
                                f"{', '.join(names)}")
        return names[pool]

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """:class:`SriovNetworkArgs` bound to one of these pools (``resource_name`` set)."""
        return SriovNetworkArgs(resource_name=self.resource_name(pool), **fields)
