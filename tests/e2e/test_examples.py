"""The example programs of examples/, through the real engine on the cluster.

Each program is copied as it is (its ``Pulumi.yaml`` pointed at the repo's virtualenv) and
given a stack whose config names underlay links the test creates on every node, joined across
them (``np-…``, removed afterwards).
The storage and multi-tenant programs go up on the real nodes' pod network (their pods run
and get their interfaces, as Multus reports in network-status) and are destroyed; the SR-IOV
program is previewed only: this machine has no NIC with virtual functions, and the device
plugin and sriov-cni images cannot be built by this toolchain, so its pods could never start.
The monitoring program goes up beside the platform's own monitoring (its alerts and dashboard
only: the platform owns the node plugin's metrics Service). None of them installs what the
platform stack owns (the NAD CRD, Multus, Flannel, the monitoring CRDs).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from harness import engine, underlay
from harness.paths import REPO_ROOT
from harness.privilege import is_root
from harness.pytest_fixtures import ClusterHandle, NetworkHandle, NodeHandle
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION
from netplumb.kube import Kube
from netplumb.render.monitoring import DASHBOARD_CONFIG_MAP, PROMETHEUS_RULE

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"


def _copy(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy2(EXAMPLES / name / "__main__.py", dest / "__main__.py")
    text = (EXAMPLES / name / "Pulumi.yaml").read_text()
    assert "virtualenv: ../../.venv" in text
    (dest / "Pulumi.yaml").write_text(
        text.replace("virtualenv: ../../.venv", f"virtualenv: {REPO_ROOT / '.venv'}"))
    return dest


def _stack(name: str, cluster: ClusterHandle, tmp: Path, config: dict[str, str]) -> auto.Stack:
    project = _copy(name, tmp / name)
    st = engine.stack("e2e", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp / "backend")
    st.set_all_config({k: auto.ConfigValue(v) for k, v in config.items()})
    return st


def _links(nodes: NodeHandle, *links: underlay.Link) -> Iterator[list[str]]:
    """The links on every node (a pod may land on either), joined across them."""
    if not is_root():
        pytest.skip("needs root to create host links")
    created: list[str] = []
    try:
        created += nodes.ensure_underlay(list(links))
        yield created
    finally:
        nodes.remove_underlay(created)


def _network_status(kube: Kube, namespace: str, pod: str, interfaces: set[str],
                    timeout: float = 120) -> dict[str, dict[str, Any]]:
    """The pod's network-status by interface, once it lists ``interfaces``."""
    deadline = time.monotonic() + timeout
    while True:
        found = kube.get("v1", "Pod", pod, namespace=namespace) or {}
        notes = (found.get("metadata") or {}).get("annotations") or {}
        status = {s.get("interface"): s
                  for s in json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]"))}
        if interfaces <= set(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"pod {namespace}/{pod}: no {sorted(interfaces)} in its "
                                 f"network-status after {timeout:.0f}s: {notes}")
        time.sleep(1)


def _destroy(st: auto.Stack) -> None:
    try:
        st.destroy(on_output=engine.printer())
    finally:
        st.workspace.remove_stack(st.name)


# --------------------------------------------------------------------------- storage network


@pytest.fixture
def storage_links(pod_network: NetworkHandle) -> Iterator[list[str]]:
    yield from _links(pod_network.node, underlay.Link("np-exstor0", mtu=9000),
                      underlay.Link("np-exmgmt0", kind="bridge"))


def test_storage_network_goes_up_with_jumbo_frames(cluster: ClusterHandle,
                                                   pod_network: NetworkHandle,
                                                   storage_links: list[str],
                                                   tmp_path: Path) -> None:
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    st = _stack("storage_network", cluster, tmp_path,
                {"master": "np-exstor0", "mgmtBridge": "np-exmgmt0"})
    try:
        result = st.up(on_output=engine.printer())
        assert result.summary.result == "succeeded"
        config = json.loads(result.outputs["storage_config"].value)
        assert (config["master"], config["mtu"]) == ("np-exstor0", 9000)
        pod = result.outputs["pod"].value
        status = _network_status(kube, "default", pod, {"storage0", "mgmt0"})
        assert status["storage0"]["ips"] == ["192.0.2.10"], status
        assert status["mgmt0"]["ips"][0].startswith("198.51.100."), status
        if "mtu" in status["storage0"]:  # Multus reports it when the plugin's result has it
            assert status["storage0"]["mtu"] == 9000, status
        # and the interface itself, inside the pod on its node
        [inside] = underlay.ip_json("link", "show", "dev", "storage0",
                                    netns=pod_network.node.pod_netns("default", pod))
        assert inside["mtu"] == 9000, inside
    finally:
        _destroy(st)
    assert kube.get("v1", "Pod", "app", namespace="default") is None
    assert kube.get("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "storage",
                    namespace="default") is None


# --------------------------------------------------------------------------- multi-tenant

TENANTS = ("np-exa", "np-exb")
ROLE_PREFIX = "np-ex"


@pytest.fixture
def tenant_links(pod_network: NetworkHandle) -> Iterator[list[str]]:
    yield from _links(pod_network.node,
                      *(underlay.Link(f"np-br-{t}", kind="bridge") for t in TENANTS))


@pytest.fixture
def retained_cleanup(cluster: ClusterHandle) -> Iterator[Kube]:
    """Deletes the cluster-wide objects the program leaves on destroy (by design)."""
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    try:
        yield kube
    finally:
        rbac = "rbac.authorization.k8s.io/v1"
        for kind in ("ClusterRoleBinding", "ClusterRole"):
            for obj in kube.list(rbac, kind):
                name = obj["metadata"]["name"]
                if name.startswith(f"{ROLE_PREFIX}-"):
                    kube.delete(rbac, kind, name)
        for t in TENANTS:
            kube.delete("v1", "Namespace", t)


def test_multi_tenant_goes_up_with_guardrails(cluster: ClusterHandle,
                                              pod_network: NetworkHandle,
                                              tenant_links: list[str], retained_cleanup: Kube,
                                              tmp_path: Path) -> None:
    kube = retained_cleanup
    st = _stack("multi_tenant", cluster, tmp_path,
                {"tenants": " ".join(TENANTS), "rolePrefix": ROLE_PREFIX,
                 "bridgePrefix": "np-br-", "pool": "203.0.113.0/24"})
    try:
        result = st.up(on_output=engine.printer())
        assert result.summary.result == "succeeded"
        assert result.outputs["admin_role"].value == f"{ROLE_PREFIX}-network-admin"
        for tenant, subnet in zip(TENANTS, ("203.0.113.", "203.0.113."), strict=True):
            quota = kube.get("v1", "ResourceQuota", "tenant", namespace=tenant)
            assert quota is not None and quota["spec"]["hard"]["pods"] == "10"
            policy = kube.get("networking.k8s.io/v1", "NetworkPolicy", "same-namespace-only",
                              namespace=tenant)
            assert policy is not None
            ns = kube.get("v1", "Namespace", tenant)
            assert ns is not None
            assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
            status = _network_status(kube, tenant, "app", {"net1"})
            assert status["net1"]["name"] == f"{tenant}/tenant-net", status
            assert status["net1"]["ips"][0].startswith(subnet), status
        admin = kube.get("rbac.authorization.k8s.io/v1", "ClusterRole",
                         f"{ROLE_PREFIX}-network-admin")
        assert admin is not None
    finally:
        _destroy(st)
    for tenant in TENANTS:
        assert kube.get("v1", "Pod", "app", namespace=tenant) is None
        assert kube.get("v1", "ResourceQuota", "tenant", namespace=tenant) is None
    # namespaces and cluster roles are cluster-wide: left in place on destroy
    assert kube.get("rbac.authorization.k8s.io/v1", "ClusterRole",
                    f"{ROLE_PREFIX}-network-viewer") is not None


# --------------------------------------------------------------------------- monitoring

MON_NS = "np-exmon"


@pytest.fixture
def monitoring_cleanup(cluster: ClusterHandle) -> Iterator[Kube]:
    """Deletes the namespace (with the objects in it) the program leaves on destroy."""
    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    try:
        yield kube
    finally:
        kube.delete("v1", "Namespace", MON_NS)


def test_monitoring_goes_up_beside_the_platforms(cluster: ClusterHandle,
                                                 pod_network: NetworkHandle,
                                                 monitoring_cleanup: Kube,
                                                 tmp_path: Path) -> None:
    """On the embedded cluster the platform stack already scrapes the node plugin (its
    MonitoringStack owns the one metrics Service and brings the operator's CRDs), so the
    example runs with ``scrape: false``: its alerts and dashboard, in a namespace of its own,
    next to the platform's."""
    kube = monitoring_cleanup
    st = _stack("monitoring", cluster, tmp_path, {"scrape": "false", "namespace": MON_NS})
    try:
        result = st.up(on_output=engine.printer())
        assert result.summary.result == "succeeded"
        rule = kube.get("monitoring.coreos.com/v1", "PrometheusRule", PROMETHEUS_RULE,
                        namespace=MON_NS)
        assert rule is not None
        assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
        assert alerts == result.outputs["alerts"].value and alerts
        assert all(r["labels"]["team"] == "network"
                   for g in rule["spec"]["groups"] for r in g["rules"])
        dashboards = kube.list("v1", "ConfigMap", namespace=MON_NS,
                               label_selector="grafana_dashboard=1")
        assert [d["metadata"]["name"] for d in dashboards] == [DASHBOARD_CONFIG_MAP]
        assert kube.list("monitoring.coreos.com/v1", "ServiceMonitor", namespace=MON_NS) == []
    finally:
        _destroy(st)
    # a MonitoringStack is a shared install: its objects and namespace are retained on
    # destroy, as every cluster-wide install's are (the fixture deletes the namespace)
    for api_version, kind, name in (("monitoring.coreos.com/v1", "PrometheusRule",
                                     PROMETHEUS_RULE),
                                    ("v1", "ConfigMap", DASHBOARD_CONFIG_MAP)):
        left = kube.get(api_version, kind, name, namespace=MON_NS)
        assert left is not None, f"{kind} {MON_NS}/{name} was not retained"
    assert kube.get("v1", "Namespace", MON_NS) is not None


# --------------------------------------------------------------------------- SR-IOV pool


def test_sriov_pool_previews(cluster: ClusterHandle, platform: str, tmp_path: Path) -> None:
    """Preview only: no NIC with virtual functions here, and no sriov images (see above)."""
    st = _stack("sriov_pool", cluster, tmp_path, {"pf": "ens1f0", "replicas": "2"})
    try:
        result = st.preview(on_output=engine.printer(), diff=True)
        creates = result.change_summary.get(auto.OpType.CREATE, 0)
        print(result.change_summary)
        # 3 components + pool (service account, config map, daemonset), the NAD, 2 pods
        assert creates >= 9, result.change_summary
        assert "intel.com/sriov_storage" in result.stdout
    finally:
        st.workspace.remove_stack(st.name)
