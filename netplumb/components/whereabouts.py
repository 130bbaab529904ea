"""whereabouts in the cluster: cluster-wide IP allocation for whereabouts-IPAM networks."""

from __future__ import annotations

import pulumi

from ..args.whereabouts import WhereaboutsArgs
from ..plan import Install, declare_whereabouts
from .shared import SharedInstall


class Whereabouts(SharedInstall[WhereaboutsArgs]):
    """whereabouts v0.9.2: its CRDs (IPPool, OverlappingRangeIPReservation, NodeSlicePool;
    netplumb's own schemas), RBAC, the reconciler's schedule, and a DaemonSet running the
    ip-control-loop beside ``netplumb-node whereabouts-config``, which keeps the plugin's
    configuration and kubeconfig on every node; the node-slice-controller on request. The
    plugin binary comes with the node plugin. Pods of whereabouts-IPAM networks should
    ``depends_on`` the component.

    Outputs: ``namespace``, ``daemonset_name``, ``crds`` (names of the CRDs it installs).
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    crds: pulumi.Output[list[str]]

# duplicates: intended: every shared install's component has this typed constructor and typed
# handles on its resources (flannel, monitoring, multi_network_policy, network_policy,
# node_plugin, whereabouts); what they do in common is SharedInstall's.
    def __init__(self, name: str, args: WhereaboutsArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[WhereaboutsArgs] | None = None) -> None:
        super().__init__(name, declared or declare_whereabouts(args.checked(), name), opts,
                         owners_checked=declared is not None)
        self.crd_resources = [crd for _, crd in self.resources_of("crd-")]
        self.cluster_role = self.resources.get("cluster-role")
        self.cluster_role_binding = self.resources.get("cluster-role-binding")
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]
        self.node_slice_controller = self.resources.get("node-slice-controller")
