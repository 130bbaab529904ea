"""Example: monitoring netplumb's data path on a cluster that runs kube-prometheus-stack.

The node plugin (placed by ``MultusInstall``) serves per-network CNI metrics on every node.
This program adds what Prometheus and Grafana need to use them, in a namespace of its own
(config ``namespace``, default ``netplumb-monitoring``):

* a ServiceMonitor over the node plugin's metrics Service, labelled ``release:
  kube-prometheus-stack`` (config ``release``), since that chart's Prometheus selects only
  monitors with its release label. Config ``scrape: false`` leaves both out, for clusters
  where another stack already scrapes the node plugin (one Service per node plugin);
* a PrometheusRule with stricter thresholds than the defaults, each alert labelled
  ``team: network`` for routing;
* the Grafana dashboard ConfigMap, picked up by the chart's dashboard sidecar.

A MonitoringStack is a shared install: ``pulumi destroy`` leaves its objects and namespace in
place, as netplumb does for every cluster-wide install (see the README's "Many teams on one
cluster").
"""

import pulumi

from netplumb import MonitoringAlertsArgs, MonitoringStack, MonitoringStackArgs

config = pulumi.Config()
scrape = config.get_bool("scrape")

monitoring = MonitoringStack("netplumb-metrics", MonitoringStackArgs(
    namespace=config.get("namespace") or "netplumb-monitoring",
    create_namespace=True,
    release=config.get("release") or "kube-prometheus-stack",
    node_plugin_namespace=config.get("nodePluginNamespace") or "kube-system",
    service_monitor=scrape is not False,
    interval="15s",
    alerts=MonitoringAlertsArgs(attach_error_ratio=0.02, attach_latency_p99_seconds=2.0,
                                pool_use_ratio=0.8, labels={"team": "network"}),
))

pulumi.export("namespace", monitoring.namespace)
pulumi.export("alerts", monitoring.alerts)
pulumi.export("dashboard_uid", monitoring.dashboard_uid)
