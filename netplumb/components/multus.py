"""Multus on every node (with Flannel as the default network unless told otherwise)."""

from __future__ import annotations

import pulumi

from ..args.multus import MultusInstallArgs
from ..plan import multus_wanted
from ..render import multus as multus_render
from ..render.crds import service_monitor_crd
from ..render.nad import nad_crd
from .flannel import Flannel
from .objects import check_owners, children, register_shared


class MultusInstall(pulumi.ComponentResource):
    """Multus on every node: the default network (Flannel unless ``default_network:
    none``), the NAD CRD, RBAC, ServiceAccount, the thick daemon's ConfigMap and the Multus
    DaemonSet (thick or thin), plus a metrics Service and ServiceMonitor on request.

    ``validation`` holds what a verifier should find on a node afterwards
    (:func:`netplumb.render.multus.validate`). NADs should ``depends_on`` ``nad_crd``.

    Outputs: ``namespace``, ``daemonset_name``, ``mode``, ``config_paths``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    mode: pulumi.Output[str]
    config_paths: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MultusInstallArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = multus_render.multus_manifests(checked)
        validation = multus_render.validate(checked)
        check_owners(multus_wanted(checked, name))
        super().__init__("netplumb:index:MultusInstall", name, None, opts)
        self.args = checked
        self.validation = validation
        self.flannel: Flannel | None = None
        if checked.installs_flannel:
            self.flannel = Flannel(f"{name}-flannel", checked.flannel,
                                   pulumi.ResourceOptions(parent=self))
        self.nad_crd: pulumi.CustomResource | None = None
        if checked.install_nad_crd:
            self.nad_crd = register_shared(f"{name}-nad-crd", nad_crd(), children(self))
        monitor_crd: pulumi.CustomResource | None = None
        if checked.service_monitor is not None and checked.service_monitor.install_crd:
            monitor_crd = register_shared(f"{name}-service-monitor-crd",
                                            service_monitor_crd(), children(self))
        by_kind = {m["kind"]: m for m in manifests}
        self.cluster_role = register_shared(f"{name}-cluster-role", by_kind["ClusterRole"],
                                              children(self))
        self.cluster_role_binding = register_shared(
            f"{name}-cluster-role-binding", by_kind["ClusterRoleBinding"],
            children(self, self.cluster_role))
        self.service_account = register_shared(f"{name}-service-account",
                                                 by_kind["ServiceAccount"], children(self))
        self.config_map: pulumi.CustomResource | None = None
        if "ConfigMap" in by_kind:
            self.config_map = register_shared(f"{name}-daemon-config", by_kind["ConfigMap"],
                                                children(self))
        # After the default network: Multus generates its config from the primary one.
        self.daemonset = register_shared(
            f"{name}-daemonset", by_kind["DaemonSet"],
            children(self, self.config_map, self.service_account, self.cluster_role_binding,
                  self.flannel))
        self.metrics_service: pulumi.CustomResource | None = None
        self.service_monitor: pulumi.CustomResource | None = None
        if "Service" in by_kind:
            self.metrics_service = register_shared(f"{name}-metrics", by_kind["Service"],
                                                     children(self))
        if "ServiceMonitor" in by_kind:
            monitoring_ns: pulumi.CustomResource | None = None
            if "Namespace" in by_kind:
                monitoring_ns = register_shared(f"{name}-monitoring-namespace",
                                                  by_kind["Namespace"], children(self))
            self.service_monitor = register_shared(
                f"{name}-service-monitor", by_kind["ServiceMonitor"],
                children(self, monitor_crd, self.metrics_service, monitoring_ns))
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(multus_render.DAEMONSET)
        self.mode = pulumi.Output.from_input(checked.mode)
        config_paths = [p for np in validation.node_paths for p in np.paths
                        if "00-multus" in p]
        self.config_paths = pulumi.Output.from_input(config_paths)
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name, "mode": self.mode,
                               "config_paths": self.config_paths})
