"""Pulumi components (thin): each validates its args first, then registers what ``render``
produced. The args and the IPAM and chained-plugin models they take are exported here too,
so a program needs one import::

    from netplumb.components import HostLocalIpam, MacvlanNetwork, MacvlanNetworkArgs
"""

from .. import args, models
from ..args import *  # noqa: F403  (every input model)
from ..models import *  # noqa: F403  (the models args are made of)
from .flannel import Flannel
from .guardrails import NetworkGuardrails
from .multus import MultusInstall
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
from .sriov import SriovPool
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
__all__ += models.__all__
__all__ += args.__all__
