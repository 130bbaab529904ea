"""Multus on every node (with Flannel as the default network unless told otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pulumi

from ..args.multus import MultusInstallArgs
from ..plan import MultusDeclared, declare_multus
from .cluster import resolve_default_network
from .flannel import Flannel
from .node_plugin import NodePlugin
from .objects import current_policy
from .shared import SharedInstall


def _declare(args: MultusInstallArgs, name: str) -> MultusDeclared:
    """Multus declared from its checked args, with the default network resolved."""
    return declare_multus(resolve_default_network(args, name, current_policy().owner), name)


class MultusInstall(SharedInstall[MultusInstallArgs], declare=_declare):
    """Multus on every node: netplumb's node plugin (the CNI plugins, the dhcp daemon and
    the CNI metrics; unless ``install_node_plugin: false``), the default network (Flannel
    where the cluster runs none: ``default_network``), the NAD CRD, RBAC, ServiceAccount,
    the thick daemon's ConfigMap and the Multus DaemonSet (thick or thin), plus a metrics
    Service and ServiceMonitor on request.

    ``validation`` holds what a verifier should find on a node afterwards
    (:func:`netplumb.render.multus.validation_steps`). NADs should ``depends_on`` ``nad_crd``.

    Outputs: ``namespace``, ``daemonset_name``, ``mode``, ``config_paths``.
    """

    NESTED: ClassVar[Mapping[str, Callable[..., SharedInstall[Any]]]] = {
        "node-plugin": NodePlugin, "flannel": Flannel}

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    mode: pulumi.Output[str]
    config_paths: pulumi.Output[list[str]]

    def _handles(self) -> None:
        assert isinstance(self.declared, MultusDeclared)
        self.validation = self.declared.validation
        self.node_plugin = self.nested("node-plugin", NodePlugin)
        self.flannel = self.nested("flannel", Flannel)
        self.nad_crd = self.resources.get("nad-crd")
        self.cluster_role = self.resources["cluster-role"]
        self.cluster_role_binding = self.resources["cluster-role-binding"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources.get("daemon-config")
        self.daemonset = self.resources["daemonset"]
        self.metrics_service = self.resources.get("metrics")
        self.service_monitor = self.resources.get("service-monitor")
