"""Lossless CNI models (pure): network configs, plugins, IPAM, and the pod-side network
selection, as the plugins and Multus read them.

Parsing keeps what it does not model: ``parse_cni_config(text).to_dict()`` equals the input
for every valid config, keys in the order they were read (unknown plugins and fields kept,
no defaults added). Enums, ranges and defaults follow the plugins' own code.
"""

from .base import CniModel
from .config import CNI_VERSIONS, DEFAULT_CNI_VERSION, CniConfig, CniVersion, parse_cni_config
from .ipam import (
    KNOWN_IPAM,
    DhcpIpam,
    Dns,
    HostLocalIpam,
    HostLocalRange,
    Ipam,
    Pool,
    RawIpam,
    Route,
    StaticAddress,
    StaticIpam,
    WhereaboutsIpam,
    WhereaboutsRange,
)
from .plugins import (
    KNOWN_PLUGINS,
    AnyPlugin,
    BandwidthPlugin,
    BridgePlugin,
    HostDevicePlugin,
    IpvlanPlugin,
    MacvlanPlugin,
    Plugin,
    PortmapPlugin,
    RawPlugin,
    SbrPlugin,
    SriovPlugin,
    TuningPlugin,
    VlanPlugin,
    VlanTrunk,
)
from .selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION, NetworkSelection

__all__ = [
    "CNI_VERSIONS",
    "DEFAULT_CNI_VERSION",
    "KNOWN_IPAM",
    "KNOWN_PLUGINS",
    "NETWORKS_ANNOTATION",
    "NETWORK_STATUS_ANNOTATION",
    "AnyPlugin",
    "BandwidthPlugin",
    "BridgePlugin",
    "CniConfig",
    "CniModel",
    "CniVersion",
    "DhcpIpam",
    "Dns",
    "HostDevicePlugin",
    "HostLocalIpam",
    "HostLocalRange",
    "Ipam",
    "IpvlanPlugin",
    "MacvlanPlugin",
    "NetworkSelection",
    "Plugin",
    "Pool",
    "PortmapPlugin",
    "RawIpam",
    "RawPlugin",
    "Route",
    "SbrPlugin",
    "SriovPlugin",
    "StaticAddress",
    "StaticIpam",
    "TuningPlugin",
    "VlanPlugin",
    "VlanTrunk",
    "WhereaboutsIpam",
    "WhereaboutsRange",
    "parse_cni_config",
]
