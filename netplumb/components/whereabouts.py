"""whereabouts in the cluster: cluster-wide IP allocation for whereabouts-IPAM networks."""

from __future__ import annotations

import pulumi

from ..args.whereabouts import WhereaboutsArgs
from ..plan import declare_whereabouts
from .shared import SharedInstall


class Whereabouts(SharedInstall[WhereaboutsArgs], declare=declare_whereabouts):
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

    def _handles(self) -> None:
        self.crd_resources = [crd for _, crd in self.resources_of("crd-")]
        self.cluster_role = self.resources.get("cluster-role")
        self.cluster_role_binding = self.resources.get("cluster-role-binding")
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]
        self.node_slice_controller = self.resources.get("node-slice-controller")
