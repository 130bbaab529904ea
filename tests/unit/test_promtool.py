"""The PrometheusRule and the dashboard through Prometheus' own tooling: ``promtool check
rules`` on the rule groups (expressions, durations, annotation templates) and on every
dashboard query as a recording rule, and ``promtool test rules``, which evaluates each alert
with Prometheus' query engine over synthetic series of the node plugin's metrics: each fires
where it should, with the labels it should, and stays quiet otherwise.

promtool comes with Debian's ``prometheus`` package (``make test`` installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb.args.monitoring import MonitoringStackArgs
from netplumb.render.monitoring import (
    ATTACHMENTS,
    JOB,
    OPERATIONS,
    as_promql,
    dashboard,
    dashboard_queries,
    monitoring_manifests,
)

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found (Debian package prometheus; make test installs it: tools/deps.sh)")

J = dict[str, Any]
MAIN = 'plugin="macvlan"'


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def rule_groups(args: MonitoringStackArgs | None = None) -> list[J]:
    rule = next(m for m in monitoring_manifests(args or MonitoringStackArgs())
                if m["kind"] == "PrometheusRule")
    groups: list[J] = rule["spec"]["groups"]
    return groups


def write(path: Path, doc: J) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_prometheus_rule_groups_pass_check_rules(tmp_path: Path) -> None:
    groups = rule_groups()
    out = promtool("check", "rules", write(tmp_path / "rules.yml", {"groups": groups}))
    assert out.returncode == 0, out.stdout + out.stderr
    count = sum(len(g["rules"]) for g in groups)
    assert f"SUCCESS: {count} rules found" in out.stdout, out.stdout


def test_check_rules_has_teeth(tmp_path: Path) -> None:
    groups = rule_groups()
    groups[0]["rules"][0]["expr"] = groups[0]["rules"][0]["expr"].replace("sum by", "sum bye")
    out = promtool("check", "rules", write(tmp_path / "broken.yml", {"groups": groups}))
    assert out.returncode != 0
    assert "parse error" in out.stdout + out.stderr
    groups = rule_groups()
    groups[0]["rules"][0]["annotations"]["summary"] = "{{ $labels.network "
    out = promtool("check", "rules", write(tmp_path / "template.yml", {"groups": groups}))
    assert out.returncode != 0, out.stdout


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    queries = dashboard_queries(dashboard())
    rules = [{"record": f"netplumb:dashboard_query:{i}", "expr": as_promql(q)}
             for i, (_, q) in enumerate(queries)]
    out = promtool("check", "rules", write(tmp_path / "dashboard.yml", {"groups": [
        {"name": "dashboard", "rules": rules}]}))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(queries)} rules found" in out.stdout


def series(name: str, labels: J, values: str) -> J:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def node(n: str) -> J:
    return {"job": JOB, "instance": f"{n}:9561", "node": n}


def evaluation_rules(tmp_path: Path, args: MonitoringStackArgs) -> Path:
    """The rule groups without annotations: promtool compares an alert's annotations too,
    and their text is checked by check rules above; here the expressions are under test."""
    groups = rule_groups(args)
    for g in groups:
        for r in g["rules"]:
            r.pop("annotations", None)
    return write(tmp_path / "rules.yml", {"groups": groups})


def test_alerts_fire_where_they_should(tmp_path: Path) -> None:
    args = MonitoringStackArgs()
    ops = "multus_cni_operations_total"
    dur = "multus_cni_operation_duration_seconds_bucket"
    inputs = [
        # network a: 1 of 10 attaches fails (10 % > 5 %); network b: 1 of 100 (1 %), but its
        # IPAM plugin fails a lot, which is not an attach of its own
        series(ops, {**node("n1"), "network": "a", "plugin": "macvlan", "op": "ADD",
                     "result": "success"}, "0+9x60"),
        series(ops, {**node("n1"), "network": "a", "plugin": "macvlan", "op": "ADD",
                     "result": "error"}, "0+1x60"),
        series(ops, {**node("n1"), "network": "b", "plugin": "bridge", "op": "ADD",
                     "result": "success"}, "0+99x60"),
        series(ops, {**node("n1"), "network": "b", "plugin": "bridge", "op": "ADD",
                     "result": "error"}, "0+1x60"),
        series(ops, {**node("n1"), "network": "b", "plugin": "host-local", "op": "ADD",
                     "result": "error"}, "0+50x60"),
        # network a's attaches take 5-10 s; network b's under a millisecond
        *[series(dur, {**node("n1"), "network": "a", "plugin": "macvlan", "op": "ADD",
                       "le": le}, v)
          for le, v in (("0.001", "0x60"), ("5", "0x60"), ("10", "0+10x60"),
                        ("+Inf", "0+10x60"))],
        *[series(dur, {**node("n1"), "network": "b", "plugin": "bridge", "op": "ADD",
                       "le": le}, "0+100x60") for le in ("0.001", "5", "10", "+Inf")],
        # whereabouts pool of a at 95 % reported alike by two nodes, of c at 50 %;
        # host-local pool of b on n2 at 250 of 253
        *[series(m, {**node(n), "ipam": "whereabouts", "network": "a",
                     "pool": "198.51.100.0-24"}, v)
          for n in ("n1", "n2")
          for m, v in (("netplumb_ipam_pool_allocated", "95x60"),
                       ("netplumb_ipam_pool_size", "100x60"))],
        series("netplumb_ipam_pool_allocated", {**node("n1"), "ipam": "whereabouts",
                                                "network": "c", "pool": "p"}, "50x60"),
        series("netplumb_ipam_pool_size", {**node("n1"), "ipam": "whereabouts",
                                           "network": "c", "pool": "p"}, "100x60"),
        series("netplumb_ipam_pool_allocated", {**node("n2"), "ipam": "host-local",
                                                "network": "b", "pool": "203.0.113.0/24"},
               "250x60"),
        series("netplumb_ipam_pool_size", {**node("n2"), "ipam": "host-local", "network": "b",
                                           "pool": "203.0.113.0/24"}, "253x60"),
        # a pool of unknown size (no size series) never alerts
        series("netplumb_ipam_pool_allocated", {**node("n1"), "ipam": "host-local",
                                                "network": "d", "pool": "unknown"}, "9x60"),
        # n2's metrics endpoint is down
        series("up", node("n1"), "1x60"),
        series("up", node("n2"), "0x60"),
        # n1 lost 3 records at minute 20
        series("netplumb_node_spool_dropped_total", node("n1"), "0x20 3x40"),
    ]
    warning = {"severity": "warning"}
    tests = [{
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [
            # `for: 10m` not yet elapsed
            {"eval_time": "8m", "alertname": "NetplumbAttachErrors", "exp_alerts": []},
            {"eval_time": "30m", "alertname": "NetplumbAttachErrors",
             "exp_alerts": [{"exp_labels": {**warning, "network": "a"}}]},
            {"eval_time": "30m", "alertname": "NetplumbAttachSlow",
             "exp_alerts": [{"exp_labels": {**warning, "network": "a"}}]},
            {"eval_time": "30m", "alertname": "NetplumbPoolNearlyFull", "exp_alerts": [
                {"exp_labels": {**warning, "ipam": "whereabouts", "network": "a",
                                "pool": "198.51.100.0-24"}},
                {"exp_labels": {**warning, **node("n2"), "ipam": "host-local", "network": "b",
                                "pool": "203.0.113.0/24"}}]},
            {"eval_time": "30m", "alertname": "NetplumbNodePluginDown",
             "exp_alerts": [{"exp_labels": {**warning, **node("n2")}}]},
            {"eval_time": "30m", "alertname": "NetplumbNodePluginAbsent", "exp_alerts": []},
            {"eval_time": "25m", "alertname": "NetplumbOperationRecordsDropped",
             "exp_alerts": [{"exp_labels": {"severity": "info", **node("n1")}}]},
            {"eval_time": "50m", "alertname": "NetplumbOperationRecordsDropped",
             "exp_alerts": []},
        ],
    }, {
        # nothing scraped at all
        "interval": "1m",
        "input_series": [series(OPERATIONS, {"network": "a", "plugin": "macvlan", "op": "ADD",
                                             "result": "success"}, "0+1x30")],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "NetplumbNodePluginAbsent",
             "exp_alerts": [{"exp_labels": {**warning, "job": JOB}}]},
            {"eval_time": "20m", "alertname": "NetplumbAttachErrors", "exp_alerts": []},
        ],
    }]
    rules = evaluation_rules(tmp_path, args)
    out = promtool("test", "rules", write(tmp_path / "test.yml", {
        "rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_thresholds_move_the_alerts(tmp_path: Path) -> None:
    # 10 % failing attaches do not alert at a 20 % threshold
    args = MonitoringStackArgs.parse({"alerts": {"attach_error_ratio": 0.2}})
    inputs = [series(OPERATIONS, {**node("n1"), "network": "a", "plugin": "macvlan",
                                  "op": "ADD", "result": r}, v)
              for r, v in (("success", "0+9x60"), ("error", "0+1x60"))]
    tests = [{"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": "30m", "alertname": "NetplumbAttachErrors", "exp_alerts": []}]}]
    rules = evaluation_rules(tmp_path, args)
    out = promtool("test", "rules", write(tmp_path / "test.yml", {
        "rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}))
    assert out.returncode == 0, out.stdout + out.stderr
    # and the same series at the default threshold do (the test above would notice)
    wrong = [{**tests[0], "alert_rule_test": [
        {"eval_time": "30m", "alertname": "NetplumbAttachErrors", "exp_alerts": []}]}]
    rules = evaluation_rules(tmp_path, MonitoringStackArgs())
    out = promtool("test", "rules", write(tmp_path / "test.yml", {
        "rule_files": [rules.name], "evaluation_interval": "1m", "tests": wrong}))
    assert out.returncode != 0
    assert "NetplumbAttachErrors" in out.stdout + out.stderr


def test_dashboard_stat_queries_evaluate(tmp_path: Path) -> None:
    queries = {title: as_promql(q) for title, q in dashboard_queries(dashboard())}
    inputs = [
        series(ATTACHMENTS, {**node("n1"), "namespace": "team-a", "network": "a"}, "3x30"),
        series(ATTACHMENTS, {**node("n2"), "namespace": "team-a", "network": "a"}, "2x30"),
        series(OPERATIONS, {**node("n1"), "network": "a", "plugin": "macvlan", "op": "ADD",
                            "result": "error"}, "0+1x90"),
        series(OPERATIONS, {**node("n1"), "network": "a", "plugin": "host-local", "op": "ADD",
                            "result": "error"}, "0+1x90"),
        series("up", node("n1"), "1x30"),
        series("up", node("n2"), "0x30"),
    ]
    expr_tests = [
        {"expr": queries["Live attachments"], "eval_time": "10m",
         "exp_samples": [{"labels": "{}", "value": 5}]},
        {"expr": queries["Nodes reporting"], "eval_time": "10m",
         "exp_samples": [{"labels": "{}", "value": 1}]},
        # one failed macvlan ADD a minute for the last hour; host-local's are not attaches
        {"expr": queries["Failed attaches (time range)"], "eval_time": "90m",
         "exp_samples": [{"labels": "{}", "value": 60}]},
    ]
    (tmp_path / "empty.yml").write_text("groups: []\n")
    out = promtool("test", "rules", write(tmp_path / "test.yml", {
        "rule_files": ["empty.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": expr_tests}]}))
    assert out.returncode == 0, out.stdout + out.stderr
