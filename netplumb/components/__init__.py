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
from .pod import MultiHomedPod
from .stack import NetplumbStack

__all__ = [
    "BridgeNetwork",
    "CniNetwork",
    "HostDeviceNetwork",
    "IpvlanNetwork",
    "MacvlanNetwork",
    "MultiHomedPod",
    "NadCrd",
    "NetplumbStack",
    "NetworkAttachment",
    "SriovNetwork",
    "VlanNetwork",
]
