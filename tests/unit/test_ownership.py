"""Ownership of cluster-wide objects: no silent takeover, retained on destroy, CRD by default
only with Multus. Pure decisions plus NetplumbStack under mocks with a fake cluster."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb import PlanError
from netplumb.args.multus import MultusInstallArgs
from netplumb.args.stack import StackSpec, load_stack_file, spec_from_config
from netplumb.components import MultusInstall, NetplumbStack
from netplumb.components.cluster import reset_reader, use_reader
from netplumb.ownership import (
    OWNER_ANNOTATION,
    ObjectRef,
    OwnershipPolicy,
    Wanted,
    describe_manager,
    takeover_findings,
)
from netplumb.render.nad import nad_crd

from .pulumi_mocks import run_program

CRD_KEY = "CustomResourceDefinition/network-attachment-definitions.k8s.cni.cncf.io"
SET_TYPE = "pulumi-python:dynamic/netplumb:ObjectSet"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
TEAM = {"networks": [{"name": "team-br", "type": "bridge", "bridge": "br-team",
                      "ipam": {"type": "host-local", "subnet": "198.51.100.0/24"}}],
        "pods": [{"name": "team-pod", "networks": [{"name": "team-br"}]}]}


def live(owner: str | None = None, managers: tuple[str, ...] = ()) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x"}
    if owner:
        meta["annotations"] = {OWNER_ANNOTATION: owner}
    meta["managedFields"] = [{"manager": m, "operation": "Apply"} for m in managers]
    return {"metadata": meta}


class FakeCluster:
    """Live objects by ``ObjectRef.key``; counts reads."""

    def __init__(self, objects: Mapping[str, dict[str, Any]]) -> None:
        self.objects = dict(objects)
        self.reads: list[str] = []

    def __call__(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        self.reads.append(ref.key)
        return self.objects.get(ref.key)


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    fake = FakeCluster({})
    use_reader(fake)
    try:
        yield fake
    finally:
        reset_reader()


POLICY = OwnershipPolicy(owner="netplumb/team-a")


def test_absent_ours_and_adopted_objects_pass() -> None:
    crd = nad_crd()
    wanted = [Wanted("config.netplumb:spec.install_nad_crd", [crd])]
    assert takeover_findings(wanted, FakeCluster({}), POLICY) == []
    mine = FakeCluster({CRD_KEY: live("netplumb/team-a")})
    assert takeover_findings(wanted, mine, POLICY) == []
    theirs = FakeCluster({CRD_KEY: live("netplumb/platform")})
    adopting = OwnershipPolicy(owner="netplumb/team-a", adopt=frozenset({CRD_KEY}))
    assert takeover_findings(wanted, theirs, adopting) == []


@pytest.mark.parametrize(("existing", "named"), [
    (live("netplumb/platform"), "netplumb stack 'netplumb/platform'"),
    (live(None, ("kubectl-client-side-apply",)), "field manager 'kubectl-client-side-apply'"),
    (live(None, ()), "an unknown manager"),
])
def test_foreign_object_is_a_finding_naming_owner_and_setting(
        existing: dict[str, Any], named: str) -> None:
    wanted = [Wanted("config.netplumb:spec.install_nad_crd", [nad_crd()],
                     instead="install_nad_crd: false")]
    [finding] = takeover_findings(wanted, FakeCluster({CRD_KEY: existing}), POLICY)
    assert finding.path == "config.netplumb:spec.install_nad_crd"
    assert finding.value == CRD_KEY
    assert named in finding.message
    assert "install_nad_crd: false" in finding.message
    assert f"cluster_objects.adopt: [{CRD_KEY!r}]" in finding.message


def test_status_writers_are_not_managers() -> None:
    obj = {"metadata": {"managedFields": [
        {"manager": "kubelet", "operation": "Update", "subresource": "status"},
        {"manager": "kubectl-edit", "operation": "Update"}]}}
    assert describe_manager(obj) == "field manager 'kubectl-edit'"


def test_team_stack_installs_no_crd_by_default_and_keeps_nads_deletable(
        cluster: FakeCluster) -> None:
    mocks = run_program(lambda: NetplumbStack("team-a", StackSpec.parse(TEAM)), "team-a")
    assert mocks.of_type(CRD_TYPE) == []
    nads, pods = mocks.of_type(SET_TYPE)
    [nad] = nads.inputs["objects"].values()
    assert nad["kind"] == "NetworkAttachmentDefinition"
    assert nad["metadata"]["annotations"][OWNER_ANNOTATION] == "netplumb/team-a"
    assert nads.retain_on_delete is False
    assert [p["metadata"]["name"] for p in pods.inputs["objects"].values()] == ["team-pod"]
    assert cluster.reads == []  # nothing cluster-wide, nothing read


@pytest.mark.parametrize(("setting", "expected"), [({}, "ready"),
                                                 ({"await_pods": False}, "none")])
def test_pods_are_awaited_unless_the_stack_says_not_to(
        cluster: FakeCluster, setting: dict[str, Any], expected: str) -> None:
    mocks = run_program(lambda: NetplumbStack("team-a", StackSpec.parse({**TEAM, **setting})),
                        "team-a")
    nads, pods = mocks.of_type(SET_TYPE)
    assert pods.inputs["await"] == expected
    assert nads.inputs["await"] == "none"


def test_team_stack_asking_for_the_crd_another_stack_owns_fails_before_registering(
        cluster: FakeCluster) -> None:
    cluster.objects[CRD_KEY] = live("netplumb/platform")
    spec = StackSpec.parse({**TEAM, "install_nad_crd": True})
    with pytest.raises(PlanError) as err:
        run_program(lambda: NetplumbStack("team-a", spec), "team-a")
    assert err.value.paths == ["config.netplumb:spec.install_nad_crd"]
    assert "netplumb stack 'netplumb/platform'" in str(err.value)
    assert "cluster_objects.adopt" in str(err.value)


def test_nothing_registers_when_the_takeover_check_fails(cluster: FakeCluster) -> None:
    cluster.objects[CRD_KEY] = live(None, ("kubectl",))
    spec = StackSpec.parse({**TEAM, "install_nad_crd": True})
    registered: list[str] = []

    def program() -> None:
        try:
            NetplumbStack("team-a", spec)
        except PlanError:
            registered.append("raised")

    mocks = run_program(program, "team-a")
    assert registered == ["raised"]
    assert mocks.registered == []


def test_adopting_takes_it_over(cluster: FakeCluster) -> None:
    cluster.objects[CRD_KEY] = live("netplumb/platform")
    spec = StackSpec.parse({**TEAM, "install_nad_crd": True,
                            "cluster_objects": {"adopt": [CRD_KEY]}})
    mocks = run_program(lambda: NetplumbStack("team-a", spec), "team-a")
    [crd] = mocks.of_type(CRD_TYPE)
    assert crd.inputs["metadata"]["annotations"][OWNER_ANNOTATION] == "netplumb/team-a"


def test_platform_objects_are_retained_unless_the_stack_says_delete(
        cluster: FakeCluster) -> None:
    platform = {"multus": {"default_network": "none"}}
    mocks = run_program(lambda: NetplumbStack("platform", StackSpec.parse(platform)),
                        "platform")
    kinds = {r.inputs.get("kind") or r.type.rsplit(":", 1)[-1]: r for r in mocks.registered
             if r.type.startswith("kubernetes:")}
    assert {"CustomResourceDefinition", "DaemonSet", "ClusterRole"} <= set(kinds)
    assert all(r.retain_on_delete for r in mocks.registered if r.type.startswith("kubernetes:"))
    assert CRD_KEY in cluster.reads  # checked before registering
    deleting = {**platform, "cluster_objects": {"on_destroy": "delete"}}
    mocks = run_program(lambda: NetplumbStack("platform", StackSpec.parse(deleting)),
                        "platform")
    assert not any(r.retain_on_delete for r in mocks.registered)


def test_retained_objects_are_an_output(cluster: FakeCluster) -> None:
    out: dict[str, Any] = {}

    def program() -> Any:
        stack = NetplumbStack("platform", StackSpec.parse({"multus": {"default_network":
                                                                      "none"}}))
        return stack.retained_on_destroy.apply(lambda v: out.setdefault("retained", v))

    run_program(program, "platform")
    assert CRD_KEY in out["retained"]
    assert "DaemonSet/kube-system/kube-multus-ds" in out["retained"]


def test_standalone_multus_install_checks_its_objects(cluster: FakeCluster) -> None:
    cluster.objects["ClusterRole/multus"] = live(None, ("helm",))
    with pytest.raises(PlanError) as err:
        run_program(lambda: MultusInstall("multus", MultusInstallArgs(
            default_network="none", install_nad_crd=False)))
    assert "ClusterRole multus already exists, managed by field manager 'helm'" in str(err.value)
    assert err.value.paths == ["multus"]


@pytest.mark.parametrize("ref", ["crd/x", "CustomResourceDefinition", "Kind/a/b/c", "Kind//b"])
def test_adopt_entries_are_checked(ref: str) -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"cluster_objects": {"adopt": [ref]}})
    assert err.value.paths == ["cluster_objects.adopt[0]"]


def test_spec_from_a_file_names_the_file_in_findings(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(
        {"networks": [{"name": "n", "type": "bridge", "mtu": 20}]}))
    with pytest.raises(PlanError) as err:
        spec_from_config(None, "team.yaml", tmp_path)
    assert err.value.paths == ["team.yaml:networks[0].mtu"]
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(TEAM))
    spec, at = spec_from_config(None, "team.yaml", tmp_path)
    assert [n.name for n in spec.networks] == ["team-br"] and at == ("team.yaml:",)


@pytest.mark.parametrize(("spec", "spec_file", "message"), [
    (TEAM, "team.yaml", "both"),
    (None, None, "missing"),
    (None, "absent.yaml", "no such file"),
    (None, 7, "expected a path"),
])
def test_spec_config_errors(tmp_path: Path, spec: Any, spec_file: Any, message: str) -> None:
    (tmp_path / "team.yaml").write_text(yaml.safe_dump(TEAM))
    with pytest.raises(PlanError) as err:
        spec_from_config(spec, spec_file, tmp_path)
    assert message in str(err.value)


def test_stack_file_with_spec_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "big.yaml").write_text(yaml.safe_dump(TEAM))
    stack = tmp_path / "stacks" / "Pulumi.big.yaml"
    stack.write_text(yaml.safe_dump({"config": {"netplumb:specFile": "specs/big.yaml"}}))
    assert [p.name for p in load_stack_file(stack).pods] == ["team-pod"]
