"""Pulumi components (thin): each validates first, then registers what ``render`` produced."""

from .network import (
    BridgeNetwork,
    CniNetwork,
    HostDeviceNetwork,
    IpvlanNetwork,
    MacvlanNetwork,
    NadCrd,
    NetworkAttachment,
    SriovNetwork,
    VlanNetwork,
)
from .platform import Flannel, MultusInstall, NetworkGuardrails, SriovPool
from .pod import MultiHomedPod
from .stack import NetplumbStack
from .workload import MultiHomedWorkload

__all__ = [
    "BridgeNetwork",
    "CniNetwork",
    "Flannel",
    "HostDeviceNetwork",
    "IpvlanNetwork",
    "MacvlanNetwork",
    "MultiHomedPod",
    "MultiHomedWorkload",
    "MultusInstall",
    "NadCrd",
    "NetplumbStack",
    "NetworkAttachment",
    "NetworkGuardrails",
    "SriovNetwork",
    "SriovPool",
    "VlanNetwork",
]
