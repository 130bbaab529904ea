"""A real Prometheus, configured by a real prometheus-operator from netplumb's ServiceMonitor,
scrapes the node plugin on every real node.

The platform stack deployed the MonitoringStack (metrics Service, ServiceMonitor,
PrometheusRule, dashboard ConfigMap) with netplumb's two minimal CRDs. This module deploys
prometheus-operator v0.85.0 (image built here from tools/prometheus-operator; its other CRDs
and its ClusterRole read from the pinned module's ``bundle.yaml`` in the Go module cache) and
a ``Prometheus`` object (Prometheus v3.16.0, built here from tools/prometheus), selecting every
ServiceMonitor and PrometheusRule. Then: a PromQL query returns the attachments of the pods
this test created (pinned to one node: one series, labelled with that node), every node's
node plugin is an active target, every dashboard panel's query and every alert's expression
evaluates without error, and the operator loaded netplumb's rule groups into Prometheus.

Prometheus' pod address is not routed from the host: its HTTP API is queried with ``curl``
run inside the node that runs it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cluster.api import Api, pod_ready, wait_for
from harness.node import Node
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.monitoring import MonitoringStackArgs
from netplumb.args.nad import MacvlanNetworkArgs
from netplumb.render.monitoring import as_promql, dashboard_queries, prometheus_rule
from tests.e2e import nodemetrics as nm
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

PROM_NS = "np-prom"
PODS_NS = "np-prom-pods"
OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
OPERATOR_IMAGE = "quay.io/prometheus-operator/prometheus-operator:v0.85.0"
RELOADER_IMAGE = "quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0"
PROMETHEUS_VERSION = "v3.16.0"
"""The operator runs ``quay.io/prometheus/prometheus:<version>``: the image built here."""
CLUSTER_ROLES = ("np-prom-operator", "np-prom-prometheus")
MONITORING = "/apis/monitoring.coreos.com/v1"


class _BundleLoader(yaml.SafeLoader):
    """bundle.yaml spells one value ``=`` (YAML's ``value`` tag): read it as the string."""


_BundleLoader.add_constructor("tag:yaml.org,2002:value",
                              lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _bundle() -> list[dict[str, Any]]:
    proc = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", OPERATOR_MODULE],
                          cwd=REPO_ROOT / "tools/prometheus-operator", capture_output=True,
                          text=True, check=False)
    path = Path(proc.stdout.strip()) / "bundle.yaml"
    if proc.returncode != 0 or not path.is_file():
        pytest.skip(f"prometheus-operator's module is not in the Go module cache ({OPERATOR_MODULE}"
                    "; `python -m harness.tools build prometheus-operator` fetches it)")
    return [d for d in yaml.load_all(path.read_text(), Loader=_BundleLoader) if d]


def _objects(bundle: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) to create, in order: what the operator and Prometheus need."""
    [role] = [d for d in bundle if d["kind"] == "ClusterRole"]
    [deploy] = [d for d in bundle if d["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    [container] = pod["containers"]
    container["image"] = OPERATOR_IMAGE
    # no kubelet Service: this test scrapes only the node plugin
    container["args"] = [f"--prometheus-config-reloader={RELOADER_IMAGE}", "--log-level=info"]
    deploy["metadata"] = {"name": "prometheus-operator", "namespace": PROM_NS,
                          "labels": deploy["metadata"].get("labels", {})}
    pod["serviceAccountName"] = "prometheus-operator"
    rbac = "/apis/rbac.authorization.k8s.io/v1"

    def binding(name: str, sa: str) -> dict[str, Any]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": PROM_NS}]}

    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "netplumb", "namespace": PROM_NS},
        "spec": {"version": PROMETHEUS_VERSION, "replicas": 1,
                 "serviceAccountName": "prometheus", "scrapeInterval": "10s",
                 "evaluationInterval": "10s",
                 "serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {},
                 "ruleSelector": {}, "ruleNamespaceSelector": {},
                 "resources": {"requests": {"memory": "100Mi"}}}}
    return [
        ("/api/v1/serviceaccounts", {"metadata": {"name": "prometheus-operator"}}),
        ("/api/v1/serviceaccounts", {"metadata": {"name": "prometheus"}}),
        (f"{rbac}/clusterroles", {"metadata": {"name": CLUSTER_ROLES[0]},
                                  "rules": role["rules"]}),
        (f"{rbac}/clusterrolebindings", binding(CLUSTER_ROLES[0], "prometheus-operator")),
        (f"{rbac}/clusterroles", {"metadata": {"name": CLUSTER_ROLES[1]}, "rules": [
            {"apiGroups": [""], "resources": ["services", "endpoints", "pods"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
             "verbs": ["get", "list", "watch"]}]}),
        (f"{rbac}/clusterrolebindings", binding(CLUSTER_ROLES[1], "prometheus")),
        ("/apis/apps/v1/deployments", deploy),
        (f"{MONITORING}/prometheuses", prometheus),
    ]


def _namespaced(path: str) -> str:
    for prefix in ("/api/v1/", "/apis/apps/v1/", f"{MONITORING}/"):
        if path.startswith(prefix):
            return f"{prefix}namespaces/{PROM_NS}/{path[len(prefix):]}"
    return path


@dataclass(frozen=True)
class Prometheus:
    """Prometheus' HTTP API: ``base`` (its pod's address, port 9090), reached from ``node``
    (the node that runs it; the host has no route to pod addresses)."""

    node: Node
    base: str

    def fetch(self, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (with ``query`` URL-encoded): the JSON answer, also of an error
        status (Prometheus explains a failed query in the body)."""
        argv = ["curl", "-sS", "--globoff", "--max-time", "15"]
        if query:
            argv.append("--get")
            for key, value in query.items():
                argv += ["--data-urlencode", f"{key}={value}"]
        proc = self.node.run([*argv, f"{self.base}{path}"], timeout=30, check=False)
        if proc.returncode != 0:
            raise OSError(f"curl {self.base}{path} on {self.node.name}: exit "
                          f"{proc.returncode}: {proc.stderr.strip()}")
        doc: dict[str, Any] = json.loads(proc.stdout)
        return doc


@pytest.fixture(scope="module")
def prometheus(pod_network: NetworkHandle) -> Iterator[Prometheus]:
    """Prometheus' API, with the operator behind it."""
    api = pod_network.node.cluster.api()
    bundle = _bundle()
    crds_made: list[str] = []
    cluster_made: list[str] = []
    ns_made = False
    try:
        for crd in (d for d in bundle if d["kind"] == "CustomResourceDefinition"):
            name = crd["metadata"]["name"]
            path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            if api.get_or_none(f"{path}/{name}") is None:  # servicemonitors, prometheusrules:
                api.create(path, crd)                      # the platform's
                crds_made.append(f"{path}/{name}")
        for path in crds_made:
            wait_for(f"{path} established", lambda p=path: any(  # type: ignore[misc]
                c["type"] == "Established" and c["status"] == "True"
                for c in (api.get(p).get("status") or {}).get("conditions", [])), timeout=30)
        ns_made = api.create("/api/v1/namespaces", {"metadata": {"name": PROM_NS}}) is not None
        for path, obj in _objects(bundle):
            made = api.create(_namespaced(path), obj)
            assert made is not None, f"{path} {obj['metadata']['name']} exists already"
            if "/namespaces/" not in _namespaced(path):
                cluster_made.append(f"{path}/{obj['metadata']['name']}")
        pod_path = f"/api/v1/namespaces/{PROM_NS}/pods/prometheus-netplumb-0"
        started = time.monotonic()
        pod = wait_for("Prometheus (made by the operator) Ready",
                       lambda: (p := api.get_or_none(pod_path)) and pod_ready(p) and p,
                       timeout=240, interval=1)
        print(f"operator + Prometheus Ready in {time.monotonic() - started:.1f}s")
        yield Prometheus(pod_network.node.of_pod(PROM_NS, "prometheus-netplumb-0"),
                         f"http://{pod['status']['podIP']}:9090")
    finally:
        with contextlib.suppress(Exception):
            api.delete(f"{MONITORING}/namespaces/{PROM_NS}/prometheuses/netplumb")
        if ns_made:
            api.delete(f"/api/v1/namespaces/{PROM_NS}")
            with contextlib.suppress(TimeoutError):
                wait_for(f"namespace {PROM_NS} gone",
                         lambda: api.get_or_none(f"/api/v1/namespaces/{PROM_NS}") is None,
                         timeout=180, interval=1)
        for path in reversed(cluster_made):
            api.delete(path)
        for path in crds_made:
            api.delete(path)


def _query(prom: Prometheus, expr: str) -> dict[str, Any]:
    # 400/422 (the expression does not evaluate) come back as the JSON error document
    return prom.fetch("/api/v1/query", {"query": expr})


def _get(prom: Prometheus, path: str) -> dict[str, Any]:
    return prom.fetch(path)


@pytest.fixture(scope="module")
def pinned(pod_network: NetworkHandle) -> Node:
    """The node the attached pods run on: host-local allocates per node (three pods on two
    nodes would share addresses on the one macvlan segment), and the node plugin counts
    attachments per node."""
    return pod_network.node.nodes[0]


@dataclass(frozen=True)
class Attached:
    space: NadSpace
    adds_before: float
    """The nodes' count of successful macvlan ADDs on the network before the pods, summed
    (the node plugins' counters outlive a test run)."""


@pytest.fixture(scope="module")
def attached(pod_network: NetworkHandle, pinned: Node) -> Iterator[Attached]:
    """Three pods on one network of this test's own namespace, all on node ``pinned``."""
    with nad_namespace(pod_network, PODS_NS) as space:
        config = MacvlanNetworkArgs.parse({"master": "np-promunder0", "mode": "bridge", "ipam": {
            "type": "host-local", "subnet": "198.51.100.0/24",
            "rangeStart": "198.51.100.200", "rangeEnd": "198.51.100.209"}}).cni_config("np-prom")
        space.create_nad("np-prom", config)
        adds_before = nm.scrape_all(pod_network.node.nodes).value(
            "multus_cni_operations_total", network="np-prom", op="ADD", plugin="macvlan",
            result="success")
        for i in range(3):
            space.create_pod(f"scraped-{i}", [{"name": "np-prom", "interface": "net1"}],
                             nodeSelector={"kubernetes.io/hostname": pinned.name})
        for i in range(3):
            wait_for(f"pod scraped-{i} Running", lambda i=i: space.pod(  # type: ignore[misc]
                f"scraped-{i}")["status"].get("phase") == "Running", timeout=90)
        yield Attached(space, adds_before)


def test_prometheus_scrapes_the_node_plugin(prometheus: Prometheus, attached: Attached,
                                           pinned: Node, pod_network: NetworkHandle) -> None:
    # the pods' node's series (a node plugin keeps a network's series, at 0, once it had one)
    expr = (f'multus_network_attachments_total{{namespace="{PODS_NS}",network="np-prom",'
            f'node="{pinned.name}"}}')
    started = time.monotonic()

    def three() -> Any:
        doc = _query(prometheus, expr)
        result = doc["data"]["result"] if doc.get("status") == "success" else []
        return result if [float(r["value"][1]) for r in result] == [3.0] else None
    try:
        result = wait_for(f"Prometheus to return 3 for {expr}", three, timeout=120, interval=2)
    except TimeoutError as exc:
        targets = [(t["scrapePool"], t["health"], t.get("lastError"))
                   for t in _get(prometheus, "/api/v1/targets")["data"]["activeTargets"]]
        seen = _query(prometheus, "multus_network_attachments_total")
        raise AssertionError(f"{exc}\ntargets: {targets}\nall attachments: {seen}") from None
    print(f"attachments visible in Prometheus after {time.monotonic() - started:.1f}s")
    [series] = result
    # the ServiceMonitor's relabeling adds the node; the target is the node plugin's Service
    assert series["metric"]["node"] == pinned.name, series
    assert series["metric"]["job"].endswith("netplumb-node")
    # summed over the nodes: the three attachments are all on the pods' node
    every = _query(prometheus, f'sum(multus_network_attachments_total{{namespace="{PODS_NS}",'
                               'network="np-prom"})')
    assert [float(r["value"][1]) for r in every["data"]["result"]] == [3.0], every
    targets = _get(prometheus, "/api/v1/targets")["data"]["activeTargets"]
    ours = [t for t in targets if "netplumb-node" in t["scrapePool"]]
    assert ours and all(t["health"] == "up" for t in ours), ours
    # one target per node: every node's node plugin is scraped
    assert sorted(t["labels"].get("node") for t in ours) == sorted(
        pod_network.node.names), ours
    # the three ADDs, summed over the nodes (the count before this run, if any, read from
    # the node plugins themselves)
    ops = _query(prometheus, 'sum(multus_cni_operations_total{network="np-prom",op="ADD",'
                             'plugin="macvlan",result="success"})')
    assert [float(r["value"][1]) for r in ops["data"]["result"]] == [
        attached.adds_before + 3.0], ops


def test_every_dashboard_query_and_alert_evaluates(prometheus: Prometheus, attached: Attached,
                                                  pod_network: NetworkHandle) -> None:
    api: Api = pod_network.node.cluster.api()
    board_cm = api.get("/api/v1/namespaces/monitoring/configmaps/netplumb-node-dashboard")
    [board_json] = board_cm["data"].values()
    queries = dashboard_queries(json.loads(board_json))
    rule = api.get(f"{MONITORING}/namespaces/monitoring/prometheusrules/netplumb-node")
    alerts = [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]
              if "alert" in r]
    assert len(queries) >= 5 and len(alerts) >= 4
    failed = {}
    for title, q in queries:
        doc = _query(prometheus, as_promql(q))
        if doc.get("status") != "success":
            failed[f"panel {title}"] = doc.get("error")
    for name, expr in alerts:
        doc = _query(prometheus, expr)
        if doc.get("status") != "success":
            failed[f"alert {name}"] = doc.get("error")
    assert failed == {}
    # the operator turned netplumb's PrometheusRule into rule groups Prometheus evaluates
    groups = wait_for("netplumb's rule groups loaded", lambda: [
        g for g in _get(prometheus, "/api/v1/rules")["data"]["groups"]
        if "netplumb" in g["file"]], timeout=90, interval=2)
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert {name for name, _ in alerts} <= loaded
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups


FIRING_FOR = "20s"
"""The alerts' ``for:`` in the rule this test loads (netplumb's default is 10m)."""


def _alert_states(prom: Prometheus) -> dict[tuple[str, str], str]:
    """(alertname, network) → pending or firing, for the rules of ``netplumb-firing``."""
    doc = _get(prom, "/api/v1/alerts")
    return {(a["labels"]["alertname"], a["labels"].get("network", "")): a["state"]
            for a in doc["data"]["alerts"] if a["labels"].get("rule") == "netplumb-firing"}


def test_attach_error_and_pool_alerts_fire(prometheus: Prometheus, attached: Attached,
                                           pinned: Node, pod_network: NetworkHandle,
                                           figure: Any) -> None:
    """netplumb's attach-error and pool-use alerts, as rendered, with ``for:`` scaled to
    20 s and evaluated every 5 s: a NAD whose master no node has makes every attach fail,
    and a host-local pool of two addresses held by two pods is full. Each alert goes
    pending, then firing, in the real Prometheus; the network whose pool is 3/10 used
    fires nothing."""
    api = pod_network.node.cluster.api()
    rule = prometheus_rule(MonitoringStackArgs.parse({
        "namespace": PROM_NS, "alerts": {"for": FIRING_FOR}}))
    rule["metadata"]["name"] = "netplumb-firing"
    [group] = rule["spec"]["groups"]
    group.update(name="netplumb-firing", interval="5s")
    group["rules"] = [{**r, "labels": {**r["labels"], "rule": "netplumb-firing"}}
                      for r in group["rules"]
                      if r.get("alert") in ("NetplumbAttachErrors", "NetplumbPoolNearlyFull")]
    assert len(group["rules"]) == 2 and all(r["for"] == FIRING_FOR for r in group["rules"])
    api.create(f"{MONITORING}/namespaces/{PROM_NS}/prometheusrules", rule)
    space = attached.space
    # every attach fails: a master that is not np-…, so no node has it
    space.create_nad("np-prom-broken", MacvlanNetworkArgs.parse({
        "master": "ens9nope", "mode": "bridge", "ipam": {
            "type": "host-local", "subnet": "198.51.100.0/24"}}).cni_config("np-prom-broken"))
    # a pool of two addresses, both held
    space.create_nad("np-prom-tiny", MacvlanNetworkArgs.parse({
        "master": "np-promunder0", "mode": "bridge", "ipam": {
            "type": "host-local", "subnet": "198.51.100.0/24",
            "rangeStart": "198.51.100.230", "rangeEnd": "198.51.100.231"}}
        ).cni_config("np-prom-tiny"))
    on_node = {"nodeSelector": {"kubernetes.io/hostname": pinned.name}}
    started = time.monotonic()
    space.create_pod("fails", [{"name": "np-prom-broken", "interface": "net1"}], **on_node)
    for i in range(2):
        space.create_pod(f"fills-{i}", [{"name": "np-prom-tiny", "interface": "net1"}],
                         **on_node)
    errors, pool = ("NetplumbAttachErrors", "np-prom-broken"), (
        "NetplumbPoolNearlyFull", "np-prom-tiny")
    seen: dict[tuple[str, str], dict[str, float]] = {errors: {}, pool: {}}

    def both_fired() -> bool:
        states = _alert_states(prometheus)
        for key in seen:
            state = states.get(key)
            if state is not None:
                seen[key].setdefault(state, time.monotonic() - started)
        return all("firing" in s for s in seen.values())
    try:
        wait_for("both alerts firing", both_fired, timeout=300, interval=1)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: seen {seen}, now {_alert_states(prometheus)}") from None
    for key, states in seen.items():
        # pending first, firing at least FIRING_FOR later (the rule's for:)
        assert "pending" in states, (key, states)
        assert states["firing"] - states["pending"] >= 15, (key, states)
    now = _alert_states(prometheus)
    assert ("NetplumbPoolNearlyFull", "np-prom") not in now, now
    assert ("NetplumbAttachErrors", "np-prom") not in now, now
    figure(f"alerts in Prometheus (for: {FIRING_FOR}, evaluated every 5s, scraped every 10s): "
           f"attach errors pending {seen[errors]['pending']:.0f}s, firing "
           f"{seen[errors]['firing']:.0f}s; pool 2/2 pending {seen[pool]['pending']:.0f}s, "
           f"firing {seen[pool]['firing']:.0f}s after the pods were created")
