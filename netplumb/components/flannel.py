"""Flannel as the cluster's default network."""

from __future__ import annotations

import pulumi

from ..args.flannel import FlannelArgs
from ..plan import Install, declare_flannel
from .shared import SharedInstall


class Flannel(SharedInstall[FlannelArgs]):
    """Flannel as the default network: namespace (PodSecurity privileged), RBAC, config
    (pod CIDR, backend, CNI conflist) and the DaemonSet running ``flanneld --ip-masq
    --kube-subnet-mgr [--iface=…]``.

    Outputs: ``namespace``, ``daemonset_name``, ``network``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    network: pulumi.Output[str]

# duplicates: intended: every shared install's component has this typed constructor and typed
# handles on its resources (flannel, monitoring, multi_network_policy, network_policy,
# node_plugin, whereabouts); what they do in common is SharedInstall's.
    def __init__(self, name: str, args: FlannelArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[FlannelArgs] | None = None) -> None:
        super().__init__(name, declared or declare_flannel(args.checked(), name), opts,
                         owners_checked=declared is not None)
        self.ns = self.resources["namespace"]
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]
