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

import contextlib
import time
from typing import Any

import pytest

from harness.cluster.api import wait_for
from harness.pytest_fixtures import ClusterHandle
from netplumb.args.monitoring import MonitoringStackArgs
from netplumb.args.node_plugin import NodePluginArgs
from netplumb.args.whereabouts import WhereaboutsArgs
from netplumb.kube import Kube, KubeError
from netplumb.render.monitoring import monitoring_manifests
from netplumb.render.node_plugin import node_plugin_manifests
from netplumb.render.whereabouts import API_VERSION, ippool_crd, whereabouts_manifests

pytestmark = pytest.mark.e2e

REAL_FIRST = ("CustomResourceDefinition", "Namespace")
NAMESPACE = "kube-system"


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _served(kube: Kube, objects: list[dict[str, Any]]) -> bool:
    """Every kind of ``objects`` in the apiserver's discovery, read afresh."""
    for api_version in {o["apiVersion"] for o in objects}:
        kube.forget(api_version)
    return all(kube.resource(o["apiVersion"], o["kind"]) for o in objects)


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
    objects = _objects()
    api = cluster.api()
    kube = api.kube
    created: list[dict[str, Any]] = []
    ours = True
    try:
        for kind in REAL_FIRST:
            for obj in (o for o in objects if o["kind"] == kind):
                try:
                    kube.create(obj)
                    created.append(obj)
                except KubeError as exc:
                    if exc.status != 409:
                        raise
                    if obj["metadata"]["name"] == ippool_crd()["metadata"]["name"]:
                        served = api.get(f"{CRDS}/{obj['metadata']['name']}")
                        # the platform's CRD is netplumb's own rendering; another's is skipped
                        ours = _schemas(served) == _schemas(ippool_crd())
        wait_for("every kind served (CRDs established, discovery refreshed)",
                 lambda: _served(kube, objects), timeout=30, interval=0.5)
        refused = []
        for obj in objects:
            if obj["kind"] in REAL_FIRST:
                continue
            try:
                try:
                    kube.create(obj, dry_run=True)
                except KubeError as exc:
                    if exc.status != 409:
                        raise
                    # the platform's own object of that name is there (its stack ran first):
                    # the same object under another name goes through the same admission
                    renamed = {**obj, "metadata": {**obj["metadata"],
                                                   "name": obj["metadata"]["name"] + "-check"}}
                    kube.create(renamed, dry_run=True)
            except KubeError as exc:
                refused.append((obj["kind"], obj["metadata"]["name"], str(exc)[:300]))
        assert refused == []
        kinds = {o["kind"] for o in objects}
        assert {"DaemonSet", "Deployment", "ServiceMonitor", "PrometheusRule", "ConfigMap",
                "Service", "ClusterRole"} <= kinds
        if not ours:
            pytest.skip("the IPPool CRD was already on the cluster (not ours to check)")
        written = {"range": "198.51.100.0/24", "allocations": {
            "5": {"id": "4f1c9a0b2d3e", "podref": "storage/db-0", "ifname": "net1"}}}
        kube.create(_pool(written), dry_run=True)
        kube.create(_pool({"range": "198.51.100.0/24", "allocations": {}}), dry_run=True)
        refusals: list[dict[str, Any]] = [
            {"allocations": {}},
            {"range": "198.51.100.0/24", "allocations": {"5": {"id": "x"}}},
            {"range": 24, "allocations": {}}]
        for bad in refusals:
            with pytest.raises(KubeError) as err:
                kube.create(_pool(bad), dry_run=True)
            assert err.value.status == 422, bad
    finally:
        for obj in reversed(created):
            with contextlib.suppress(KubeError):
                kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
        deadline = time.monotonic() + 300
        left = list(created)
        while left and time.monotonic() < deadline:
            still = []
            for obj in left:
                if kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) is not None:
                    still.append(obj)
            left = still
            if left:
                time.sleep(0.5)
        assert not left, ("still there after deletion: "
                          f"{[(o['kind'], o['metadata']['name']) for o in left]}")
