"""Flannel (the guide's step 1): typed args, rendered manifests, the component under mocks."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from netplumb import PlanError
from netplumb.args.flannel import FlannelArgs
from netplumb.args.images import FLANNEL_IMAGE
from netplumb.components.flannel import Flannel
from netplumb.render.flannel import (
    CNI_CONF_FILE,
    cni_conf,
    flannel_manifests,
    flanneld_args,
    net_conf,
)

from .pulumi_mocks import RecordingMocks, run_program

# The guide edits kube-flannel.yml so flanneld runs with these arguments (step 1).
SEED_FLANNEL_ARGS = ["--ip-masq", "--kube-subnet-mgr", "--iface=enp0s8"]


def refused(build: Callable[[], Any]) -> tuple[PlanError, RecordingMocks]:
    """Run ``build`` as a Pulumi program under fresh mocks; it must raise PlanError.

    Returns the error and the mocks, whose ``registered`` must then be empty: validation
    runs before the component registers itself or any child.
    """
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="netplumb", stack="test", preview=False)
    caught: list[PlanError] = []

    def program() -> None:
        try:
            build()
        except PlanError as exc:
            caught.append(exc)

    as_test: Callable[[Callable[[], Any]], Callable[[], None]] = pulumi.runtime.test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # model_construct'ed args
        as_test(program)()
    assert caught, "no PlanError raised"
    return caught[0], mocks


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def flanneld(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    ds = by_kind(manifests)["DaemonSet"]
    containers: list[dict[str, Any]] = ds["spec"]["template"]["spec"]["containers"]
    [container] = containers
    assert container["name"] == "kube-flannel"
    return container


def test_seed_flanneld_arguments() -> None:
    container = flanneld(flannel_manifests(FlannelArgs(iface="enp0s8")))
    # The guide's three flags, in its order; the health port is netplumb's addition so the
    # probes have something to query.
    assert container["args"][:3] == SEED_FLANNEL_ARGS
    assert container["args"][3:] == ["--healthz-port=8081"]
    assert container["command"] == ["/opt/bin/flanneld"]


def test_iface_is_optional_and_masquerade_can_be_off() -> None:
    assert flanneld_args(FlannelArgs()) == ["--ip-masq", "--kube-subnet-mgr",
                                            "--healthz-port=8081"]
    assert flanneld_args(FlannelArgs(ip_masq=False))[0] == "--kube-subnet-mgr"


@pytest.mark.parametrize("bad", ["", "enp0s8/1", "a-very-long-interface0", "eth 0"])
def test_iface_must_be_an_interface_name(bad: str) -> None:
    with pytest.raises(PlanError) as err:
        FlannelArgs.parse({"iface": bad})
    assert err.value.paths == ["iface"]


def test_namespace_is_privileged_for_pod_security() -> None:
    ns = by_kind(flannel_manifests(FlannelArgs()))["Namespace"]
    assert ns["metadata"]["name"] == "kube-flannel"
    labels = ns["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "privileged"


def test_config_map_net_conf_and_conflist() -> None:
    args = FlannelArgs(network="10.200.0.0/16", backend="host-gw")
    cm = by_kind(flannel_manifests(args))["ConfigMap"]
    assert json.loads(cm["data"]["net-conf.json"]) == {
        "Network": "10.200.0.0/16", "EnableNFTables": False, "Backend": {"Type": "host-gw"}}
    conflist = json.loads(cm["data"]["cni-conf.json"])
    assert conflist == cni_conf(args)
    assert [p["type"] for p in conflist["plugins"]] == ["flannel", "portmap"]
    assert conflist["plugins"][1]["capabilities"] == {"portMappings": True}
    assert net_conf(FlannelArgs())["Backend"] == {"Type": "vxlan"}


def test_daemonset_installs_binary_and_conflist_with_pinned_images() -> None:
    ds = by_kind(flannel_manifests(FlannelArgs()))["DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["serviceAccountName"] == "flannel"
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    init = {c["name"]: c for c in spec["initContainers"]}
    assert init["install-cni-plugin"]["args"][-1] == "/opt/cni/bin/flannel"
    assert init["install-cni"]["args"][-1] == CNI_CONF_FILE
    images = [c["image"] for c in spec["initContainers"] + spec["containers"]]
    assert all(":" in i and not i.endswith(":latest") for i in images)
    assert flanneld([ds])["image"] == FLANNEL_IMAGE
    assert ds["spec"]["selector"]["matchLabels"].items() <= (
        ds["spec"]["template"]["metadata"]["labels"].items())


def test_rbac_lets_flannel_read_nodes_and_patch_status() -> None:
    kinds = by_kind(flannel_manifests(FlannelArgs(namespace="net-system")))
    rules = kinds["ClusterRole"]["rules"]
    assert {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]} in rules
    [subject] = kinds["ClusterRoleBinding"]["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": "flannel", "namespace": "net-system"}
    assert kinds["ServiceAccount"]["metadata"]["namespace"] == "net-system"


@pytest.mark.parametrize(("data", "path"), [
    ({"network": "10.244.0.0/33"}, "network"),
    ({"network": "fd00::/48"}, "network"),
    ({"network": "10.244.0.1/16"}, "network"),
    ({"backend": "udp"}, "backend"),
    ({"image": "ghcr.io/flannel-io/flannel:latest"}, "image"),
    ({"cni_plugin_image": "ghcr.io/flannel-io/flannel-cni-plugin"}, "cni_plugin_image"),
    ({"tolerations": [{"operator": "Exists", "value": "x"}]}, "tolerations[0].value"),
    ({"ifac": "enp0s8"}, "ifac"),
])
def test_invalid_args_name_the_field(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PlanError) as err:
        FlannelArgs.parse(data)
    assert err.value.paths == [path]


def test_component_registers_every_object_under_itself() -> None:
    mocks = run_program(lambda: Flannel("flannel", FlannelArgs(iface="enp0s8")))
    types = [r.type for r in mocks.registered]
    assert types[0] == "netplumb:index:Flannel"
    assert sorted(types[1:]) == sorted([
        "kubernetes:core/v1:Namespace", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ConfigMap",
        "kubernetes:apps/v1:DaemonSet"])
    assert all(r.name.startswith("flannel-") for r in mocks.registered[1:])
    [ds] = mocks.of_type("kubernetes:apps/v1:DaemonSet")
    args = ds.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == SEED_FLANNEL_ARGS


def test_invalid_component_input_registers_nothing() -> None:
    bad = FlannelArgs.model_construct(iface="enp0s8:1")
    err, mocks = refused(lambda: Flannel("flannel", bad))
    assert err.paths == ["iface"]
    assert mocks.registered == []
