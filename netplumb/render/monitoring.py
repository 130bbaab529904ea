"""Monitoring of the node plugin: the metrics Service, the ServiceMonitor, the PrometheusRule
(alerts) and the Grafana dashboard ConfigMap, every query written over the metrics
``netplumb-node metrics`` exports (``node/README.md``, "metrics").

An *attach* is the interface plugin's ADD: a network's IPAM plugin runs inside it (and counts
as its own execution, with the same network), and meta plugins of a chain (tuning, portmap,
…) run after it. So attach rates, errors and latencies select the operations of every plugin
but the IPAM and meta ones.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..args.monitoring import MonitoringStackArgs
from .crds import (
    PROMETHEUS_RULE_API_VERSION,
    PROMETHEUS_RULE_KIND,
    SERVICE_MONITOR_API_VERSION,
    SERVICE_MONITOR_KIND,
    prometheus_rule_crd,
    service_monitor_crd,
)
from .manifests import config_map, manifest, metadata, namespace
from .node_plugin import LABELS as NODE_PLUGIN_LABELS
from .node_plugin import SELECTOR as NODE_PLUGIN_SELECTOR

# The node plugin's metrics (node/internal/metrics: names exactly as exported).
OPERATIONS = "multus_cni_operations_total"
DURATION = "multus_cni_operation_duration_seconds"
ERRORS = "multus_cni_errors_total"
ATTACHMENTS = "multus_network_attachments_total"
POOL_SIZE = "netplumb_ipam_pool_size"
POOL_ALLOCATED = "netplumb_ipam_pool_allocated"
BUILD_INFO = "netplumb_node_build_info"
SPOOL_DROPPED = "netplumb_node_spool_dropped_total"
SPOOL_BACKLOG = "netplumb_node_spool_backlog"
KUBE_LIST_ERRORS = "netplumb_node_kube_list_errors_total"
NODE_METRICS = (OPERATIONS, DURATION, ERRORS, ATTACHMENTS, POOL_SIZE, POOL_ALLOCATED,
                BUILD_INFO, SPOOL_DROPPED, SPOOL_BACKLOG, KUBE_LIST_ERRORS)
"""Every node plugin metric the rules and the dashboard query."""

SERVICE = "netplumb-node"
"""The metrics Service; Prometheus' ``job`` label of the node plugin's targets is its name."""
JOB = SERVICE
SERVICE_MONITOR = "netplumb-node"
PROMETHEUS_RULE = "netplumb-node"
DASHBOARD_CONFIG_MAP = "netplumb-node-dashboard"
DASHBOARD_FILE = "netplumb-node.json"
DASHBOARD_UID = "netplumb-node"

IPAM_PLUGINS = ("host-local", "whereabouts", "static", "dhcp")
META_PLUGINS = ("tuning", "portmap", "bandwidth", "sbr")
NOT_ATTACH = f'plugin!~"{"|".join(IPAM_PLUGINS + META_PLUGINS)}"'
"""Leaves out the executions that are not attaches (IPAM and meta plugins)."""
ATTACH = f'op="ADD",{NOT_ATTACH}'
"""The interface plugin's ADDs: one per attach."""


# -- the Service and the ServiceMonitor ------------------------------------------------------


def metrics_service(args: MonitoringStackArgs) -> dict[str, Any]:
    """A headless Service over every node plugin pod's metrics port (the pods use the host
    network: one endpoint per node, at the node's address)."""
    return manifest("v1", "Service",
                    metadata(SERVICE, args.node_plugin_namespace, labels=NODE_PLUGIN_LABELS),
                    spec={"clusterIP": "None", "selector": dict(NODE_PLUGIN_SELECTOR),
                          "ports": [{"name": "metrics", "port": args.metrics_port,
                                     "targetPort": "metrics", "protocol": "TCP"}]})


def service_monitor(args: MonitoringStackArgs) -> dict[str, Any]:
    """The ServiceMonitor of the metrics Service, in the monitoring namespace: it names the
    Service's namespace (without ``namespaceSelector`` Prometheus looks only in its own) and
    adds each target's node as the ``node`` label.

    ``honorLabels``: the metrics carry the pod's ``namespace``, which the operator's target
    labels (the Service's namespace, ``kube-system``) would otherwise push aside to
    ``exported_namespace`` (a real Prometheus showed it; kube-state-metrics is scraped the
    same way for the same reason)."""
    endpoint: dict[str, Any] = {
        "port": "metrics", "path": "/metrics", "interval": args.interval, "honorLabels": True,
        "relabelings": [{"action": "replace",
                         "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                         "targetLabel": "node"}],
    }
    if args.scrape_timeout is not None:
        endpoint["scrapeTimeout"] = args.scrape_timeout
    return manifest(SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_KIND,
                    metadata(SERVICE_MONITOR, args.namespace, labels=args.monitor_labels),
                    spec={"selector": {"matchLabels": {"app": NODE_PLUGIN_LABELS["app"]}},
                          "namespaceSelector": {"matchNames": [args.node_plugin_namespace]},
                          "endpoints": [endpoint]})


# -- alerts ----------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:g}"


def alert_rules(args: MonitoringStackArgs) -> list[dict[str, Any]]:
    """The alerting rules: attach errors, attach latency, pool use, the node plugin down (and
    absent), operation records lost."""
    a = args.alerts
    window = "10m"

    def alert(name: str, expr: str, for_: str, severity: str, summary: str,
              description: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": for_,
                "labels": {**a.labels, "severity": severity},
                "annotations": {"summary": summary, "description": description}}

    return [
        alert("NetplumbAttachErrors",
              f"sum by (network) (rate({OPERATIONS}{{{ATTACH},result=\"error\"}}[{window}]))\n"
              f"  / sum by (network) (rate({OPERATIONS}{{{ATTACH}}}[{window}]))\n"
              f"  > {_number(a.attach_error_ratio)}",
              a.for_, "warning",
              "Pods fail to attach to network {{ $labels.network }}",
              "{{ $value | humanizePercentage }} of the attaches to network "
              "{{ $labels.network }} failed over the last " + window + f" (threshold "
              f"{_number(a.attach_error_ratio * 100)} %). The reasons are in "
              f"{ERRORS}{{network=\"{{{{ $labels.network }}}}\"}} and in the pods' "
              "FailedCreatePodSandBox events; `netplumb doctor` groups them."),
        alert("NetplumbAttachSlow",
              f"histogram_quantile(0.99, sum by (network, le) "
              f"(rate({DURATION}_bucket{{{ATTACH}}}[{window}])))\n"
              f"  > {_number(a.attach_latency_p99_seconds)}",
              a.for_, "warning",
              "Attaching to network {{ $labels.network }} is slow",
              "The 99th percentile of attach time on network {{ $labels.network }} is "
              "{{ $value | humanizeDuration }} over the last " + window + " (threshold "
              f"{_number(a.attach_latency_p99_seconds)} s): pods start late."),
        alert("NetplumbPoolNearlyFull",
              f"(max by (ipam, network, pool) ({POOL_ALLOCATED}{{ipam=\"whereabouts\"}})\n"
              f"  / max by (ipam, network, pool) ({POOL_SIZE}{{ipam=\"whereabouts\"}} > 0))\n"
              f"  >= {_number(a.pool_use_ratio)}\n"
              f"or\n"
              f"({POOL_ALLOCATED}{{ipam=\"host-local\"}}\n"
              f"  / ({POOL_SIZE}{{ipam=\"host-local\"}} > 0))\n"
              f"  >= {_number(a.pool_use_ratio)}",
              a.for_, "warning",
              "IPAM pool {{ $labels.pool }} of network {{ $labels.network }} is nearly full",
              "{{ $value | humanizePercentage }} of the addresses of the {{ $labels.ipam }} "
              "pool {{ $labels.pool }} (network {{ $labels.network }}{{ if $labels.node }}, "
              "node {{ $labels.node }}{{ end }}) are allocated (threshold "
              f"{_number(a.pool_use_ratio * 100)} %). New pods will fail to attach once it "
              "is full: widen the range or remove pods that hold addresses."),
        alert("NetplumbNodePluginDown",
              f"up{{job=\"{JOB}\"}} == 0",
              a.node_plugin_down_for, "warning",
              "netplumb's node plugin is down on {{ $labels.node }}",
              "The node plugin's metrics endpoint {{ $labels.instance }} (node "
              "{{ $labels.node }}) cannot be scraped: CNI operations there go unmeasured "
              "(they still work), and dhcp-IPAM pods on the node may fail to get leases."),
        alert("NetplumbNodePluginAbsent",
              f"absent(up{{job=\"{JOB}\"}})",
              "15m", "warning",
              "No node plugin targets are scraped",
              f"Prometheus has no targets of job {JOB}: the node plugin is not running, "
              "or its ServiceMonitor is not selected (the release label)."),
        alert("NetplumbOperationRecordsDropped",
              f"increase({SPOOL_DROPPED}[15m]) > 0",
              "0m", "info",
              "CNI operation records were lost on {{ $labels.node }}",
              "The node's metrics daemon was away and its spool full or not writable: "
              "{{ $value | humanize }} operations were not counted (they were not affected)."),
    ]


def prometheus_rule(args: MonitoringStackArgs) -> dict[str, Any]:
    """The PrometheusRule with the alert group."""
    return manifest(PROMETHEUS_RULE_API_VERSION, PROMETHEUS_RULE_KIND,
                    metadata(PROMETHEUS_RULE, args.namespace, labels=args.monitor_labels),
                    spec={"groups": [{"name": "netplumb-node", "rules": alert_rules(args)}]})


# -- the dashboard ---------------------------------------------------------------------------

_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_NET = 'network=~"$network"'
_NODE = 'node=~"$node"'


def _panel(kind: str, title: str, x: int, y: int, w: int, h: int,
           targets: list[tuple[str, str]], unit: str, description: str,
           **options: Any) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "type": kind, "title": title, "description": description,
        "datasource": _DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": chr(ord("A") + i), "datasource": _DATASOURCE, "expr": expr,
                     "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
    }
    panel.update(options)
    return panel


def _table(title: str, x: int, y: int, w: int, h: int, expr: str,
           description: str) -> dict[str, Any]:
    panel = _panel("table", title, x, y, w, h, [(expr, "")], "short", description)
    panel["targets"][0].update({"format": "table", "instant": True})
    panel["transformations"] = [{"id": "organize", "options": {
        "excludeByName": {"Time": True}}}]
    return panel


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel; each query selects by the ``network`` and ``node`` variables."""
    sel = f"{_NET},{_NODE}"
    attach = f"{ATTACH},{sel}"
    rate = "[$__rate_interval]"
    return [
        _panel("stat", "Nodes reporting", 0, 0, 6, 4,
               [(f'count(up{{job="{JOB}",{_NODE}}} == 1)', "")], "short",
               "Node plugin metrics endpoints Prometheus scrapes successfully."),
        _panel("stat", "Live attachments", 6, 0, 6, 4,
               [(f"sum({ATTACHMENTS}{{{sel}}})", "")], "short",
               "Pod interfaces currently attached to the selected networks."),
        _panel("stat", "Failed attaches (time range)", 12, 0, 6, 4,
               [(f'sum(increase({OPERATIONS}{{{attach},result="error"}}[$__range]))', "")],
               "short", "Interface plugin ADDs that failed in the dashboard's time range."),
        _panel("stat", "Operation records lost (time range)", 18, 0, 6, 4,
               [(f"sum(increase({SPOOL_DROPPED}{{{_NODE}}}[$__range]))", "")], "short",
               "Operations the shims could not hand to the metrics daemon (not counted "
               "above; the operations themselves were not affected)."),
        _panel("timeseries", "Attaches per second", 0, 4, 12, 8,
               [(f"sum by (network) (rate({OPERATIONS}{{{attach}}}{rate}))", "{{network}}")],
               "ops", "Interface plugin ADDs per network."),
        _panel("timeseries", "Attach error ratio", 12, 4, 12, 8,
               [(f'sum by (network) (rate({OPERATIONS}{{{attach},result="error"}}{rate}))\n'
                 f"  / sum by (network) (rate({OPERATIONS}{{{attach}}}{rate}))",
                 "{{network}}")],
               "percentunit", "Share of a network's attaches that failed."),
        _panel("timeseries", "Attach latency (p50, p99)", 0, 12, 12, 8,
               [(f"histogram_quantile(0.5, sum by (network, le) "
                 f"(rate({DURATION}_bucket{{{attach}}}{rate})))", "p50 {{network}}"),
                (f"histogram_quantile(0.99, sum by (network, le) "
                 f"(rate({DURATION}_bucket{{{attach}}}{rate})))", "p99 {{network}}")],
               "s", "Time from the interface plugin's start to its exit, IPAM included."),
        _panel("timeseries", "Detach latency (p99)", 12, 12, 12, 8,
               [(f"histogram_quantile(0.99, sum by (network, le) "
                 f'(rate({DURATION}_bucket{{op="DEL",{NOT_ATTACH},{sel}}}{rate})))',
                 "{{network}}")],
               "s", "DEL of the interface plugin, IPAM included."),
        _table("Errors by reason (time range)", 0, 20, 24, 8,
               f"sum by (network, plugin, op, reason) "
               f"(increase({ERRORS}{{{sel}}}[$__range])) > 0",
               "Every failed plugin execution, IPAM and meta plugins included, by reason "
               "(the CNI error code and message, with per-call values replaced)."),
        _panel("timeseries", "Live attachments by namespace", 0, 28, 12, 8,
               [(f"sum by (namespace, network) ({ATTACHMENTS}{{{sel}}})",
                 "{{namespace}}/{{network}}")],
               "short", "Pod interfaces attached per namespace and network."),
        _panel("bargauge", "IPAM pool use", 12, 28, 12, 8,
               [(f'max by (network, pool) ({POOL_ALLOCATED}{{ipam="whereabouts",{_NET}}})\n'
                 f"  / max by (network, pool) "
                 f'({POOL_SIZE}{{ipam="whereabouts",{_NET}}} > 0)',
                 "whereabouts {{network}} {{pool}}"),
                (f'{POOL_ALLOCATED}{{ipam="host-local",{sel}}}\n'
                 f'  / ({POOL_SIZE}{{ipam="host-local",{sel}}} > 0)',
                 "host-local {{network}} {{pool}} on {{node}}")],
               "percentunit", "Share of each pool's addresses allocated: whereabouts pools "
               "cluster-wide, host-local pools per node.",
               options={"displayMode": "gradient", "orientation": "horizontal",
                        "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}),
        _panel("timeseries", "Executions by plugin and operation", 0, 36, 12, 8,
               [(f"sum by (plugin, op) (rate({OPERATIONS}{{{sel}}}{rate}))",
                 "{{plugin}} {{op}}")],
               "ops", "Every plugin execution (IPAM and meta plugins included)."),
        _panel("timeseries", "Metrics side", 12, 36, 12, 8,
               [(f"max by (node) ({SPOOL_BACKLOG}{{{_NODE}}})", "spool backlog {{node}}"),
                (f"sum by (resource) (rate({KUBE_LIST_ERRORS}{{{_NODE}}}{rate}))",
                 "API list errors {{resource}}")],
               "short", "Records waiting in the nodes' spools; failed lists of NADs and "
               "IPPools against the API."),
        _table("Node plugin builds", 0, 44, 24, 6,
               f"count by (version, goversion, cni_plugins, whereabouts) "
               f"({BUILD_INFO}{{{_NODE}}})",
               "Node plugin versions running, with the plugin pins of their image."),
    ]


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard (JSON model): variables for the data source, the networks and
    the nodes, then the panels."""

    def variable(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": _DATASOURCE,
                "query": {"query": query, "refId": f"{name}-values"},
                "definition": query, "refresh": 2, "includeAll": True, "multi": True,
                "allValue": ".*", "current": {"text": "All", "value": "$__all"},
                "sort": 1}

    return {
        "uid": DASHBOARD_UID,
        "title": "netplumb: CNI operations and IPAM pools",
        "description": "Attaches, errors and latency per network, live attachments and "
                       "IPAM pool use, from netplumb's node plugin.",
        "tags": ["netplumb", "cni", "multus"],
        "editable": True,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource",
             "query": "prometheus", "current": {}},
            variable("network", "Network", f"label_values({OPERATIONS}, network)"),
            variable("node", "Node", f"label_values({BUILD_INFO}, node)"),
        ]},
        "panels": dashboard_panels(),
    }


def dashboard_config_map(args: MonitoringStackArgs) -> dict[str, Any]:
    """The dashboard as a ConfigMap labelled for Grafana's dashboard sidecar."""
    return config_map(DASHBOARD_CONFIG_MAP, args.dashboard_namespace or args.namespace,
                      {DASHBOARD_FILE: json.dumps(dashboard(), indent=2) + "\n"},
                      args.dashboard_labels)


def dashboard_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title, PromQL with Grafana's variables)`` of every panel target."""
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def as_promql(expr: str, variables: dict[str, str] | None = None) -> str:
    """A dashboard query as Prometheus takes it: Grafana's interval variables replaced
    (``$__rate_interval`` 5m, ``$__interval`` 1m, ``$__range`` 1h) and the dashboard's own
    (``$network``, ``$node``) by ``variables`` (default ``.*``, Grafana's "All")."""
    out = expr
    for name, value in _GRAFANA_VARIABLES.items():
        out = out.replace(name, value)
    return re.sub(r"\$([a-z_]+)", lambda m: (variables or {}).get(m[1], ".*"), out)


# -- everything -------------------------------------------------------------------------------


def monitoring_manifests(args: MonitoringStackArgs) -> list[dict[str, Any]]:
    """Every object, in apply order: the CRDs (with ``install_crds``), the namespace (with
    ``create_namespace``), the metrics Service, ServiceMonitor, PrometheusRule, dashboard."""
    out: list[dict[str, Any]] = []
    if args.install_crds:
        if args.service_monitor:
            out.append(service_monitor_crd())
        if args.rules:
            out.append(prometheus_rule_crd())
    if args.create_namespace:
        out.append(namespace(args.namespace))
    if args.service_monitor:
        out += [metrics_service(args), service_monitor(args)]
    if args.rules:
        out.append(prometheus_rule(args))
    if args.dashboard:
        out.append(dashboard_config_map(args))
    return out
