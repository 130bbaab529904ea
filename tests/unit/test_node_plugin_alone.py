"""The node plugin beside a Multus the stack does not install (``node_plugin:``): it places
the plugins, the dhcp daemon and the metrics, and ``monitoring:`` scrapes it."""

from __future__ import annotations

import pytest

from netplumb import PlanError
from netplumb.args.stack import StackSpec
from netplumb.components.stack import NetplumbStack
from netplumb.plan import build_plan, render_plan

from .pulumi_mocks import run_program

SPEC = {"node_plugin": {"namespace": "netplumb-system"},
        "monitoring": {}}


def test_a_stack_without_multus_places_the_node_plugin_and_monitors_it() -> None:
    spec = StackSpec.parse(SPEC)
    mocks = run_program(lambda: NetplumbStack("alone", spec))
    types = [r.type for r in mocks.registered]
    assert "netplumb:index:NodePlugin" in types
    assert "netplumb:index:MultusInstall" not in types
    [ds] = [r for r in mocks.of_type("kubernetes:apps/v1:DaemonSet")
            if r.name.startswith("alone-node-plugin")]
    assert ds.inputs["metadata"]["namespace"] == "netplumb-system"
    monitoring = spec.monitoring_args()
    assert monitoring is not None
    assert monitoring.node_plugin_namespace == "netplumb-system"
    [svc] = [m for m in render_plan(build_plan(spec)) if m["kind"] == "Service"]
    assert svc["metadata"]["namespace"] == "netplumb-system"
    kinds = [m["kind"] for m in render_plan(build_plan(spec))]
    assert "DaemonSet" in kinds


def test_the_node_plugin_is_not_installed_twice() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"multus": {"default_network": "none"}, "node_plugin": {}})
    assert err.value.path == "node_plugin" and "twice" in str(err.value)
    both = StackSpec.parse({"multus": {"default_network": "none", "install_node_plugin": False},
                            "node_plugin": {}})
    assert both.node_plugin_args() is both.node_plugin


def test_its_checks_name_its_own_key() -> None:
    spec = StackSpec.parse({
        "node_plugin": {"run_dhcp_daemon": False},
        "networks": [{"name": "d", "type": "bridge", "bridge": "br0", "ipam": {"type": "dhcp"}}]},
        at=("config", "netplumb:spec"))
    [w] = [f for f in build_plan(spec, root=("config", "netplumb:spec")).warnings
           if "dhcp daemon" in f.message]
    assert "config.netplumb:spec.node_plugin.run_dhcp_daemon" in w.message
