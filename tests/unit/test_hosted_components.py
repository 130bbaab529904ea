"""The components as the component provider hosts them (netplumb.components.hosted).

The schema Pulumi infers from them, the args' agreement with netplumb's models, and the
provider's own construct path under mocks: args in schema spelling (what a YAML program
writes) reach netplumb's models, bad args raise PlanError naming the field before anything
registers.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from netplumb import (
    HostLocalIpam,
    MacvlanNetworkArgs,
    NetworkSelection,
    PlanError,
    PodArgs,
    Route,
)
from netplumb import StaticAddress as StaticAddressModel
from netplumb.cni.ipam import KNOWN_IPAM
from netplumb.components import hosted

from .pulumi_mocks import run_program

NAD = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"
POD = "kubernetes:core/v1:Pod"


def _schema() -> dict[str, Any]:
    provider = ComponentProvider(hosted.COMPONENTS, hosted.PACKAGE, None, hosted.VERSION)
    assert provider.schema is not None
    schema: dict[str, Any] = json.loads(provider.schema)
    return schema


def test_schema_declares_both_components_with_every_field_described() -> None:
    schema = _schema()
    assert set(schema["resources"]) == {"netplumb:index:MacvlanNetwork",
                                        "netplumb:index:MultiHomedPod"}
    macvlan = schema["resources"]["netplumb:index:MacvlanNetwork"]
    assert {"master", "mode", "mtu", "ipam", "capabilities"} <= set(macvlan["inputProperties"])
    assert set(macvlan["properties"]) == {"nadName", "namespace", "config"}
    pod = schema["resources"]["netplumb:index:MultiHomedPod"]
    assert pod["requiredInputs"] == ["networks"]
    assert set(pod["properties"]) == {"podName", "namespace"}
    ipam = schema["types"]["netplumb:index:Ipam"]["properties"]
    assert {"rangeStart", "rangeEnd", "subnet", "range", "addresses"} <= set(ipam)
    assert "defaultRoute" in schema["types"]["netplumb:index:NetworkSelection"]["properties"]
    undescribed = [
        f"{owner}.{prop}"
        for section in ("resources", "types")
        for owner, spec in schema[section].items()
        for prop, body in {**spec.get("inputProperties", {}), **spec.get("properties", {})}
        .items() if not body.get("description")]
    assert undescribed == []


def _fields(model: type[Any]) -> set[str]:
    return set(model.model_fields)


@pytest.mark.parametrize(("args", "models"), [
    (hosted.MacvlanNetworkArgs, [MacvlanNetworkArgs]),
    (hosted.Ipam, list(KNOWN_IPAM.values())),
    (hosted.IpamRoute, [Route]),
    (hosted.StaticAddress, [StaticAddressModel]),
    (hosted.NetworkSelection, [NetworkSelection]),
    (hosted.MultiHomedPodArgs, [PodArgs]),
])
def test_every_provider_arg_is_a_field_of_the_model_it_feeds(args: type[Any],
                                                              models: list[type[Any]]) -> None:
    known = set().union(*(_fields(m) for m in models))
    assert set(typing.get_type_hints(args)) - known == set()


def test_schema_names_of_keys_and_paths() -> None:
    assert hosted.schema_name("range_start") == "rangeStart"
    assert hosted.schema_name("default-route") == "defaultRoute"
    assert hosted.schema_name("rangeStart") == "rangeStart"
    assert hosted.schema_path("networks[0].default-route[1]") == "networks[0].defaultRoute[1]"
    assert hosted.schema_path("ipam.range_start") == "ipam.rangeStart"


def test_valid_args_give_the_same_config_as_the_python_component() -> None:
    given: hosted.MacvlanNetworkArgs = {
        "master": "np-a", "mode": "bridge", "mtu": 9000, "capabilities": {"ips": True},
        "ipam": {"type": "host-local", "subnet": "192.0.2.0/24", "range_start": "192.0.2.10",
                 "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]}}
    typed = MacvlanNetworkArgs(master="np-a", mode="bridge", mtu=9000,
                               capabilities={"ips": True},
                               ipam=HostLocalIpam(type="host-local", subnet="192.0.2.0/24",
                                                  range_start="192.0.2.10",
                                                  routes=[Route(dst="0.0.0.0/0",
                                                                gw="192.0.2.1")]))
    assert hosted.macvlan_args(given).cni_config("n").to_dict() == \
        typed.checked().cni_config("n").to_dict()


@pytest.mark.parametrize(("args", "path", "value"), [
    ({"mode": "bridgee"}, "mode", "bridgee"),
    ({"mtu": 70000}, "mtu", 70000),
    ({"ipam": {"type": "whereabouts", "range": "198.51.100.0/24", "range_start": "x"}},
     "ipam.rangeStart", "x"),
    ({"ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
               "addresses": [{"address": "192.0.2.1/24"}]}}, "ipam.addresses", None),
    ({"ipam": {"type": "host_local"}}, "ipam.type", "host_local"),
])
def test_bad_network_args_name_the_field_in_schema_spelling(args: dict[str, Any], path: str,
                                                            value: Any) -> None:
    with pytest.raises(PlanError) as err:
        hosted.macvlan_args(args)
    assert err.value.path == path
    if value is not None:
        assert err.value.findings[0].value == value


def test_bad_pod_args_name_the_field() -> None:
    with pytest.raises(PlanError) as err:
        hosted.pod_args({"networks": [{"name": "a", "default_route": ["nope"]}]})
    assert err.value.path == "networks[0].defaultRoute[0]"


def test_outputs_as_args_are_refused_with_the_field() -> None:
    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def check() -> None:
        with pytest.raises(PlanError) as err:
            hosted.pod_args({"networks": [{"name": pulumi.Output.from_input("net")}]})
        assert err.value.path == "networks[0].name"
        assert "dependsOn" in str(err.value)

    run_program(lambda: check())


def _construct(provider: ComponentProvider, typ: str, name: str,
               inputs: dict[str, Any]) -> None:
    provider.construct(name, f"netplumb:index:{typ}", inputs, pulumi.ResourceOptions())


def test_construct_maps_schema_names_into_the_models_and_registers() -> None:
    provider = ComponentProvider(hosted.COMPONENTS, hosted.PACKAGE, None, hosted.VERSION)

    def program() -> None:
        _construct(provider, "MacvlanNetwork", "storage", {
            "master": "np-a", "mtu": 1400.0,  # numbers arrive as floats over gRPC
            "ipam": {"type": "host-local", "subnet": "198.51.100.0/24",
                     "rangeStart": "198.51.100.20", "rangeEnd": "198.51.100.29"}})
        _construct(provider, "MultiHomedPod", "app", {
            "networks": [{"name": "storage", "interface": "net1",
                          "defaultRoute": ["198.51.100.1"]}]})

    mocks = run_program(program)
    [nad] = mocks.of_type(NAD)
    config = json.loads(nad.inputs["spec"]["config"])
    assert config["mtu"] == 1400 and isinstance(config["mtu"], int)
    assert config["ipam"] == {"type": "host-local", "subnet": "198.51.100.0/24",
                              "rangeStart": "198.51.100.20", "rangeEnd": "198.51.100.29"}
    [pod] = mocks.of_type(POD)
    selections = json.loads(pod.inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selections == [{"name": "storage", "interface": "net1",
                           "default-route": ["198.51.100.1"]}]
    assert {r.type for r in mocks.registered} >= {"netplumb:index:MacvlanNetwork",
                                                   "netplumb:index:MultiHomedPod"}


def test_construct_with_bad_args_registers_nothing() -> None:
    provider = ComponentProvider(hosted.COMPONENTS, hosted.PACKAGE, None, hosted.VERSION)
    failures: list[BaseException] = []

    def program() -> None:
        try:
            _construct(provider, "MacvlanNetwork", "storage",
                       {"master": "np-a", "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                                                   "rangeStart": "203.0.113.5"}})
        except Exception as exc:  # ComponentInitError around the PlanError
            failures.append(exc)

    mocks = run_program(program)
    [failure] = failures
    inner = getattr(failure, "inner", failure)
    assert isinstance(inner, PlanError) and inner.path == "ipam.rangeStart"
    assert mocks.registered == []


README = Path(__file__).parents[2] / "README.md"


def test_the_readme_yaml_program_constructs_and_its_quoted_error_is_real() -> None:
    text = README.read_text()
    [program] = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
                 if "runtime: yaml" in b]
    provider = ComponentProvider(hosted.COMPONENTS, hosted.PACKAGE, None, hosted.VERSION)

    def construct_all() -> None:
        for name, res in program["resources"].items():
            _construct(provider, res["type"].rsplit(":", 1)[1], name, res["properties"])

    mocks = run_program(construct_all)
    [nad] = mocks.of_type(NAD)
    assert json.loads(nad.inputs["spec"]["config"])["ipam"]["rangeStart"] == "192.0.2.100"
    assert len(mocks.of_type(POD)) == 1
    with pytest.raises(PlanError) as err:
        hosted.macvlan_args({"mode": "bridgee"})
    assert f"`{err.value}`" in text.replace("\n", " ")
