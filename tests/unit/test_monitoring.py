"""MonitoringStack: the metrics Service finds the node plugin's pods, the ServiceMonitor carries
the release label, every rule and dashboard query names metrics exactly as the node plugin
exports them; args; the stack fills in the node plugin's namespace and port; under mocks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb import PlanError
from netplumb.args.monitoring import MonitoringAlertsArgs, MonitoringStackArgs
from netplumb.args.node_plugin import NodePluginArgs
from netplumb.args.stack import StackSpec
from netplumb.cli.main import main
from netplumb.components.monitoring import MonitoringStack
from netplumb.components.stack import NetplumbStack
from netplumb.plan import build_plan, render_plan
from netplumb.render.monitoring import (
    JOB,
    NODE_METRICS,
    alert_rules,
    as_promql,
    dashboard,
    dashboard_queries,
    monitoring_manifests,
)
from netplumb.render.node_plugin import node_plugin_manifests

from .node_sources import exported_metrics
from .pulumi_mocks import run_program
from .test_platform_flannel import refused

J = dict[str, Any]
AT = ("config", "netplumb:spec")
S = "config.netplumb:spec"
METRIC = re.compile(r"\b((?:multus|netplumb)_[a-z_]+)")


def kinds(manifests: list[J]) -> dict[str, J]:
    return {m["kind"]: m for m in manifests}


def referenced(expr: str) -> set[str]:
    """Metric names a query selects (a histogram's ``_bucket`` series by its name)."""
    return {re.sub(r"_bucket$", "", m) for m in METRIC.findall(expr)}


def every_query() -> list[tuple[str, str]]:
    args = MonitoringStackArgs()
    out = [(r["alert"], r["expr"]) for r in alert_rules(args)]
    out += dashboard_queries(dashboard())
    out += [(v["name"], v["query"]["query"]) for v in dashboard()["templating"]["list"]
            if v["type"] == "query"]
    return out


def test_every_metric_named_is_one_the_node_plugin_exports() -> None:
    exported = exported_metrics()
    assert set(NODE_METRICS) <= exported, set(NODE_METRICS) - exported
    for name, expr in every_query():
        names = referenced(expr)
        assert names or f'up{{job="{JOB}"' in expr, (name, expr)  # over the node plugin
        assert names <= exported, (name, names - exported)
    # the four metrics the seed guide promised, and pools, are all queried somewhere
    used = set().union(*(referenced(e) for _, e in every_query()))
    assert {"multus_cni_operations_total", "multus_cni_operation_duration_seconds",
            "multus_cni_errors_total", "multus_network_attachments_total",
            "netplumb_ipam_pool_size", "netplumb_ipam_pool_allocated"} <= used


def test_service_selects_the_node_plugin_pods_and_port() -> None:
    args = MonitoringStackArgs(node_plugin_namespace="cni", metrics_port=9600)
    svc = kinds(monitoring_manifests(args))["Service"]
    ds = kinds(node_plugin_manifests(NodePluginArgs(namespace="cni", metrics_port=9600)))[
        "DaemonSet"]
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert svc["metadata"]["namespace"] == ds["metadata"]["namespace"] == "cni"
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["clusterIP"] == "None"  # one endpoint per node
    [port] = svc["spec"]["ports"]
    ports = {p["name"]: p["containerPort"] for c in ds["spec"]["template"]["spec"]["containers"]
             for p in c.get("ports", [])}
    assert port["targetPort"] in ports and port["port"] == ports[port["targetPort"]] == 9600


def test_service_monitor_release_label_and_namespace() -> None:
    args = MonitoringStackArgs(release="kube-prometheus-stack", labels={"team": "net"},
                               interval="15s", scrape_timeout="10s")
    k = kinds(monitoring_manifests(args))
    mon = k["ServiceMonitor"]
    assert mon["apiVersion"] == "monitoring.coreos.com/v1"
    assert mon["metadata"]["namespace"] == "monitoring"
    assert mon["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert mon["metadata"]["labels"]["team"] == "net"
    assert k["PrometheusRule"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert mon["spec"]["selector"]["matchLabels"].items() <= k["Service"]["metadata"][
        "labels"].items()
    assert mon["spec"]["namespaceSelector"] == {"matchNames": ["kube-system"]}
    [ep] = mon["spec"]["endpoints"]
    assert (ep["port"], ep["path"], ep["interval"], ep["scrapeTimeout"]) == (
        "metrics", "/metrics", "15s", "10s")
    # the metrics' own namespace label (the pod's) wins over the target's
    assert ep["honorLabels"] is True
    assert {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"],
            "targetLabel": "node"} in ep["relabelings"]
    # without a release nothing claims one
    assert "release" not in kinds(monitoring_manifests(MonitoringStackArgs()))[
        "ServiceMonitor"]["metadata"]["labels"]


def test_alerts_cover_what_the_issue_asks_with_thresholds() -> None:
    args = MonitoringStackArgs(alerts=MonitoringAlertsArgs.parse(
        {"attach_error_ratio": 0.1, "attach_latency_p99_seconds": 2, "pool_use_ratio": 0.8,
         "node_plugin_down_for": "2m", "for": "15m", "labels": {"team": "net"}}))
    rules = {r["alert"]: r for r in alert_rules(args)}
    assert {"NetplumbAttachErrors", "NetplumbAttachSlow", "NetplumbPoolNearlyFull",
            "NetplumbNodePluginDown"} <= set(rules)
    assert rules["NetplumbAttachErrors"]["expr"].rstrip().endswith("> 0.1")
    assert "histogram_quantile(0.99" in rules["NetplumbAttachSlow"]["expr"]
    assert rules["NetplumbAttachSlow"]["expr"].rstrip().endswith("> 2")
    assert rules["NetplumbPoolNearlyFull"]["expr"].count(">= 0.8") == 2
    assert rules["NetplumbNodePluginDown"]["expr"] == f'up{{job="{JOB}"}} == 0'
    assert rules["NetplumbNodePluginDown"]["for"] == "2m"
    assert rules["NetplumbAttachErrors"]["for"] == "15m"
    assert all(r["labels"]["team"] == "net" and r["labels"]["severity"] for r in rules.values())
    # attaches are the interface plugin's ADDs: IPAM and meta plugins left out
    for name in ("NetplumbAttachErrors", "NetplumbAttachSlow"):
        expr = rules[name]["expr"]
        assert 'op="ADD"' in expr
        assert all(p in expr for p in ("host-local", "whereabouts", "static", "dhcp", "tuning"))


def test_dashboard_config_map_for_the_grafana_sidecar() -> None:
    cm = kinds(monitoring_manifests(MonitoringStackArgs()))["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    [(file, text)] = cm["data"].items()
    assert file.endswith(".json")
    board = json.loads(text)
    assert board == dashboard()
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    assert len(panels) >= 10
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["targets"], p["title"]
    # panels do not overlap on Grafana's 24-column grid
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, (p["title"], cells.get((x, y)))
                cells[(x, y)] = p["title"]
    custom = kinds(monitoring_manifests(MonitoringStackArgs(
        dashboard_namespace="grafana", dashboard_labels={"dashboards": "netplumb"})))[
        "ConfigMap"]
    assert custom["metadata"]["namespace"] == "grafana"
    assert custom["metadata"]["labels"]["dashboards"] == "netplumb"


def test_as_promql_replaces_grafana_variables() -> None:
    expr = 'sum(rate(x{network=~"$network",node=~"$node"}[$__rate_interval])) + ' \
           'sum(increase(y[$__range]))'
    assert as_promql(expr) == 'sum(rate(x{network=~".*",node=~".*"}[5m])) + ' \
                              'sum(increase(y[1h]))'
    assert as_promql(expr, {"network": "storage"}).startswith(
        'sum(rate(x{network=~"storage",node=~".*"}')
    for _, q in dashboard_queries(dashboard()):
        assert "$" not in as_promql(q), q


def test_only_what_is_asked_for_and_crds() -> None:
    only_rules = MonitoringStackArgs(service_monitor=False, dashboard=False)
    assert [m["kind"] for m in monitoring_manifests(only_rules)] == ["PrometheusRule"]
    full = MonitoringStackArgs(install_crds=True, create_namespace=True)
    order = [(m["kind"], m["metadata"]["name"]) for m in monitoring_manifests(full)]
    assert order[:3] == [("CustomResourceDefinition", "servicemonitors.monitoring.coreos.com"),
                         ("CustomResourceDefinition", "prometheusrules.monitoring.coreos.com"),
                         ("Namespace", "monitoring")]


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"release": ""}, "release", ["Helm release"]),
    ({"release": "my release"}, "release", ["label value"]),
    ({"release": "a", "labels": {"release": "b"}}, "labels.release", ["disagree"]),
    ({"labels": {"team": "-x"}}, "labels.team", ["label value"]),
    ({"interval": "30"}, "interval", ["Prometheus duration"]),
    ({"interval": "30s", "scrape_timeout": "1m"}, "scrape_timeout", ["longer"]),
    ({"service_monitor": False, "rules": False, "dashboard": False}, "service_monitor",
     ["at least one"]),
    ({"dashboard": False, "dashboard_namespace": "x"}, "dashboard_namespace", ["dashboard"]),
    ({"alerts": {"attach_error_ratio": 5}}, "alerts.attach_error_ratio", ["fraction"]),
    ({"alerts": {"pool_use_ratio": 0}}, "alerts.pool_use_ratio", ["fraction"]),
    ({"alerts": {"attach_latency_p99_seconds": -1}}, "alerts.attach_latency_p99_seconds",
     ["positive"]),
    ({"alerts": {"for": "soon"}}, "alerts.for", ["Prometheus duration"]),
    ({"metrics_port": 0}, "metrics_port", ["port"]),
])
def test_bad_args_name_the_field(data: J, path: str, words: list[str]) -> None:
    with pytest.raises(PlanError) as err:
        MonitoringStackArgs.parse(data)
    assert err.value.path == path, err.value
    for word in words:
        assert word in str(err.value), (word, str(err.value))


# -- in a stack -------------------------------------------------------------------------------


def test_stack_fills_in_the_node_plugin_it_installs() -> None:
    spec = StackSpec.parse({"multus": {"namespace": "cni", "default_network": "none",
                                       "node_plugin": {"metrics_port": 9600}},
                            "monitoring": {"release": "prom"}}, at=AT)
    plan = build_plan(spec, root=AT)
    assert plan.monitoring is not None
    assert (plan.monitoring.node_plugin_namespace, plan.monitoring.metrics_port) == ("cni",
                                                                                     9600)
    svc = next(m for m in render_plan(plan) if m["kind"] == "Service"
               and m["metadata"]["name"] == "netplumb-node")
    assert svc["metadata"]["namespace"] == "cni"
    # a team stack monitors the platform's node plugin where it says
    team = StackSpec.parse({"monitoring": {"node_plugin_namespace": "cni"}}, at=AT)
    assert team.monitoring_args() == team.monitoring


@pytest.mark.parametrize(("spec", "path"), [
    ({"multus": {"namespace": "cni"}, "monitoring": {"node_plugin_namespace": "kube-system"}},
     f"{S}.monitoring.node_plugin_namespace"),
    ({"multus": {"node_plugin": {"metrics_port": 9600}}, "monitoring": {"metrics_port": 9561}},
     f"{S}.monitoring.metrics_port"),
    ({"multus": {"node_plugin": {"metrics": False}}, "monitoring": {}},
     f"{S}.monitoring.service_monitor"),
    ({"multus": {"metrics_port": 9091, "service_monitor": {"install_crd": True}},
      "monitoring": {"install_crds": True}}, f"{S}.monitoring.install_crds"),
])
def test_stack_refuses_monitoring_that_misses_the_node_plugin(spec: J, path: str) -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse(spec, at=AT)
    assert err.value.path == path, err.value


# -- under mocks ------------------------------------------------------------------------------


def test_component_registers_objects_after_their_crds() -> None:
    args = MonitoringStackArgs(install_crds=True, create_namespace=True, release="prom")
    mocks = run_program(lambda: MonitoringStack("mon", args))
    by_name = {r.name: r for r in mocks.registered}
    assert by_name["mon"].type == "netplumb:index:MonitoringStack"
    mon = by_name["mon-service-monitor"]
    assert mon.type == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
    assert {"mon-crd-servicemonitors", "mon-metrics-service", "mon-namespace"} <= set(
        mon.depends_on)
    rule = by_name["mon-prometheus-rule"]
    assert rule.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
    assert {"mon-crd-prometheusrules", "mon-namespace"} <= set(rule.depends_on)
    assert by_name["mon-dashboard"].type == "kubernetes:core/v1:ConfigMap"
    assert "mon-namespace" in by_name["mon-dashboard"].depends_on
    groups = rule.inputs["spec"]["groups"]
    assert [r["alert"] for r in groups[0]["rules"]] == [r["alert"] for r in alert_rules(args)]
    assert all(r.retain_on_delete for r in mocks.registered if r.type.startswith("kubernetes"))


def test_stack_registers_monitoring() -> None:
    spec = StackSpec.parse({"monitoring": {"release": "prom", "dashboard": False}}, at=AT)
    mocks = run_program(lambda: NetplumbStack("s", spec))
    [mon] = mocks.of_type("netplumb:index:MonitoringStack")
    assert mon.name == "s-monitoring"
    assert mocks.of_type("kubernetes:core/v1:ConfigMap") == []


def test_bad_args_register_nothing() -> None:
    err, mocks = refused(lambda: MonitoringStack("mon", MonitoringStackArgs.model_construct(
        release="not a label")))
    assert err.paths == ["release"]
    assert mocks.registered == []


# -- netplumb check and render ----------------------------------------------------------------


def stack_file(tmp_path: Path, spec: J) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(yaml.safe_dump({"config": {"netplumb:spec": spec}}))
    return path


def test_check_and_render_carry_the_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    net = {"name": "storage", "type": "macvlan", "master": "ens2f0",
           "ipam": {"type": "whereabouts", "range": "198.51.100.0/24"}}
    team = stack_file(tmp_path, {"networks": [net], "monitoring": {"release": "prom"}})
    assert main(["check", str(team)]) == 1
    err = capsys.readouterr().err
    assert f"{S}.networks[0].ipam.type" in err and "{installed: external}" in err
    platform = stack_file(tmp_path, {"networks": [net], "monitoring": {"release": "prom"},
                                     "multus": {"default_network": "none"}})
    assert main(["check", str(platform)]) == 0
    assert main(["render", str(platform), "--out", str(tmp_path / "out")]) == 0
    written = {p.name for p in (tmp_path / "out").iterdir()}
    for expected in ("daemonset-kube-system-netplumb-node", "daemonset-kube-system-whereabouts",
                     "customresourcedefinition-ippools.whereabouts.cni.cncf.io",
                     "servicemonitor-monitoring-netplumb-node",
                     "prometheusrule-monitoring-netplumb-node",
                     "configmap-monitoring-netplumb-node-dashboard",
                     "service-kube-system-netplumb-node"):
        assert any(expected in name for name in written), (expected, sorted(written))
