"""netplumb's node plugin on every node: the pinned CNI plugins behind the measuring shim,
the dhcp daemon and the CNI metrics (``node/``)."""

from __future__ import annotations

import pulumi

from ..args.node_plugin import NodePluginArgs
from ..plan import Install, declare_node_plugin
from .shared import SharedInstall


class NodePlugin(SharedInstall[NodePluginArgs]):
    """The node plugin DaemonSet (an ``install`` init container, ``dhcp`` and ``metrics``
    containers, and with ``multus_guard`` a ``multus-guard`` container), its ServiceAccount
    and, with metrics or the guard, the ClusterRole and binding that let the metrics daemon
    list NADs and whereabouts IPPools and the guard's keeper read its own DaemonSet.
    ``MultusInstall`` places one unless ``install_node_plugin: false``.

    Outputs: ``namespace``, ``daemonset_name``, ``metrics_port`` (None without metrics),
    ``plugins``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    metrics_port: pulumi.Output[int | None]
    plugins: pulumi.Output[list[str]]

# duplicates: intended: every shared install's component has this typed constructor and typed
# handles on its resources (flannel, monitoring, multi_network_policy, network_policy,
# node_plugin, whereabouts); what they do in common is SharedInstall's.
    def __init__(self, name: str, args: NodePluginArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[NodePluginArgs] | None = None) -> None:
        super().__init__(name, declared or declare_node_plugin(args.checked(), name), opts,
                         owners_checked=declared is not None)
        self.cluster_role = self.resources.get("cluster-role")
        self.cluster_role_binding = self.resources.get("cluster-role-binding")
        self.service_account = self.resources["service-account"]
        self.daemonset = self.resources["daemonset"]
