"""The prod stack's objects against the real apiserver, and its RBAC guardrails.

Every object the prod plan renders is submitted to the embedded kube-apiserver: CRDs and
namespaces for real (they must exist for the rest to be checked; ones already there are left
alone), everything else as a server-side dry run (create, or apply where the object exists,
e.g. the node's own Flannel and Multus), so admission and schema validation run without
starting prod's DaemonSets on the node. Then the guardrails' roles and bindings are applied for
real and SubjectAccessReviews ask who may write NetworkAttachmentDefinitions.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.api import wait_for
from harness.pytest_fixtures import ClusterHandle
from netplumb.args.stack import load_stack_file
from netplumb.kube import Kube, KubeError
from netplumb.plan import build_plan, render_plan

pytestmark = pytest.mark.e2e

PROD = Path(__file__).parents[2] / "stacks/Pulumi.prod.yaml"
REAL_FIRST = {"CustomResourceDefinition", "Namespace"}
RBAC = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def _served(kube: Kube, objects: list[dict[str, Any]]) -> bool:
    """Every kind of ``objects`` in the apiserver's discovery, read afresh."""
    for api_version in {o["apiVersion"] for o in objects}:
        kube.forget(api_version)
    return all(kube.resource(o["apiVersion"], o["kind"]) for o in objects)


@pytest.fixture(scope="module")
def applied(cluster: ClusterHandle) -> Iterator[tuple[Kube, list[dict[str, Any]]]]:
    objects = render_plan(build_plan(load_stack_file(PROD)))
    kube = cluster.api().kube
    created: list[dict[str, Any]] = []
    try:
        for obj in [o for o in objects if o["kind"] in REAL_FIRST | RBAC]:
            try:
                kube.create(obj)
                created.append(obj)
            except KubeError as exc:
                if exc.status != 409:  # already there (another test's CRD): leave it be
                    raise
        with contextlib.suppress(TimeoutError):  # CRDs established, discovery refreshed
            wait_for("every kind served", lambda: _served(kube, objects), timeout=30,
                     interval=0.5)
        yield kube, objects
    finally:
        for obj in reversed(created):
            with contextlib.suppress(KubeError):
                kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                            obj["metadata"].get("namespace"))
        # Namespaces and CRDs finalise asynchronously: wait until they are gone, so that
        # tests after this one do not meet them half-deleted.
        deadline = time.monotonic() + 120
        for obj in created:
            if obj["kind"] not in REAL_FIRST:
                continue
            while time.monotonic() < deadline:
                if kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) is None:
                    break
                time.sleep(0.5)


def _dry_run(kube: Kube, obj: dict[str, Any]) -> None:
    """A server-side dry-run create; an object that already exists on the cluster (the
    node's Flannel and Multus, installed by the dev stack, share prod's names) gets a
    dry-run server-side apply instead: admission and schema validation run either way."""
    try:
        kube.create(obj, dry_run=True)
    except KubeError as exc:
        if exc.status != 409:
            raise
        kube.apply(obj, field_manager="netplumb-prod-accepted", force=True, dry_run=True)


def test_every_prod_object_is_accepted(applied: tuple[Kube, list[dict[str, Any]]]) -> None:
    kube, objects = applied
    refused = []
    checked = 0
    for obj in objects:
        if obj["kind"] in REAL_FIRST | RBAC:
            continue
        try:
            _dry_run(kube, obj)
            checked += 1
        except Exception as exc:
            refused.append((obj["kind"], obj["metadata"]["name"], str(exc)[:300]))
    assert refused == []
    kinds = {o["kind"] for o in objects}
    assert {"DaemonSet", "NetworkAttachmentDefinition", "ResourceQuota", "NetworkPolicy",
            "MultiNetworkPolicy", "ServiceMonitor", "StatefulSet"} <= kinds
    assert checked >= 15


def _may(cluster: ClusterHandle, user: str, groups: list[str], verb: str,
         namespace: str = "default") -> bool:
    review = cluster.api().request("POST", REVIEWS, {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": {
            "group": "k8s.cni.cncf.io", "resource": "network-attachment-definitions",
            "verb": verb, "namespace": namespace}}})
    return bool(review["status"].get("allowed"))


def test_only_network_admins_write_nads(applied: tuple[Kube, list[dict[str, Any]]],
                                        cluster: ClusterHandle) -> None:
    assert _may(cluster, "alice", ["network-admins"], "create")
    assert _may(cluster, "alice", ["network-admins"], "delete", "storage")
    assert not _may(cluster, "bob", ["tenants"], "create")
    assert not _may(cluster, "bob", ["tenants"], "update")
    assert _may(cluster, "bob", ["tenants"], "get")
    assert _may(cluster, "bob", ["tenants"], "list")
    assert not _may(cluster, "mallory", [], "get")
