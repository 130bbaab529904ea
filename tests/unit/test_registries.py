"""The registries that follow from their classes: known plugins and IPAM types with their
unions, network kinds with their union and error text, components by args, the NAD keys."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from netplumb import PlanError
from netplumb.args import CniNetworkArgs, StackSpec
from netplumb.args.nad import ARGS_BY_TYPE, NAD_KEYS, NadFields
from netplumb.cni import KNOWN_IPAM, KNOWN_PLUGINS, AnyPlugin, Ipam, RawIpam, RawPlugin
from netplumb.components.network import component_for


@pytest.mark.parametrize("kind", sorted(KNOWN_PLUGINS))
def test_each_known_plugin_type_parses_into_its_model(kind: str) -> None:
    cls = KNOWN_PLUGINS[kind]
    data = {"type": kind, **({"device": "eth1"} if kind == "host-device" else {})}
    assert type(TypeAdapter(AnyPlugin).validate_python(data)) is cls


def test_other_plugin_and_ipam_types_are_kept_raw() -> None:
    assert type(TypeAdapter(AnyPlugin).validate_python({"type": "ptp"})) is RawPlugin
    assert type(TypeAdapter(Ipam).validate_python({"type": "nv-ipam"})) is RawIpam


@pytest.mark.parametrize("kind", sorted(KNOWN_IPAM))
def test_each_known_ipam_type_parses_into_its_model(kind: str) -> None:
    data = {"host-local": {"subnet": "192.0.2.0/24"}, "whereabouts": {"range": "192.0.2.0/24"}}
    parsed = TypeAdapter(Ipam).validate_python({"type": kind, **data.get(kind, {})})
    assert type(parsed) is KNOWN_IPAM[kind]


def test_unknown_network_type_error_lists_every_kind() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"networks": [{"name": "n", "type": "bond"}]})
    assert err.value.path == "networks[0].type"
    for kind in ARGS_BY_TYPE:
        assert kind in str(err.value)


@pytest.mark.parametrize("kind", [*ARGS_BY_TYPE, "config"])
def test_every_network_kind_has_its_component(kind: str) -> None:
    args_cls = ARGS_BY_TYPE.get(kind, CniNetworkArgs)
    data = {"config": {"cniVersion": "1.0.0", "type": "ptp"}} if kind == "config" else (
        {"device": "eth1"} if kind == "host-device" else {})
    args = args_cls.parse(data)
    comp = component_for(args)
    expected = "Cni" if kind == "config" else args_cls.__name__.removesuffix("NetworkArgs")
    assert comp.__name__ == f"{expected}Network"
    assert comp.TYPE == f"netplumb:index:{expected}Network"  # the Pulumi type token


def test_nad_keys_are_the_nad_options() -> None:
    assert frozenset(NadFields.model_fields) == NAD_KEYS
    assert {"name", "namespace", "chain", "resource_name", "type"} <= NAD_KEYS
