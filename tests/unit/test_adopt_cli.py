"""`netplumb adopt` as a command, against a stand-in for the Kubernetes API client: what it
reads, the files it writes (and will not overwrite), what it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb.args.stack import FILE_KEY, load_stack_file
from netplumb.cli import adopt as adopt_cli
from netplumb.cli.main import main
from netplumb.kube import Credentials, KubeError
from netplumb.plan import build_plan, nad_manifests

from .test_adopt import SEED, SEED_PODS, nad, owned_by
from .test_seed_nads import SEED_BRIDGE


class FakeKube:
    """Lists what it holds, by kind and namespace; may refuse cluster-wide lists."""

    def __init__(self, objects: list[dict[str, Any]], *, forbid_all: frozenset[str] = frozenset()
                 ) -> None:
        self.objects = objects
        self.forbid_all = forbid_all
        self.creds = Credentials(server="https://10.0.0.1:6443", context="legacy-ctx")
        self.calls: list[tuple[str, str | None, str | None]] = []

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None, **_: Any) -> list[dict[str, Any]]:
        self.calls.append((kind, namespace, label_selector))
        if namespace is None and kind in self.forbid_all:
            raise KubeError(403, "Forbidden", f"cannot list {kind} at the cluster scope")
        out = []
        for o in self.objects:
            meta = o["metadata"]
            if o["kind"] != kind or (namespace and meta.get("namespace") != namespace):
                continue
            if label_selector:
                label, _eq, value = label_selector.partition("=")
                if (meta.get("labels") or {}).get(label) != value:
                    continue
            out.append(o)
        return out


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: legacyproj\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use(monkeypatch: pytest.MonkeyPatch, kube: FakeKube) -> None:
    monkeypatch.setattr(adopt_cli, "connect", lambda args, prog: kube)


CLUSTER = [*SEED, *SEED_PODS,
           nad("operator-net", SEED_BRIDGE,
               ownerReferences=owned_by("sriovnetwork.openshift.io/v1", "SriovNetwork", "x")),
           nad("other-ns", SEED_BRIDGE, namespace="team-b", labels={"adopt": "no"})]


def test_adopt_writes_the_stack_and_prints_what_became_of_each_nad(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, FakeKube(CLUSTER))
    assert main(["adopt", "--stack", "legacy", "-n", "default"]) == 0
    out = capsys.readouterr().out
    path = project / "stacks" / "Pulumi.legacy.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["config"]["netplumb:cluster"] == ["legacy-ctx", "https://10.0.0.1:6443"]
    spec = load_stack_file(path)
    assert [n.name for n in spec.networks] == sorted(
        o["metadata"]["name"] for o in SEED)
    assert spec.external_networks == ["default/operator-net"]
    # rendering the written stack gives back every live spec.config
    rendered = {m["metadata"]["name"]: json.loads(m["spec"]["config"])
                for m in nad_manifests(build_plan(spec))}
    for obj in SEED:
        live = json.loads(obj["spec"]["config"])
        got = rendered[obj["metadata"]["name"]]
        assert json.dumps(got) == json.dumps(live)
    assert "default/macvlan-conf" in out and "adopted as macvlan" in out
    assert "default/operator-net" in out and "referenced, not adopted" in out
    assert "SR-IOV network operator" in out
    assert "used by: Pod default/multi-network-pod (storage-net)" in out
    assert "advice" in out and "capabilities.ips" in out
    assert "wrote stacks/Pulumi.legacy.yaml" in out
    assert "team-b" not in out  # another namespace's NAD is not adopted


def test_adopt_refuses_to_overwrite_without_force(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = FakeKube(CLUSTER)
    use(monkeypatch, kube)
    path = project / "stacks" / "Pulumi.legacy.yaml"
    path.write_text("config: {}\n")
    assert main(["adopt", "--stack", "legacy"]) == 1
    assert "exists; --force overwrites it" in capsys.readouterr().err
    assert path.read_text() == "config: {}\n" and kube.calls == []  # the cluster not read
    assert main(["adopt", "--stack", "legacy", "--force"]) == 0
    assert "netplumb:spec" in path.read_text()


def test_adopt_with_a_spec_file_and_a_selector(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = [nad("picked", SEED_BRIDGE, labels={"adopt": "yes"}),
                nad("left", SEED_BRIDGE.replace("br0", "br1").replace("192.168.12", "10.1.1")),
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "p", "namespace": "default",
                              "annotations": {"k8s.v1.cni.cncf.io/networks": "picked,left"}},
                 "spec": {}}]
    kube = FakeKube(labelled)
    use(monkeypatch, kube)
    assert main(["adopt", "--stack", "big", "-l", "adopt=yes",
                 "--spec-file", "specs/big.yaml"]) == 0
    stack = project / "stacks" / "Pulumi.big.yaml"
    assert yaml.safe_load(stack.read_text())["config"][FILE_KEY] == "specs/big.yaml"
    spec = load_stack_file(stack)
    assert [n.name for n in spec.networks] == ["picked"]
    assert ("NetworkAttachmentDefinition", None, "adopt=yes") in kube.calls
    # `left` exists (the selector left it out): the pod selecting it is not called broken
    assert ("NetworkAttachmentDefinition", None, None) in kube.calls
    out = capsys.readouterr().out
    assert "used by: Pod default/p (net1)" in out
    assert "no network" not in out


def test_adopt_reads_users_per_namespace_where_it_may_not_read_all(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = FakeKube(CLUSTER, forbid_all=frozenset({"Pod", "Deployment"}))
    use(monkeypatch, kube)
    assert main(["adopt", "--stack", "legacy", "-n", "default", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Pods of other namespaces could not be read (403 Forbidden)" in out
    assert "used by: Pod default/multi-network-pod" in out
    assert ("Pod", "default", None) in kube.calls
    assert "# --- stacks/Pulumi.legacy.yaml" in out  # printed, not written
    assert not (project / "stacks" / "Pulumi.legacy.yaml").exists()


def test_adopt_json_and_nothing_found(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, FakeKube(CLUSTER))
    assert main(["adopt", "--stack", "j", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {a["network"] for a in doc["adopted"]} >= {"default/macvlan-conf", "team-b/other-ns"}
    assert doc["referenced"][0]["network"] == "default/operator-net"
    assert doc["written"] == ["stacks/Pulumi.j.yaml"]
    use(monkeypatch, FakeKube([]))
    assert main(["adopt", "--stack", "empty"]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert not (project / "stacks" / "Pulumi.empty.yaml").exists()


@pytest.mark.parametrize("name", ["../x", "Pulumi.x.yaml", "a/b"])
def test_adopt_takes_a_stack_name(project: Path, name: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adopt", "--stack", name]) == 2
    assert "takes a stack name" in capsys.readouterr().err


def test_owner_mark_of_the_same_stack_is_adopted(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = nad("again", SEED_BRIDGE, annotations={"netplumb.dev/owner": "legacyproj/legacy"})
    theirs = nad("theirs", SEED_BRIDGE.replace("br0", "br7").replace("192.168.12", "10.2.2"),
                 annotations={"netplumb.dev/owner": "legacyproj/other"})
    use(monkeypatch, FakeKube([ours, theirs]))
    assert main(["adopt", "--stack", "legacy"]) == 0
    spec = load_stack_file(project / "stacks" / "Pulumi.legacy.yaml")
    assert [n.name for n in spec.networks] == ["again"]
    assert spec.external_networks == ["default/theirs"]
