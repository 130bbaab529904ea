"""NetworkPolicy enforcement beside Flannel: kube-router's firewall alone."""

from __future__ import annotations

import pulumi

from ..args.network_policy import NetworkPolicyEnforcerArgs
from ..plan.installs import declare_network_policy
from .shared import SharedInstall


class NetworkPolicyEnforcer(SharedInstall[NetworkPolicyEnforcerArgs],
                            declare=declare_network_policy):
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

    def _handles(self) -> None:
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.daemonset = self.resources["daemonset"]
