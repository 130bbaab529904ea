"""Monitoring of the node plugin: Prometheus (through the Prometheus operator) and Grafana."""

from __future__ import annotations

import pulumi

from ..args.monitoring import MonitoringStackArgs
from ..plan import Install, declare_monitoring
from .shared import SharedInstall


class MonitoringStack(SharedInstall[MonitoringStackArgs]):
    """The node plugin's metrics Service (in the node plugin's namespace), a ServiceMonitor
    (labelled ``release: <release>`` for kube-prometheus-stack), a PrometheusRule (attach
    errors, attach latency, pool use, node plugin down) and a Grafana dashboard ConfigMap
    (labelled for the dashboard sidecar); minimal operator CRDs on request.

    Outputs: ``namespace``, ``job`` (Prometheus' job label of the node plugin's targets),
    ``alerts`` (alert names), ``dashboard_uid`` (None without the dashboard).
    """

    namespace: pulumi.Output[str]
    job: pulumi.Output[str]
    alerts: pulumi.Output[list[str]]
    dashboard_uid: pulumi.Output[str | None]

# duplicates: intended: every shared install's component has this typed constructor and typed
# handles on its resources (flannel, monitoring, multi_network_policy, network_policy,
# node_plugin, whereabouts); what they do in common is SharedInstall's.
    def __init__(self, name: str, args: MonitoringStackArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[MonitoringStackArgs] | None = None) -> None:
        super().__init__(name, declared or declare_monitoring(args.checked(), name), opts,
                         owners_checked=declared is not None)
        self.monitoring_namespace = self.resources.get("namespace")
        self.metrics_service = self.resources.get("metrics-service")
        self.service_monitor = self.resources.get("service-monitor")
        self.prometheus_rule = self.resources.get("prometheus-rule")
        self.dashboard = self.resources.get("dashboard")
