"""Every public component refuses bad args with a PlanError naming the field, before it
registers anything: args built with ``model_construct`` (never validated) or changed after
construction, which is what a Python program can hand over."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

import netplumb.components as components
from netplumb.args import (
    BridgeNetworkArgs,
    CniNetworkArgs,
    FlannelArgs,
    HostDeviceNetworkArgs,
    IpvlanNetworkArgs,
    MacvlanNetworkArgs,
    MonitoringAlertsArgs,
    MonitoringStackArgs,
    MultiNetworkPolicyEnforcerArgs,
    MultusInstallArgs,
    NetworkGuardrailsArgs,
    NetworkPolicyEnforcerArgs,
    NodePluginArgs,
    PodArgs,
    QuotaArgs,
    SriovNetworkArgs,
    SriovPoolArgs,
    StackSpec,
    VlanNetworkArgs,
    WhereaboutsArgs,
    WorkloadArgs,
)

from .test_platform_flannel import refused


def _bad(**fields: Any) -> dict[str, Any]:
    """Values the fields' annotations do not allow."""
    return fields


def _changed(args: Any, **values: Any) -> Any:
    for key, value in values.items():
        setattr(args, key, value)
    return args


# component -> (how a program builds it with bad args, the path the error names)
CASES: dict[str, tuple[Callable[[], Any], str]] = {
    "MacvlanNetwork": (lambda: components.MacvlanNetwork(
        "n", MacvlanNetworkArgs.model_construct(**_bad(mode="source"))), "mode"),
    "IpvlanNetwork": (lambda: components.IpvlanNetwork(
        "n", _changed(IpvlanNetworkArgs(master="eth0"), mtu=1)), "mtu"),
    "BridgeNetwork": (lambda: components.BridgeNetwork(
        "n", _changed(BridgeNetworkArgs(), vlan=5000)), "vlan"),
    "HostDeviceNetwork": (lambda: components.HostDeviceNetwork(
        "n", HostDeviceNetworkArgs.model_construct()), "device"),
    "SriovNetwork": (lambda: components.SriovNetwork(
        "n", _changed(SriovNetworkArgs(), vlan_qos=9)), "vlanQoS"),
    "VlanNetwork": (lambda: components.VlanNetwork(
        "n", VlanNetworkArgs.model_construct(vlan_id=5000)), "vlanId"),
    "CniNetwork": (lambda: components.CniNetwork(
        "n", CniNetworkArgs.model_construct(config={"type": "macvlan"})),
        "config.cniVersion"),
    "NetworkAttachment": (lambda: components.NetworkAttachment(
        "n", _changed(MacvlanNetworkArgs(), namespace="Not A Namespace")), "namespace"),
    "MultiHomedPod": (lambda: components.MultiHomedPod(
        "p", PodArgs.model_construct(name="Bad_Name")), "name"),
    "MultiHomedWorkload": (lambda: components.MultiHomedWorkload(
        "w", WorkloadArgs.model_construct(image="busybox:1.36", replicas=-1)), "replicas"),
    "Flannel": (lambda: components.Flannel(
        "f", FlannelArgs.model_construct(iface="enp0s8:1")), "iface"),
    "MultusInstall": (lambda: components.MultusInstall(
        "m", MultusInstallArgs.model_construct(**_bad(log_level="info"))), "log_level"),
    "SriovPool": (lambda: components.SriovPool(
        "s", SriovPoolArgs.model_construct(pools=[])), "pools"),
    "NetworkGuardrails": (lambda: components.NetworkGuardrails(
        "g", NetworkGuardrailsArgs.model_construct(
            quotas=[QuotaArgs.model_construct(name="q", pods=-1)])), "quotas[0].pods"),
    "NodePlugin": (lambda: components.NodePlugin(
        "n", _changed(NodePluginArgs(), plugins=["macvlan", "macvlna"])), "plugins[1]"),
    "Whereabouts": (lambda: components.Whereabouts(
        "w", WhereaboutsArgs.model_construct(reconciler_schedule="daily")),
        "reconciler_schedule"),
    "MonitoringStack": (lambda: components.MonitoringStack(
        "m", MonitoringStackArgs.model_construct(alerts=MonitoringAlertsArgs.model_construct(
            pool_use_ratio=90.0))), "alerts.pool_use_ratio"),
    "NetworkPolicyEnforcer": (lambda: components.NetworkPolicyEnforcer(
        "k", _changed(NetworkPolicyEnforcerArgs(), health_port=0)), "health_port"),
    "MultiNetworkPolicyEnforcer": (lambda: components.MultiNetworkPolicyEnforcer(
        "e", MultiNetworkPolicyEnforcerArgs.model_construct(network_plugins=["mac,vlan"])),
        "network_plugins[0]"),
    "NetplumbStack": (lambda: components.NetplumbStack(
        "s", StackSpec.model_construct(pods=[PodArgs.model_construct(name="Bad_Name")])),
        "config.netplumb:spec.pods[0].name"),
}
NO_ARGS = {"NadCrd"}
"""Components that take no args."""


def public_components() -> list[str]:
    return [name for name in components.__all__
            if inspect.isclass(getattr(components, name))
            and issubclass(getattr(components, name), pulumi.ComponentResource)]


def test_every_public_component_has_a_case() -> None:
    assert sorted([*CASES, *NO_ARGS]) == sorted(public_components())


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_args_raise_plan_error_and_register_nothing(name: str) -> None:
    build, path = CASES[name]
    err, mocks = refused(build)
    assert err.path == path, err
    assert mocks.registered == []


def test_checked_takes_parsed_args_as_they_are_and_validates_others_again() -> None:
    spec = StackSpec.parse({"networks": [{"name": "a", "type": "bridge"}],
                            "pods": [{"name": "p"}]})
    assert spec.checked() is spec
    assert spec.networks[0].checked() is spec.networks[0]  # parsed inside the stack spec
    assert spec.pods[0].checked() is spec.pods[0]
    built = PodArgs(name="p")
    assert built.checked() is not built
    assert built.checked().model_dump() == built.model_dump()
