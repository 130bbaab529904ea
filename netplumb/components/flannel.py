"""Flannel as the cluster's default network."""

from __future__ import annotations

import pulumi

from ..args.flannel import FlannelArgs
from ..plan import declare_flannel
from .shared import SharedInstall


class Flannel(SharedInstall[FlannelArgs], declare=declare_flannel):
    """Flannel as the default network: namespace (PodSecurity privileged), RBAC, config
    (pod CIDR, backend, CNI conflist) and the DaemonSet running ``flanneld --ip-masq
    --kube-subnet-mgr [--iface=…]``.

    Outputs: ``namespace``, ``daemonset_name``, ``network``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    network: pulumi.Output[str]

    def _handles(self) -> None:
        self.ns = self.resources["namespace"]
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]
