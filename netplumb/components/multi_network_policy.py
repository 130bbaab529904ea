"""MultiNetworkPolicy enforcement on secondary networks: multi-networkpolicy-iptables."""

from __future__ import annotations

import pulumi

from ..args.multi_network_policy import MultiNetworkPolicyEnforcerArgs
from ..plan.installs import declare_multi_network_policy
from .shared import SharedInstall


class MultiNetworkPolicyEnforcer(SharedInstall[MultiNetworkPolicyEnforcerArgs],
                                 declare=declare_multi_network_policy):
    """MultiNetworkPolicies enforced by multi-networkpolicy-iptables (upstream's snapshot at
    commit cbf2b117) inside the network namespace of every pod attached to a network of the
    plugin types in ``network_plugins``: netplumb's MultiNetworkPolicy CRD (unless
    ``install_crd: false``), a ClusterRole that reads MultiNetworkPolicies, NADs, pods and
    namespaces and records events, its binding, a ServiceAccount, the custom rules'
    ConfigMap (when there are rules) and a privileged host-network DaemonSet that reaches
    the pods' namespaces through the CRI socket and the host's ``/proc``.

    Outputs: ``namespace``, ``daemonset_name``, ``network_plugins``, ``crd`` (the CRD's name,
    None where this install creates none).
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    network_plugins: pulumi.Output[list[str]]
    crd: pulumi.Output[str | None]

    def _handles(self) -> None:
        found = self.resources_of("crd-")
        self.crd_resource = found[0][1] if found else None
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources.get("config")
        self.daemonset = self.resources["daemonset"]
