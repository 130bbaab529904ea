"""Whereabouts: netplumb's CRD schemas against whereabouts v0.9.2's Go types, RBAC against
what its code calls, the DaemonSet against the paths its code reads; when a stack installs it,
and the plan error when a stack uses it without saying who installs it; under Pulumi mocks."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.images import WHEREABOUTS_IMAGE
from netplumb.args.stack import StackSpec
from netplumb.args.whereabouts import WhereaboutsArgs, WhereaboutsStackArgs
from netplumb.components.stack import NetplumbStack
from netplumb.components.whereabouts import Whereabouts
from netplumb.plan import build_plan, cluster_wide, render_plan
from netplumb.render.whereabouts import (
    GROUP,
    VERSION,
    node_slice_controller,
    whereabouts_crds,
    whereabouts_manifests,
)

from .node_sources import command_flags, flag_names
from .pulumi_mocks import run_program
from .test_platform_flannel import refused

J = dict[str, Any]
AT = ("config", "netplumb:spec")
S = "config.netplumb:spec"
WB_NET: J = {"name": "storage", "type": "macvlan", "master": "ens2f0",
             "ipam": {"type": "whereabouts", "range": "198.51.100.0/24"}}


@cache
def upstream() -> Path | None:
    """whereabouts v0.9.2 in the Go module cache (``make tools`` puts it there)."""
    try:
        root = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(root) / "github.com/k8snetworkplumbingwg/whereabouts@v0.9.2"
    return path if path.is_dir() else None


def go_struct(source: str, name: str) -> dict[str, bool]:
    """``json name -> required`` of a Go struct's fields (required: no ``omitempty``)."""
    body = re.search(r"type " + name + r" struct \{(.*?)\n\}", source, re.S)
    assert body, name
    out = {}
    for tag in re.findall(r'`json:"([^"]*)"`', body[1]):
        field, *opts = tag.split(",")
        if field and field != "-":
            out[field] = "omitempty" not in opts
    return out


def crds() -> dict[str, J]:
    return {c["spec"]["names"]["kind"]: c for c in whereabouts_crds()}


def schema_of(kind: str) -> J:
    schema: J = crds()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def shape(schema: J) -> dict[str, bool]:
    return {k: k in schema.get("required", []) for k in schema["properties"]}


# -- CRDs -------------------------------------------------------------------------------------


def test_crds_names_and_scope() -> None:
    c = crds()
    assert set(c) == {"IPPool", "OverlappingRangeIPReservation", "NodeSlicePool"}
    for kind, crd in c.items():
        spec = crd["spec"]
        assert spec["group"] == GROUP == "whereabouts.cni.cncf.io"
        assert spec["scope"] == "Namespaced"
        [version] = spec["versions"]
        assert version["name"] == VERSION == "v1alpha1"
        assert version["served"] and version["storage"]
        assert "subresources" not in version  # the controllers update status with the object
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{GROUP}", kind


def test_schemas_match_upstream_types() -> None:
    root = upstream()
    if root is None:
        pytest.skip("whereabouts v0.9.2 is not in the Go module cache (make tools fetches it)")
    api = root / "pkg/api/whereabouts.cni.cncf.io/v1alpha1"
    ippool = (api / "ippool_types.go").read_text()
    slices = (api / "nodeslicepool_types.go").read_text()
    reservation = (api / "overlappingrangeipreservation_types.go").read_text()
    pool = schema_of("IPPool")["properties"]["spec"]
    assert shape(pool) == go_struct(ippool, "IPPoolSpec")
    assert shape(pool["properties"]["allocations"]["additionalProperties"]) == go_struct(
        ippool, "IPAllocation")
    assert shape(schema_of("OverlappingRangeIPReservation")["properties"]["spec"]) == (
        go_struct(reservation, "OverlappingRangeIPReservationSpec"))
    nsp = schema_of("NodeSlicePool")["properties"]
    assert shape(nsp["spec"]) == go_struct(slices, "NodeSlicePoolSpec")
    assert shape(nsp["status"]) == go_struct(slices, "NodeSlicePoolStatus")
    assert shape(nsp["status"]["properties"]["allocations"]["items"]) == go_struct(
        slices, "NodeSliceAllocation")


def conforms(value: Any, schema: J, path: str = "") -> list[str]:
    """Where ``value`` breaks ``schema`` (the structural subset CRDs use)."""
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str}
    if kind in types and not isinstance(value, types[kind]):
        return [f"{path}: not {kind}"]
    problems = []
    if kind == "object":
        problems += [f"{path}.{k}: missing" for k in schema.get("required", [])
                     if k not in value]
        for k, v in value.items():
            sub = schema.get("properties", {}).get(k, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                problems += conforms(v, sub, f"{path}.{k}")
    if kind == "array":
        for i, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{path}[{i}]")
    return problems


def test_objects_as_whereabouts_writes_them_conform() -> None:
    pool = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "IPPool",
            "metadata": {"name": "198.51.100.0-24", "namespace": "kube-system"},
            "spec": {"range": "198.51.100.0/24", "allocations": {
                "5": {"id": "4f1c9a", "podref": "storage/db-0", "ifname": "net1"}}}}
    assert conforms(pool, schema_of("IPPool")) == []
    empty = {**pool, "spec": {"range": "198.51.100.0/24", "allocations": {}}}
    assert conforms(empty, schema_of("IPPool")) == []
    reservation = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "OverlappingRangeIPReservation",
                   "metadata": {"name": "198.51.100.5"},
                   "spec": {"containerid": "4f1c9a", "podref": "storage/db-0"}}
    assert conforms(reservation, schema_of("OverlappingRangeIPReservation")) == []
    slices = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeSlicePool",
              "metadata": {"name": "storage"},
              "spec": {"range": "198.51.100.0/24", "sliceSize": "/28"},
              "status": {"allocations": [{"nodeName": "n1", "sliceRange": "198.51.100.0/28"},
                                         {"nodeName": "", "sliceRange": "198.51.100.16/28"}]}}
    assert conforms(slices, schema_of("NodeSlicePool")) == []
    # and the schemas refuse what they should
    assert conforms({**pool, "spec": {"allocations": {}}}, schema_of("IPPool")) == [
        ".spec.range: missing"]
    bad = {**pool, "spec": {"range": "198.51.100.0/24", "allocations": {"5": {"id": "x"}}}}
    assert conforms(bad, schema_of("IPPool")) == [".spec.allocations.5.podref: missing"]
    assert conforms({**reservation, "spec": {"containerid": 7, "podref": "a/b"}},
                    schema_of("OverlappingRangeIPReservation")) == [".spec.containerid: not string"]


# -- RBAC and the DaemonSet -------------------------------------------------------------------


def kinds(manifests: list[J]) -> dict[str, J]:
    return {m["kind"]: m for m in manifests if m["kind"] != "CustomResourceDefinition"}


def allowed(rules: list[J], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
               for r in rules)


def test_rbac_covers_what_the_plugin_and_controllers_call() -> None:
    rules = kinds(whereabouts_manifests(WhereaboutsArgs()))["ClusterRole"]["rules"]
    needed = [  # from pkg/storage/kubernetes, pkg/controlloop, pkg/reconciler, node-controller
        (GROUP, "ippools", v) for v in ("get", "list", "watch", "create", "update", "patch")
    ] + [(GROUP, "overlappingrangeipreservations", v) for v in ("get", "list", "create",
                                                                   "delete")] + [
        (GROUP, "nodeslicepools", v) for v in ("get", "list", "watch", "create", "update",
                                               "delete")] + [
        ("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")] + [
        ("", "pods", "list"), ("", "pods", "watch"), ("", "pods", "get"), ("", "nodes", "get"),
        ("", "nodes", "list"), ("k8s.cni.cncf.io", "network-attachment-definitions", "get"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "list"),
        ("", "events", "create"), ("", "events", "patch")]
    missing = [n for n in needed if not allowed(rules, *n)]
    assert missing == []
    # nothing beyond: no wildcard verbs or resources, no secrets
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in rules)
    assert not any("secrets" in r["resources"] for r in rules)


def test_daemonset_reads_what_the_control_loop_reads() -> None:
    args = WhereaboutsArgs(namespace="ipam", reconciler_schedule="@daily")
    k = kinds(whereabouts_manifests(args))
    spec = k["DaemonSet"]["spec"]["template"]["spec"]
    c = {x["name"]: x for x in spec["containers"]}
    loop = c["ip-control-loop"]
    assert loop["image"] == WHEREABOUTS_IMAGE
    assert loop["command"] == ["/ip-control-loop"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in loop["env"]}
    assert env == {"NODENAME": "spec.nodeName", "WHEREABOUTS_NAMESPACE": "metadata.namespace"}
    mounts = {m["mountPath"]: m for m in loop["volumeMounts"]}
    # controlloop: reconcilerCronConfiguration = "/cron-schedule/config"; the flat file at
    # "/host" + "/etc/cni/net.d/whereabouts.d/whereabouts.conf"
    assert mounts["/cron-schedule"]["readOnly"] is True
    assert mounts["/host/etc/cni/net.d/whereabouts.d"]["readOnly"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    cron = volumes[mounts["/cron-schedule"]["name"]]["configMap"]
    assert cron["items"] == [{"key": "cron-expression", "path": "config"}]
    assert k["ConfigMap"]["data"] == {"cron-expression": "@daily"}
    assert cron["name"] == k["ConfigMap"]["metadata"]["name"]
    if (root := upstream()) is not None:
        source = (root / "cmd/controlloop/controlloop.go").read_text()
        assert 'reconcilerCronConfiguration = "/cron-schedule/config"' in source
        assert '"/etc/cni/net.d/whereabouts.d/whereabouts.conf"' in (
            root / "pkg/controlloop/pod.go").read_text()
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    for x in spec["containers"]:
        assert x["securityContext"]["readOnlyRootFilesystem"] is True
        assert x["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert x["securityContext"]["allowPrivilegeEscalation"] is False
    assert "hostNetwork" not in spec


def test_config_writer_writes_the_plugins_files_on_the_host() -> None:
    spec = kinds(whereabouts_manifests(WhereaboutsArgs(namespace="ipam")))["DaemonSet"][
        "spec"]["template"]["spec"]
    writer = next(c for c in spec["containers"] if c["name"] == "whereabouts-config")
    command, *flags = writer["args"]
    assert command == "whereabouts-config"
    assert set(flag_names(flags)) <= command_flags(command)
    assert "--dir=/host/etc/cni/net.d/whereabouts.d" in flags
    assert "--host-dir=/etc/cni/net.d/whereabouts.d" in flags
    assert "--namespace=ipam" in flags and "--watch" in flags
    [mount] = writer["volumeMounts"]
    assert mount["mountPath"] == "/host/etc/cni/net.d/whereabouts.d"
    assert mount.get("readOnly") is not True
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["hostPath"] == {"path": "/etc/cni/net.d/whereabouts.d",
                                  "type": "DirectoryOrCreate"}
    if (root := upstream()) is not None:  # where the plugin looks for its flat file
        assert '"/etc/cni/net.d/whereabouts.d/whereabouts.conf"' in (
            root / "pkg/config/config.go").read_text()


def test_node_slice_controller_on_request() -> None:
    assert "Deployment" not in kinds(whereabouts_manifests(WhereaboutsArgs()))
    dep = kinds(whereabouts_manifests(WhereaboutsArgs(node_slice_controller=True)))[
        "Deployment"]
    assert dep == node_slice_controller(WhereaboutsArgs(node_slice_controller=True))
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["/node-slice-controller"]
    # it reads the flat file at the plugin's own path (mount path "")
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/etc/cni/net.d/whereabouts.d"]
    kinds_without = [m["kind"] for m in whereabouts_manifests(WhereaboutsArgs(
        install_crds=False))]
    assert "CustomResourceDefinition" not in kinds_without
    assert kinds_without[0] == "ClusterRole"


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"reconciler_schedule": "daily"}, "reconciler_schedule", ["five-field cron"]),
    ({"reconciler_schedule": "30 4 * *"}, "reconciler_schedule", ["five-field cron"]),
    ({"reconciler_schedule": "@every soon"}, "reconciler_schedule", ["Go duration"]),
    ({"image": "ghcr.io/k8snetworkplumbingwg/whereabouts:latest"}, "image", ["not pinned"]),
    # v0.9.2's ip-control-loop never parses its flags: no log level to set
    ({"log_level": "debug"}, "log_level", ["unknown field"]),
])
def test_bad_args_name_the_field(data: J, path: str, words: list[str]) -> None:
    with pytest.raises(PlanError) as err:
        WhereaboutsArgs.parse(data)
    assert err.value.path == path, err.value
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.parametrize("schedule", ["30 4 * * *", "*/15 * * * *", "0 0 1,15 * MON-FRI",
                                      "@hourly", "@every 6h", "CRON_TZ=UTC 0 3 * * *"])
def test_schedules_the_reconciler_takes(schedule: str) -> None:
    assert WhereaboutsArgs(reconciler_schedule=schedule).reconciler_schedule == schedule


# -- in a stack -------------------------------------------------------------------------------


def plan_of(spec: J) -> Any:
    return build_plan(StackSpec.parse(spec, at=AT), root=AT)


def test_team_stack_using_whereabouts_must_say_who_installs_it() -> None:
    spec = {"networks": [{"name": "plain", "type": "bridge", "bridge": "br0"}, WB_NET,
                         {**WB_NET, "name": "other", "master": "ens2f1",
                          "ipam": {"type": "whereabouts", "range": "203.0.113.0/24"}}]}
    with pytest.raises(PlanError) as err:
        plan_of(spec)
    [finding] = err.value.findings
    assert finding.path == f"{S}.networks[1].ipam.type"
    assert finding.value == "whereabouts"
    for words in ("default/storage", "and 1 more", f"{S}.whereabouts",
                  "{installed: external}", "neither installs it"):
        assert words in finding.message, (words, finding.message)
    external = plan_of({**spec, "whereabouts": {"installed": "external"}})
    assert external.whereabouts is None
    assert not any(m["kind"] == "CustomResourceDefinition" for m in render_plan(external))
    here = plan_of({**spec, "whereabouts": {}})
    assert here.whereabouts.model_dump() == WhereaboutsArgs().model_dump()
    assert "ippools.whereabouts.cni.cncf.io" in {m["metadata"]["name"]
                                                  for m in render_plan(here)}


def test_platform_stack_installs_it_for_its_networks_in_multus_namespace() -> None:
    plan = plan_of({"networks": [WB_NET], "multus": {"namespace": "cni",
                                                      "default_network": "none"}})
    assert plan.whereabouts is not None and plan.whereabouts.namespace == "cni"
    names = [(m["kind"], m["metadata"]["name"]) for m in render_plan(plan)]
    assert ("DaemonSet", "whereabouts") in names
    # after Multus and the node plugin (which installs the plugin binary), before the NADs
    assert names.index(("DaemonSet", "netplumb-node")) < names.index(("DaemonSet",
                                                                      "whereabouts"))
    assert names.index(("DaemonSet", "whereabouts")) < names.index(
        ("NetworkAttachmentDefinition", "storage"))
    # no network uses it: nothing, unless asked for
    assert plan_of({"multus": {"default_network": "none"}}).whereabouts is None
    asked = plan_of({"whereabouts": {"node_slice_controller": True}})
    assert asked.whereabouts is not None and asked.whereabouts.node_slice_controller


def test_stack_setting_validation() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"whereabouts": {"installed": "external", "namespace": "x"}}, at=AT)
    assert err.value.path == f"{S}.whereabouts.namespace"
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"whereabouts": {"installed": "elsewhere"}}, at=AT)
    assert err.value.path == f"{S}.whereabouts.installed"
    setting = WhereaboutsStackArgs.parse({"namespace": "ipam", "node_slice_controller": True})
    assert setting.install_args().model_dump() == WhereaboutsArgs(
        namespace="ipam", node_slice_controller=True).model_dump()


def test_ownership_check_covers_the_install() -> None:
    spec = StackSpec.parse({"networks": [WB_NET], "multus": {"default_network": "none"}},
                           at=AT)
    wanted = cluster_wide(spec, AT, build_plan(spec, root=AT))
    groups = {w.path: w for w in wanted}
    install = groups[f"{S}.whereabouts"]
    assert {m["kind"] for m in install.manifests} == {
        "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ServiceAccount",
        "ConfigMap", "DaemonSet"}
    assert "installed: external" in install.instead
    assert f"{S}.multus.node_plugin" in groups


# -- under mocks ------------------------------------------------------------------------------


def test_component_registers_crds_before_the_daemonset() -> None:
    mocks = run_program(lambda: Whereabouts("wb", WhereaboutsArgs(node_slice_controller=True)))
    crds = mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    assert {r.inputs["metadata"]["name"] for r in crds} == {
        f"{p}.{GROUP}" for p in ("ippools", "overlappingrangeipreservations",
                                 "nodeslicepools")}
    ds = mocks.named("wb-daemonset")
    assert {r.name for r in crds} <= set(ds.depends_on)
    assert {"wb-config", "wb-service-account", "wb-cluster-role-binding"} <= set(
        ds.depends_on)
    assert "wb-daemonset" in mocks.named("wb-node-slice-controller").depends_on
    assert all(r.retain_on_delete for r in mocks.registered if r.type.startswith("kubernetes"))


def test_stack_registers_it_and_pods_wait_for_it() -> None:
    spec = StackSpec.parse({"networks": [WB_NET], "whereabouts": {},
                            "pods": [{"name": "p", "networks": [{"name": "storage"}]}]}, at=AT)
    mocks = run_program(lambda: NetplumbStack("s", spec))
    [wb] = mocks.of_type("netplumb:index:Whereabouts")
    assert wb.name == "s-whereabouts"
    pods = mocks.named("s-pods-default")  # depending on the component: on its children
    assert "s-whereabouts-daemonset" in pods.depends_on


def test_bad_args_register_nothing() -> None:
    err, mocks = refused(lambda: Whereabouts("wb", WhereaboutsArgs.model_construct(
        namespace="Kube System")))
    assert err.paths == ["namespace"]
    assert mocks.registered == []
    spec = StackSpec.model_construct(networks=StackSpec.parse({"networks": [WB_NET]}).networks)
    err, mocks = refused(lambda: NetplumbStack("s", spec))
    assert err.paths == [f"{S}.networks[0].ipam.type"]
    assert mocks.registered == []


def test_config_writer_follows_the_node_plugins_image() -> None:
    image = "registry.example/netplumb-node:v0.1.0-dev"
    plan = plan_of({"networks": [WB_NET], "multus": {"default_network": "none",
                                                      "node_plugin": {"image": image}}})
    assert plan.whereabouts is not None and plan.whereabouts.config_image == image
    own = plan_of({"networks": [WB_NET], "multus": {"node_plugin": {"image": image}},
                   "whereabouts": {"config_image": "registry.example/other:v1"}})
    assert own.whereabouts is not None
    assert own.whereabouts.config_image == "registry.example/other:v1"


def test_with_multus_in_the_stack_its_daemonset_waits_for_multus() -> None:
    # its pods run on the pod network: created earlier, their sandboxes only fail
    spec = StackSpec.parse({"networks": [WB_NET], "whereabouts": {}, "multus": {}}, at=AT)
    mocks = run_program(lambda: NetplumbStack("s", spec))
    assert "s-multus-daemonset" in mocks.named("s-whereabouts-daemonset").depends_on
    alone = run_program(lambda: NetplumbStack("s", StackSpec.parse(
        {"networks": [WB_NET], "whereabouts": {}}, at=AT)))
    assert not [d for d in alone.named("s-whereabouts-daemonset").depends_on
                if d.startswith("s-multus")]
