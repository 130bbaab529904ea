"""netplumb's node plugin on every node: the pinned CNI plugins behind the measuring shim,
the dhcp daemon and the CNI metrics (``node/``)."""

from __future__ import annotations

import pulumi

from ..args.node_plugin import NodePluginArgs
from ..plan import node_plugin_wanted
from ..render import node_plugin as node_plugin_render
from .objects import check_owners, children, register_identity, register_shared


class NodePlugin(pulumi.ComponentResource):
    """The node plugin DaemonSet (an ``install`` init container, ``dhcp`` and ``metrics``
    containers), its ServiceAccount and, with metrics, the ClusterRole and binding that let
    the metrics daemon list NADs and whereabouts IPPools. ``MultusInstall`` places one
    unless ``install_node_plugin: false``.

    Outputs: ``namespace``, ``daemonset_name``, ``metrics_port`` (None without metrics),
    ``plugins``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    metrics_port: pulumi.Output[int | None]
    plugins: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NodePluginArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = node_plugin_render.node_plugin_manifests(checked)
        check_owners(node_plugin_wanted(checked, name))
        super().__init__("netplumb:index:NodePlugin", name, None, opts)
        self.args = checked
        by_kind = {m["kind"]: m for m in manifests}
        self.cluster_role, self.cluster_role_binding, self.service_account = (
            register_identity(name, by_kind, self))
        self.daemonset = register_shared(
            f"{name}-daemonset", by_kind["DaemonSet"],
            children(self, self.service_account, self.cluster_role_binding))
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(node_plugin_render.DAEMONSET)
        self.metrics_port = pulumi.Output.from_input(
            checked.metrics_port if checked.metrics else None)
        self.plugins = pulumi.Output.from_input(list(checked.installed_plugins))
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name,
                               "metrics_port": self.metrics_port, "plugins": self.plugins})
