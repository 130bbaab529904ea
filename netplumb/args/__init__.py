"""Typed inputs (pure): the args of every component and the stack spec, one module per
feature (mirroring :mod:`netplumb.render` and :mod:`netplumb.components`).

Typed input is strict: unknown keys are refused at every depth (named with the nearest
valid key), and every problem is a :class:`~netplumb.PlanError` naming the field path.
"""

from .base import InputModel
from .cluster import ClusterNetworksArgs, ClusterObjectsArgs, ImagesArgs
from .flannel import FlannelArgs
from .guardrails import (
    IpBlock,
    MultiNetworkPolicyArgs,
    NetworkGuardrailsArgs,
    NetworkPolicyArgs,
    NetworkRbacArgs,
    PodSecurityArgs,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    QuotaArgs,
    RoleBindingArgs,
    Subject,
)
from .monitoring import MonitoringAlertsArgs, MonitoringStackArgs
from .multi_network_policy import CustomIptablesRulesArgs, MultiNetworkPolicyEnforcerArgs
from .multus import MultusInstallArgs, ServiceMonitorArgs
from .nad import (
    BridgeNetworkArgs,
    CniNetworkArgs,
    HostDeviceNetworkArgs,
    IpvlanNetworkArgs,
    MacvlanNetworkArgs,
    NadFields,
    NetworkSpec,
    SriovNetworkArgs,
    VlanNetworkArgs,
)
from .network_policy import NetworkPolicyEnforcerArgs
from .node_plugin import DhcpDaemonArgs, NodePluginArgs
from .placement import Toleration
from .pod import PodArgs
from .resources import ContainerResources, Quantity
from .sriov import SriovPoolArgs, SriovResourcePool, SriovSelectors
from .stack import StackSpec, load_stack_file, spec_from_config
from .whereabouts import WhereaboutsArgs, WhereaboutsStackArgs
from .workload import ContainerPort, WorkloadArgs

__all__ = [
    "BridgeNetworkArgs",
    "ClusterNetworksArgs",
    "ClusterObjectsArgs",
    "CniNetworkArgs",
    "ContainerPort",
    "ContainerResources",
    "CustomIptablesRulesArgs",
    "DhcpDaemonArgs",
    "FlannelArgs",
    "HostDeviceNetworkArgs",
    "ImagesArgs",
    "InputModel",
    "IpBlock",
    "IpvlanNetworkArgs",
    "MacvlanNetworkArgs",
    "MonitoringAlertsArgs",
    "MonitoringStackArgs",
    "MultiNetworkPolicyArgs",
    "MultiNetworkPolicyEnforcerArgs",
    "MultusInstallArgs",
    "NadFields",
    "NetworkGuardrailsArgs",
    "NetworkPolicyArgs",
    "NetworkPolicyEnforcerArgs",
    "NetworkRbacArgs",
    "NetworkSpec",
    "NodePluginArgs",
    "PodArgs",
    "PodSecurityArgs",
    "PolicyPeer",
    "PolicyPort",
    "PolicyRule",
    "Quantity",
    "QuotaArgs",
    "RoleBindingArgs",
    "ServiceMonitorArgs",
    "SriovNetworkArgs",
    "SriovPoolArgs",
    "SriovResourcePool",
    "SriovSelectors",
    "StackSpec",
    "Subject",
    "Toleration",
    "VlanNetworkArgs",
    "WhereaboutsArgs",
    "WhereaboutsStackArgs",
    "WorkloadArgs",
    "load_stack_file",
    "spec_from_config",
]
