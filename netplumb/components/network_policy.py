"""NetworkPolicy enforcement beside Flannel: kube-router's firewall alone."""

from __future__ import annotations

import pulumi

from ..args.network_policy import NetworkPolicyEnforcerArgs
from ..plan.installs import Install, declare_network_policy
from .shared import SharedInstall


class NetworkPolicyEnforcer(SharedInstall[NetworkPolicyEnforcerArgs]):
    """Kubernetes NetworkPolicies enforced on the default network by kube-router v2.1.0 with
    only its firewall running (``--run-firewall=true --run-router=false
    --run-service-proxy=false``): a ClusterRole that reads what the firewall watches (pods,
    namespaces, NetworkPolicies, and the nodes, Services, Endpoints and EndpointSlices
    kube-router syncs before it starts), its binding, a ServiceAccount and a privileged
    host-network DaemonSet. It writes no CNI config: Flannel (or whatever the network is)
    stays the network.

    Outputs: ``namespace``, ``daemonset_name``, ``health_port``, ``metrics_port`` (None
    without metrics).
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    health_port: pulumi.Output[int]
    metrics_port: pulumi.Output[int | None]

# duplicates: intended: every shared install's component has this typed constructor and typed
# handles on its resources (flannel, monitoring, multi_network_policy, network_policy,
# node_plugin, whereabouts); what they do in common is SharedInstall's.
    def __init__(self, name: str, args: NetworkPolicyEnforcerArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[NetworkPolicyEnforcerArgs] | None = None) -> None:
        super().__init__(name, declared or declare_network_policy(args.checked(), name), opts,
                         owners_checked=declared is not None)
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.daemonset = self.resources["daemonset"]
