"""Typed arguments of :class:`~netplumb.components.MonitoringStack`: Prometheus and Grafana
objects over the node plugin's metrics (a Service, a ServiceMonitor, a PrometheusRule and a
dashboard ConfigMap)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..validation import FieldIssue
from .base import InputModel
from .fields import Labels, Port, PrometheusDuration, label_value
from .node_plugin import METRICS_PORT


class MonitoringAlertsArgs(InputModel):
    """Thresholds of the PrometheusRule's alerts. An attach is the interface plugin's ADD on
    a node (its IPAM runs inside it); each alert is per network unless it says otherwise."""

    attach_error_ratio: float = 0.05
    """``NetplumbAttachErrors``: more than this share of a network's attaches failed over
    the last 10 minutes (a fraction, 0.05 = 5 %)."""
    attach_latency_p99_seconds: float = 5.0
    """``NetplumbAttachSlow``: the 99th percentile of a network's attach time over the last
    10 minutes is above this many seconds (dhcp leases take seconds; macvlan milliseconds)."""
    pool_use_ratio: float = 0.9
    """``NetplumbPoolNearlyFull``: an IPAM pool has at least this share of its addresses
    allocated (whereabouts pools cluster-wide, host-local pools per node)."""
    node_plugin_down_for: PrometheusDuration = "5m"
    """``NetplumbNodePluginDown``: how long a node's metrics endpoint must stay unreachable."""
    for_: PrometheusDuration = Field(default="10m", alias="for")
    """How long the other alerts' conditions must hold before they fire."""
    labels: Labels = Field(default_factory=dict)
    """Extra labels on every alert (routing, e.g. ``team: network``); ``severity`` is set per
    alert."""

    @field_validator("attach_error_ratio", "pool_use_ratio", mode="before")
    @classmethod
    def _ratio(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if isinstance(v, float) and not 0 < v <= 1:
            raise FieldIssue("expected a fraction above 0 and at most 1, e.g. 0.05 for 5 %")
        return v

    @field_validator("attach_latency_p99_seconds", mode="before")
    @classmethod
    def _seconds(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if isinstance(v, float) and not v > 0:
            raise FieldIssue("expected a positive number of seconds, e.g. 5")
        return v


class MonitoringStackArgs(InputModel):
    """Monitoring of the node plugin: a headless Service over every node's metrics endpoint,
    a ServiceMonitor, a PrometheusRule (attach errors, attach latency, pool use, node plugin
    down) and a Grafana dashboard ConfigMap for Grafana's dashboard sidecar. Needs the
    Prometheus operator's CRDs (``install_crds`` brings minimal ones)."""

    namespace: fc.Namespace = "monitoring"
    """Namespace of the ServiceMonitor, the PrometheusRule and the dashboard ConfigMap
    (where Prometheus and Grafana look for them)."""
    node_plugin_namespace: fc.Namespace = "kube-system"
    """Namespace of the node plugin's DaemonSet; the metrics Service is created there. In a
    stack that installs the node plugin it defaults to the node plugin's namespace."""
    metrics_port: Port = METRICS_PORT
    """The node plugin's metrics port. In a stack that installs the node plugin it defaults
    to the node plugin's ``metrics_port``."""
    release: str | None = None
    """Value of the ``release`` label on the ServiceMonitor and the PrometheusRule. The
    kube-prometheus-stack Helm chart's Prometheus selects only monitors and rules labelled
    with its release name (e.g. ``kube-prometheus-stack``) unless told otherwise."""
    labels: Labels = Field(default_factory=dict)
    """Extra labels on the ServiceMonitor and the PrometheusRule (what other Prometheus
    selectors match)."""
    interval: PrometheusDuration = "30s"
    """Scrape interval."""
    scrape_timeout: PrometheusDuration | None = None
    """Scrape timeout (at most ``interval``); unset keeps Prometheus' default."""
    service_monitor: bool = True
    """Create the ServiceMonitor."""
    rules: bool = True
    """Create the PrometheusRule."""
    alerts: MonitoringAlertsArgs = Field(default_factory=MonitoringAlertsArgs)
    """The alerts' thresholds."""
    dashboard: bool = True
    """Create the Grafana dashboard ConfigMap."""
    dashboard_namespace: fc.Namespace | None = None
    """Namespace of the dashboard ConfigMap (default ``namespace``): where Grafana's sidecar
    looks."""
    dashboard_labels: Labels = Field(default_factory=lambda: {"grafana_dashboard": "1"})
    """Labels Grafana's dashboard sidecar selects ConfigMaps by (the kube-prometheus-stack
    chart's default is ``grafana_dashboard: "1"``)."""
    install_crds: bool = False
    """Install netplumb's minimal ServiceMonitor and PrometheusRule CRDs, for clusters
    without the Prometheus operator (the objects are kept, nothing scrapes them)."""
    create_namespace: bool = False
    """Create ``namespace`` (normally the monitoring install created it)."""

    @field_validator("release")
    @classmethod
    def _release(cls, v: str | None) -> str | None:
        if v is not None and not v:
            raise FieldIssue("empty; expected the Helm release name, e.g. "
                             "kube-prometheus-stack, or no release label")
        return None if v is None else label_value(v)

    @field_validator("labels", "dashboard_labels")
    @classmethod
    def _label_values(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            try:
                label_value(value)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(key,), value=value,
                                 has_value=True) from None
        return v

    @model_validator(mode="after")
    def _check(self) -> MonitoringStackArgs:
        if self.release is not None and self.labels.get("release") not in (None,
                                                                           self.release):
            raise FieldIssue("labels.release and release disagree; expected one of them",
                             subpath=("labels", "release"), value=self.labels["release"],
                             has_value=True)
        if self.scrape_timeout is not None and _seconds(self.scrape_timeout) > _seconds(
                self.interval):
            raise FieldIssue(f"longer than the scrape interval {self.interval}; Prometheus "
                             "refuses a timeout above the interval",
                             subpath=("scrape_timeout",), value=self.scrape_timeout,
                             has_value=True)
        if not (self.service_monitor or self.rules or self.dashboard):
            raise FieldIssue("service_monitor, rules and dashboard are all off; expected at "
                             "least one", subpath=("service_monitor",), value=False,
                             has_value=True)
        if not self.dashboard and "dashboard_namespace" in self.model_fields_set:
            raise FieldIssue("dashboard_namespace given but dashboard is false",
                             subpath=("dashboard_namespace",), value=self.dashboard_namespace,
                             has_value=True)
        return self

    @property
    def monitor_labels(self) -> dict[str, str]:
        """Labels of the ServiceMonitor and the PrometheusRule."""
        out = dict(self.labels)
        if self.release is not None:
            out["release"] = self.release
        return out


_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                 "y": 31536000}


def _seconds(duration: str) -> float:
    return sum(float(n) * _UNIT_SECONDS[u]
               for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", duration))
