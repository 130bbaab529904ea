"""Monitoring of the node plugin: Prometheus (through the Prometheus operator) and Grafana."""

from __future__ import annotations

import pulumi

from ..args.monitoring import MonitoringStackArgs
from ..plan import monitoring_wanted
from ..render import monitoring as monitoring_render
from .objects import check_owners, children, register_shared


class MonitoringStack(pulumi.ComponentResource):
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

    def __init__(self, name: str, args: MonitoringStackArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = monitoring_render.monitoring_manifests(checked)
        check_owners(monitoring_wanted(checked, name))
        super().__init__("netplumb:index:MonitoringStack", name, None, opts)
        self.args = checked
        crds = {m["spec"]["names"]["kind"]: register_shared(
                    f"{name}-crd-{m['spec']['names']['plural']}", m, children(self))
                for m in manifests if m["kind"] == "CustomResourceDefinition"}
        by_kind = {m["kind"]: m for m in manifests}
        self.monitoring_namespace: pulumi.CustomResource | None = None
        if "Namespace" in by_kind:
            self.monitoring_namespace = register_shared(f"{name}-namespace",
                                                        by_kind["Namespace"], children(self))
        ns = self.monitoring_namespace
        self.metrics_service: pulumi.CustomResource | None = None
        self.service_monitor: pulumi.CustomResource | None = None
        self.prometheus_rule: pulumi.CustomResource | None = None
        self.dashboard: pulumi.CustomResource | None = None
        if "Service" in by_kind:
            self.metrics_service = register_shared(f"{name}-metrics-service",
                                                   by_kind["Service"], children(self))
            self.service_monitor = register_shared(
                f"{name}-service-monitor", by_kind["ServiceMonitor"],
                children(self, crds.get("ServiceMonitor"), self.metrics_service, ns))
        if "PrometheusRule" in by_kind:
            self.prometheus_rule = register_shared(
                f"{name}-prometheus-rule", by_kind["PrometheusRule"],
                children(self, crds.get("PrometheusRule"), ns))
        if "ConfigMap" in by_kind:
            in_created = (checked.dashboard_namespace or checked.namespace) == checked.namespace
            self.dashboard = register_shared(f"{name}-dashboard", by_kind["ConfigMap"],
                                             children(self, ns if in_created else None))
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.job = pulumi.Output.from_input(monitoring_render.JOB)
        self.alerts = pulumi.Output.from_input(
            [r["alert"] for r in monitoring_render.alert_rules(checked)] if checked.rules
            else [])
        self.dashboard_uid = pulumi.Output.from_input(
            monitoring_render.DASHBOARD_UID if checked.dashboard else None)
        self.register_outputs({"namespace": self.namespace, "job": self.job,
                               "alerts": self.alerts, "dashboard_uid": self.dashboard_uid})
