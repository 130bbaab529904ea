"""The node plugin's, whereabouts' and the monitoring stack's objects against the real
apiserver, and netplumb's whereabouts CRD schemas against objects as whereabouts writes them.

It runs on the platform stack, which has installed the same CRDs: a CRD is created here only
when the cluster lacks it, and then deleted and waited for. (Creating a CRD and deleting it at
once is slow to settle: the apiserver's CRD finalizer retries with backoff while the new
resource's storage initialises, and a CRD left terminating would make the platform stack see a
CRD owned elsewhere.) Namespaces are created for real; everything else is a server-side dry-run
create, so admission, PodSecurity-free validation of the security contexts and the CRDs'
structural schemas all run without starting the DaemonSets. The IPPool checks run against the
served IPPool CRD when its schema is netplumb's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from harness.pytest_fixtures import ClusterHandle
from netplumb.args.monitoring import MonitoringStackArgs
from netplumb.args.node_plugin import NodePluginArgs
from netplumb.args.whereabouts import WhereaboutsArgs
from netplumb.render.monitoring import monitoring_manifests
from netplumb.render.node_plugin import node_plugin_manifests
from netplumb.render.whereabouts import API_VERSION, ippool_crd, whereabouts_manifests

pytestmark = pytest.mark.e2e

REAL_FIRST = ("CustomResourceDefinition", "Namespace")
NAMESPACE = "kube-system"


def _resource(dyn: Any, obj: dict[str, Any]) -> Any:
    return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


def _objects() -> list[dict[str, Any]]:
    return [*node_plugin_manifests(NodePluginArgs(force=True)),
            *whereabouts_manifests(WhereaboutsArgs(node_slice_controller=True)),
            *monitoring_manifests(MonitoringStackArgs(
                install_crds=True, create_namespace=True, namespace="netplumb-mon-test",
                release="kube-prometheus-stack"))]


def _pool(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "IPPool",
            "metadata": {"name": "198.51.100.0-24", "namespace": NAMESPACE}, "spec": spec}


def _schemas(crd: dict[str, Any]) -> list[Any]:
    return [(v["name"], v.get("schema")) for v in crd["spec"]["versions"]]


def test_addon_objects_are_accepted(cluster: ClusterHandle, platform: str) -> None:
    from kubernetes import dynamic
    from kubernetes.client import exceptions

    objects = _objects()
    dyn: Any = dynamic.DynamicClient(cluster.api_client())  # type: ignore[no-untyped-call]
    created: list[dict[str, Any]] = []
    ours = True
    try:
        for kind in REAL_FIRST:
            for obj in (o for o in objects if o["kind"] == kind):
                try:
                    _resource(dyn, obj).create(body=obj)
                    created.append(obj)
                except exceptions.ApiException as exc:
                    if exc.status != 409:
                        raise
                    if obj["metadata"]["name"] == ippool_crd()["metadata"]["name"]:
                        served = _resource(dyn, obj).get(name=obj["metadata"]["name"]).to_dict()
                        # the platform's CRD is netplumb's own rendering; another's is skipped
                        ours = _schemas(served) == _schemas(ippool_crd())
        deadline = time.monotonic() + 30
        while True:  # CRDs established, discovery refreshed
            try:
                dyn.resources.invalidate_cache()
                for obj in objects:
                    _resource(dyn, obj)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        refused = []
        for obj in objects:
            if obj["kind"] in REAL_FIRST:
                continue
            try:
                try:
                    _resource(dyn, obj).create(
                        body=obj, namespace=obj["metadata"].get("namespace"), dry_run="All")
                except exceptions.ApiException as exc:
                    if exc.status != 409:
                        raise
                    # the platform's own object of that name is there (its stack ran first):
                    # the same object under another name goes through the same admission
                    renamed = {**obj, "metadata": {**obj["metadata"],
                                                   "name": obj["metadata"]["name"] + "-check"}}
                    _resource(dyn, obj).create(
                        body=renamed, namespace=obj["metadata"].get("namespace"),
                        dry_run="All")
            except exceptions.ApiException as exc:
                refused.append((obj["kind"], obj["metadata"]["name"], str(exc.body)[:300]))
        assert refused == []
        kinds = {o["kind"] for o in objects}
        assert {"DaemonSet", "Deployment", "ServiceMonitor", "PrometheusRule", "ConfigMap",
                "Service", "ClusterRole"} <= kinds
        if not ours:
            pytest.skip("the IPPool CRD was already on the cluster (not ours to check)")
        pools = dyn.resources.get(api_version=API_VERSION, kind="IPPool")
        written = {"range": "198.51.100.0/24", "allocations": {
            "5": {"id": "4f1c9a0b2d3e", "podref": "storage/db-0", "ifname": "net1"}}}
        pools.create(body=_pool(written), namespace=NAMESPACE, dry_run="All")
        pools.create(body=_pool({"range": "198.51.100.0/24", "allocations": {}}),
                     namespace=NAMESPACE, dry_run="All")
        refusals: list[dict[str, Any]] = [
            {"allocations": {}},
            {"range": "198.51.100.0/24", "allocations": {"5": {"id": "x"}}},
            {"range": 24, "allocations": {}}]
        for bad in refusals:
            with pytest.raises(exceptions.ApiException) as err:
                pools.create(body=_pool(bad), namespace=NAMESPACE, dry_run="All")
            assert err.value.status == 422, bad
    finally:
        for obj in reversed(created):
            try:
                _resource(dyn, obj).delete(name=obj["metadata"]["name"])
            except exceptions.ApiException:
                pass
        deadline = time.monotonic() + 300
        left = list(created)
        while left and time.monotonic() < deadline:
            still = []
            for obj in left:
                try:
                    _resource(dyn, obj).get(name=obj["metadata"]["name"])
                    still.append(obj)
                except exceptions.ApiException as exc:
                    if exc.status != 404:
                        raise
            left = still
            if left:
                time.sleep(0.5)
        assert not left, ("still there after deletion: "
                          f"{[(o['kind'], o['metadata']['name']) for o in left]}")
