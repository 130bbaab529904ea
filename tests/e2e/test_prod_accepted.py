"""The prod stack's objects against the real apiserver, and its RBAC guardrails.

Every object the prod plan renders is submitted to the embedded kube-apiserver: CRDs and
namespaces for real (they must exist for the rest to be checked; ones already there are left
alone), everything else as a server-side dry run (create, or apply where the object exists,
e.g. the node's own Flannel and Multus), so admission and schema validation run without
starting prod's DaemonSets on the node. Then the guardrails' roles and bindings are applied for
real and SubjectAccessReviews ask who may write NetworkAttachmentDefinitions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_fixtures import ClusterHandle
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan, render_plan

pytestmark = pytest.mark.e2e

PROD = Path(__file__).parents[2] / "stacks/Pulumi.prod.yaml"
REAL_FIRST = {"CustomResourceDefinition", "Namespace"}
RBAC = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def _resource(dyn: Any, obj: dict[str, Any]) -> Any:
    return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])


@pytest.fixture(scope="module")
def applied(cluster: ClusterHandle) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    from kubernetes import dynamic
    from kubernetes.client import exceptions

    objects = render_plan(build_plan(load_stack_file(PROD)))
    dyn: Any = dynamic.DynamicClient(cluster.api_client())  # type: ignore[no-untyped-call]
    created: list[dict[str, Any]] = []
    try:
        for obj in [o for o in objects if o["kind"] in REAL_FIRST | RBAC]:
            try:
                _resource(dyn, obj).create(body=obj, namespace=obj["metadata"].get("namespace"))
                created.append(obj)
            except exceptions.ApiException as exc:
                if exc.status != 409:  # already there (another test's CRD): leave it be
                    raise
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # CRDs established, discovery refreshed
            try:
                dyn.resources.invalidate_cache()
                for obj in objects:
                    _resource(dyn, obj)
                break
            except Exception:
                time.sleep(0.5)
        yield dyn, objects
    finally:
        for obj in reversed(created):
            try:
                _resource(dyn, obj).delete(name=obj["metadata"]["name"],
                                           namespace=obj["metadata"].get("namespace"))
            except exceptions.ApiException:
                pass
        # Namespaces and CRDs finalise asynchronously: wait until they are gone, so that
        # tests after this one do not meet them half-deleted.
        deadline = time.monotonic() + 120
        for obj in created:
            if obj["kind"] not in REAL_FIRST:
                continue
            while time.monotonic() < deadline:
                try:
                    _resource(dyn, obj).get(name=obj["metadata"]["name"])
                    time.sleep(0.5)
                except exceptions.ApiException as exc:
                    if exc.status == 404:
                        break
                    raise


def _dry_run(dyn: Any, obj: dict[str, Any]) -> None:
    """A server-side dry-run create; an object that already exists on the cluster (the
    node's Flannel and Multus, installed by the dev stack, share prod's names) gets a
    dry-run server-side apply instead: admission and schema validation run either way."""
    from kubernetes.client import exceptions

    res = _resource(dyn, obj)
    namespace = obj["metadata"].get("namespace")
    try:
        res.create(body=obj, namespace=namespace, dry_run="All")
    except exceptions.ApiException as exc:
        if exc.status != 409:
            raise
        dyn.server_side_apply(res, body=obj, namespace=namespace, dry_run="All",
                              field_manager="netplumb-prod-accepted", force_conflicts=True)


def test_every_prod_object_is_accepted(applied: tuple[Any, list[dict[str, Any]]]) -> None:
    dyn, objects = applied
    refused = []
    checked = 0
    for obj in objects:
        if obj["kind"] in REAL_FIRST | RBAC:
            continue
        try:
            _dry_run(dyn, obj)
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
    from kubernetes import client

    authz: Any = client.AuthorizationV1Api(cluster.api_client())
    review = authz.create_subject_access_review({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": {
            "group": "k8s.cni.cncf.io", "resource": "network-attachment-definitions",
            "verb": verb, "namespace": namespace}}})
    return bool(review.status.allowed)


def test_only_network_admins_write_nads(applied: tuple[Any, list[dict[str, Any]]],
                                        cluster: ClusterHandle) -> None:
    assert _may(cluster, "alice", ["network-admins"], "create")
    assert _may(cluster, "alice", ["network-admins"], "delete", "storage")
    assert not _may(cluster, "bob", ["tenants"], "create")
    assert not _may(cluster, "bob", ["tenants"], "update")
    assert _may(cluster, "bob", ["tenants"], "get")
    assert _may(cluster, "bob", ["tenants"], "list")
    assert not _may(cluster, "mallory", [], "get")
