"""Monitoring of the node plugin: Prometheus (through the Prometheus operator) and Grafana."""

from __future__ import annotations

import pulumi

from ..args.monitoring import MonitoringStackArgs
from ..plan import declare_monitoring
from .shared import SharedInstall


class MonitoringStack(SharedInstall[MonitoringStackArgs], declare=declare_monitoring):
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

    def _handles(self) -> None:
        self.monitoring_namespace = self.resources.get("namespace")
        self.metrics_service = self.resources.get("metrics-service")
        self.service_monitor = self.resources.get("service-monitor")
        self.prometheus_rule = self.resources.get("prometheus-rule")
        self.dashboard = self.resources.get("dashboard")
