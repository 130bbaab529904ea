"""The models component args are made of, for programs to import with the components: IPAM
configs, chained plugins, and the pod-side network selection (all from :mod:`netplumb.cni`)."""

from .cni import (
    BandwidthPlugin,
    DhcpIpam,
    Dns,
    HostLocalIpam,
    HostLocalRange,
    NetworkSelection,
    PortmapPlugin,
    Route,
    SbrPlugin,
    StaticAddress,
    StaticIpam,
    TuningPlugin,
    VlanTrunk,
    WhereaboutsIpam,
    WhereaboutsRange,
)

__all__ = [
    "BandwidthPlugin",
    "DhcpIpam",
    "Dns",
    "HostLocalIpam",
    "HostLocalRange",
    "NetworkSelection",
    "PortmapPlugin",
    "Route",
    "SbrPlugin",
    "StaticAddress",
    "StaticIpam",
    "TuningPlugin",
    "VlanTrunk",
    "WhereaboutsIpam",
    "WhereaboutsRange",
]
