"""netplumb's node plugin on every node: the pinned CNI plugins behind the measuring shim,
the dhcp daemon and the CNI metrics (``node/``)."""

from __future__ import annotations

import pulumi

from ..args.node_plugin import NodePluginArgs
from ..plan import declare_node_plugin
from .shared import SharedInstall


class NodePlugin(SharedInstall[NodePluginArgs], declare=declare_node_plugin):
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

    def _handles(self) -> None:
        self.cluster_role = self.resources.get("cluster-role")
        self.cluster_role_binding = self.resources.get("cluster-role-binding")
        self.service_account = self.resources["service-account"]
        self.daemonset = self.resources["daemonset"]
