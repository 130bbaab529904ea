"""The manifest builders every add-on is written with, and what the add-ons share through
them."""

from __future__ import annotations

from typing import Any

import pytest

from netplumb import hostpaths
from netplumb.args import MultusInstallArgs, SriovPoolArgs
from netplumb.render import manifests as m
from netplumb.render.multus import install_manifests
from netplumb.render.sriov import sriov_manifests


def test_metadata_and_objects() -> None:
    meta = m.metadata("a", "ns", labels={"app": "x"}, annotations={"k": "v"})
    assert list(meta) == ["name", "namespace", "labels", "annotations"]
    assert meta["labels"] == {**m.MANAGED_BY, "app": "x"}
    assert "annotations" not in m.metadata("a", annotations={})
    assert m.namespace("t", {"x": "y"}, managed=False)["metadata"] == {
        "name": "t", "labels": {"x": "y"}}


def test_identity_binds_the_role_to_the_service_account() -> None:
    role, binding, account = m.service_account_with_role(
        "agent", "kube-system", [m.rule([""], ["pods"], ["get"])])
    assert (role["kind"], binding["kind"], account["kind"]) == (
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "agent"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "agent",
                                    "namespace": "kube-system"}]
    namespaced = m.role_binding("b", "agent", [], namespace="team")
    assert namespaced["kind"] == "RoleBinding"
    assert namespaced["metadata"]["namespace"] == "team"


def test_daemonset_pods_carry_the_selector() -> None:
    ds = m.daemonset("d", "ns", {"app": "a"}, {"name": "d"}, {"containers": []})
    assert ds["spec"]["selector"] == {"matchLabels": {"name": "d"}}
    assert ds["spec"]["template"]["metadata"]["labels"] == {
        **m.MANAGED_BY, "app": "a", "name": "d"}


def test_crd_schema() -> None:
    crd = m.crd("g.example.com", "v1", "Thing", "things", "thing", ["th"], "A thing.",
                {"type": "object"})
    assert crd["metadata"]["name"] == "things.g.example.com"
    [version] = crd["spec"]["versions"]
    assert version["schema"]["openAPIV3Schema"]["required"] == ["spec"]
    optional = m.crd("g.example.com", "v1", "Thing", "things", "thing", [], "A thing.",
                     {"type": "object"}, spec_required=False)
    assert "required" not in optional["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _host_paths(objects: list[dict[str, Any]]) -> set[str]:
    out = set()
    for obj in objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        out |= {v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
    return out


@pytest.mark.parametrize("objects", [
    install_manifests(MultusInstallArgs()),
    install_manifests(MultusInstallArgs(mode="thin")),
    sriov_manifests(SriovPoolArgs.parse({"pools": [{"resource_name": "s",
                                                    "selectors": {"drivers": ["iavf"]}}]})),
], ids=["thick+flannel", "thin+flannel", "sriov"])
def test_every_object_is_labelled_and_the_cni_dirs_are_shared(
        objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert obj["metadata"]["labels"].items() >= m.MANAGED_BY.items(), obj["kind"]
    assert hostpaths.CNI_BIN_DIR in _host_paths(objects)
