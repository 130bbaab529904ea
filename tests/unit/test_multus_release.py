"""Selections checked against the Multus release the stack installs."""

from __future__ import annotations

from typing import Any

import pytest

from netplumb.args.images import image_tag
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.stack import StackSpec
from netplumb.checks.multus import DEFAULT_ROUTE_IGNORED, check_default_route_support
from netplumb.cni.selection import NetworkSelection
from netplumb.plan import Workload, build_plan


def _workloads() -> list[Workload]:
    return [
        Workload("pods[0]", "default", [NetworkSelection(name="a")]),
        Workload("pods[1]", "default", [
            NetworkSelection(name="a"),
            NetworkSelection.model_validate({"name": "b", "default-route": ["192.0.2.1"]})]),
    ]


@pytest.mark.parametrize(("image", "tag"), [
    ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.3.0-thick", "v4.3.0"),
    ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.3", "v4.2.3"),
    ("registry.local:5000/multus-cni:v4.3.0", "v4.3.0"),
    ("ghcr.io/k8snetworkplumbingwg/multus-cni@sha256:" + "0" * 64, None),
    ("registry.local:5000/multus-cni", None),
])
def test_image_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


@pytest.mark.parametrize("mode", ["thick", "thin"])
def test_default_multus_pin_warns_per_default_route_selection(mode: str) -> None:
    multus = MultusInstallArgs.model_validate({"mode": mode, "default_network": "none"})
    assert image_tag(multus.image_ref) in DEFAULT_ROUTE_IGNORED
    [f] = check_default_route_support(multus, _workloads())
    assert f.severity == "warning"
    assert f.path == "pods[1].networks[1].default-route"
    assert f.value == ["192.0.2.1"]
    assert "v4.3.0" in f.message and "#1552" in f.message


@pytest.mark.parametrize("image", [
    "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.4.0-thick",
    "ghcr.io/k8snetworkplumbingwg/multus-cni@sha256:" + "1" * 64,
])
def test_other_images_and_no_install_are_quiet(image: str) -> None:
    multus = MultusInstallArgs.model_validate({"image": image, "default_network": "none"})
    assert check_default_route_support(multus, _workloads()) == []
    assert check_default_route_support(None, _workloads()) == []


def _stack(multus: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "networks": [{"type": "macvlan", "name": "a", "master": "eth1", "ipam": {
            "type": "host-local", "subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10",
            "rangeEnd": "192.0.2.99", "gateway": "192.0.2.1"}}],
        "pods": [{"name": "p", "image": "busybox",
                  "networks": [{"name": "a", "default-route": ["192.0.2.1"]}]}],
    }
    if multus is not None:
        data["multus"] = multus
        data["install_nad_crd"] = False  # Multus' install creates it
    return data


def test_build_plan_carries_the_warning() -> None:
    plan = build_plan(StackSpec.parse(_stack({"mode": "thin", "default_network": "none"}),
                                      at=("config", "netplumb:spec")))
    [w] = [f for f in plan.warnings if "default-route" in f.path]
    assert w.path == "config.netplumb:spec.pods[0].networks[0].default-route"
    plan = build_plan(StackSpec.parse(_stack(None), at=("config", "netplumb:spec")))
    assert not [f for f in plan.warnings if "default-route" in f.path]
