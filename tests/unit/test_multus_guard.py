"""Fail closed: the Multus guard the node plugin keeps in the host's CNI config dir, so that
no pod is sandboxed on the cluster network alone while the Multus thick daemon is down
(``node/README.md``, multus-guard; ``docs/node-plugin.md``)."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.node_plugin import MultusGuardArgs, NodePluginArgs
from netplumb.components.multus import MultusInstall
from netplumb.render.flannel import CNI_CONF_FILE as FLANNEL_CONF_FILE
from netplumb.render.multus import daemon_config, install_manifests
from netplumb.render.node_plugin import (
    DAEMONSET,
    GUARD_FILE,
    MULTUS_NETWORK_NAME,
    guard_config,
    node_plugin_manifests,
)

from .node_sources import NODE, command_flags, commands, flag_names
from .pulumi_mocks import run_program

GUARD_GO = (NODE / "internal/guard/guard.go").read_text()
MULTUS_FILE = "00-multus.conf"
"""What Multus thick v4.3.0 generates (``pkg/server/config/manager.go``)."""


def kinds(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def containers(args: NodePluginArgs) -> dict[str, dict[str, Any]]:
    spec = kinds(node_plugin_manifests(args))["DaemonSet"]["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec["initContainers"], *spec["containers"]]}


def flag(args: list[str], name: str) -> str:
    [value] = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return value


GUARDED = NodePluginArgs(multus_guard=MultusGuardArgs())


# -- the file ---------------------------------------------------------------------------------


def test_guard_sorts_between_multus_and_the_cluster_network() -> None:
    # the runtime takes the first config of the dir in byte order
    names = sorted([PurePosixPath(FLANNEL_CONF_FILE).name, "05-cilium.conflist",
                    "10-calico.conflist", GUARD_FILE, MULTUS_FILE, "00-multus.conflist"])
    assert names[:3] == [MULTUS_FILE, "00-multus.conflist", GUARD_FILE]
    # Multus' search for the cluster network's config skips names starting with 00-multus
    assert GUARD_FILE.startswith("00-multus")
    assert GUARD_FILE.endswith(".conf")
    # the node plugin's Go code writes the same name
    assert f'FileName = "{GUARD_FILE}"' in GUARD_GO


def test_guard_is_the_shim_with_nothing_to_attach() -> None:
    conf = guard_config(MultusGuardArgs(cni_version="1.0.0"))
    assert conf == {"cniVersion": "1.0.0", "name": MULTUS_NETWORK_NAME,
                    "type": "multus-shim", "daemonSocketDir": "/run/multus/"}
    # no network of its own: a request through it fails even with the daemon back
    assert not {"clusterNetwork", "delegates", "defaultNetworks"} & set(conf)
    # where the daemon listens, as the host sees it (the daemon sees /host/run/multus/)
    assert daemon_config(MultusInstallArgs())["socketDir"] == "/host" + conf["daemonSocketDir"]


# -- the node plugin keeps it ----------------------------------------------------------------


def test_install_places_it_and_a_container_keeps_it() -> None:
    c = containers(GUARDED)
    install, keeper = c["install"]["args"], c["multus-guard"]["args"]
    assert json.loads(flag(install, "multus-guard")) == guard_config(MultusGuardArgs())
    assert flag(install, "cni-conf-dir") == "/host/etc/cni/net.d"
    assert keeper[0] == "multus-guard" and "multus-guard" in commands()
    assert not set(flag_names(keeper[1:])) - command_flags("multus-guard")
    assert not set(flag_names(install[1:])) - command_flags("install")
    assert json.loads(flag(keeper, "config")) == guard_config(MultusGuardArgs())
    assert flag(keeper, "daemonset") == f"kube-system/{DAEMONSET}"
    assert flag(keeper, "interval") == "10s"
    assert {m["mountPath"] for m in c["multus-guard"]["volumeMounts"]} == {"/host/etc/cni/net.d"}
    sc = c["multus-guard"]["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["readOnlyRootFilesystem"] is True
    assert c["multus-guard"]["resources"]["limits"]["memory"] == "50Mi"


def test_it_may_read_its_own_daemonset_only() -> None:
    quiet = NodePluginArgs(metrics=False, multus_guard=MultusGuardArgs())
    k = kinds(node_plugin_manifests(quiet))
    assert k["ClusterRole"]["rules"] == [{"apiGroups": ["apps"], "resources": ["daemonsets"],
                                          "verbs": ["get"], "resourceNames": [DAEMONSET]}]
    spec = k["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is True
    assert "apps" not in json.dumps(kinds(node_plugin_manifests(NodePluginArgs()))
                                    ["ClusterRole"]["rules"])


def test_without_guard_install_removes_it() -> None:
    c = containers(NodePluginArgs())
    assert "multus-guard" not in c
    args = c["install"]["args"]
    assert flag(args, "cni-conf-dir") == "/host/etc/cni/net.d"
    assert not any(a.startswith("--multus-guard") for a in args)
    # node/README: install without --multus-guard removes netplumb's guard
    assert re.search(r"without it, remove that\s+file", (NODE / "README.md").read_text())


# -- MultusInstall turns it on ---------------------------------------------------------------


def test_thick_multus_is_fail_closed_by_default() -> None:
    args = MultusInstallArgs(default_network="none", cni_version="0.4.0")
    node = args.node_plugin_args()
    assert node is not None and node.multus_guard is not None
    assert node.multus_guard.cni_version == "0.4.0"
    ds = next(m for m in install_manifests(args)
              if m["kind"] == "DaemonSet" and m["metadata"]["name"] == DAEMONSET)
    names = [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert "multus-guard" in names


@pytest.mark.parametrize("data", [
    {"fail_closed": False},
    {"mode": "thin"},
    {"install_node_plugin": False},
])
def test_no_guard(data: dict[str, Any]) -> None:
    args = MultusInstallArgs.parse({"default_network": "none", **data})
    assert args.multus_guard() is None
    node = args.node_plugin_args()
    assert node is None or node.multus_guard is None


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"mode": "thin", "fail_closed": True}, "fail_closed", ["thick", "(got true)"]),
    ({"install_node_plugin": False, "fail_closed": True}, "fail_closed",
     ["install_node_plugin"]),
    ({"node_plugin": {"multus_guard": {}}}, "node_plugin.multus_guard", ["fail_closed"]),
    ({"fail_closed": "yes"}, "fail_closed", ["true or false", "yes"]),
])
def test_bad_guard_args_name_the_field(data: dict[str, Any], path: str,
                                       words: list[str]) -> None:
    with pytest.raises(PlanError) as err:
        MultusInstallArgs.parse(data)
    assert err.value.path == path, err.value
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize(("data", "path"), [
    ({"multus_guard": {"socket_dir": "run/multus"}}, "multus_guard.socket_dir"),
    ({"multus_guard": {"interval": "10"}}, "multus_guard.interval"),
    ({"multus_guard": {"cni_version": "0.2.0"}}, "multus_guard.cni_version"),
])
def test_bad_guard_of_a_node_plugin_alone(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PlanError) as err:
        NodePluginArgs.parse(data)
    assert err.value.path == path, err.value


def test_component_registers_the_guard() -> None:
    mocks = run_program(lambda: MultusInstall("multus", MultusInstallArgs(
        default_network="none")))
    ds = mocks.named("multus-node-plugin-daemonset")
    names = [c["name"] for c in ds.inputs["spec"]["template"]["spec"]["containers"]]
    assert "multus-guard" in names
    role = mocks.named("multus-node-plugin-cluster-role")
    assert {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get"],
            "resourceNames": [DAEMONSET]} in role.inputs["rules"]
