"""Pulumi components (thin): each validates its args first, then registers what ``render``
produced. The args and the IPAM and chained-plugin models they take are exported here too,
so a program needs one import::

    from netplumb.components import HostLocalIpam, MacvlanNetwork, MacvlanNetworkArgs
"""

from .. import args, models
from ..args import *  # noqa: F403  (every input model)
from ..models import *  # noqa: F403  (the models args are made of)
from .cluster import require_cluster
from .flannel import Flannel
from .guardrails import NetworkGuardrails
from .monitoring import MonitoringStack
from .multi_network_policy import MultiNetworkPolicyEnforcer
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
from .network_policy import NetworkPolicyEnforcer
from .node_plugin import NodePlugin
from .pod import MultiHomedPod
from .sriov import SriovPool
from .stack import NetplumbStack
from .whereabouts import Whereabouts
from .workload import MultiHomedWorkload

__all__ = [
    "BridgeNetwork",
    "CniNetwork",
    "Flannel",
    "HostDeviceNetwork",
    "IpvlanNetwork",
    "MacvlanNetwork",
    "MonitoringStack",
    "MultiHomedPod",
    "MultiHomedWorkload",
    "MultiNetworkPolicyEnforcer",
    "MultusInstall",
    "NadCrd",
    "NetplumbStack",
    "NetworkAttachment",
    "NetworkGuardrails",
    "NetworkPolicyEnforcer",
    "NodePlugin",
    "SriovNetwork",
    "SriovPool",
    "VlanNetwork",
    "Whereabouts",
    "require_cluster",
]
__all__ += models.__all__
__all__ += args.__all__
