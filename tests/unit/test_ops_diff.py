"""``netplumb diff``: per-object, per-field changes between two git revisions of a stack.

The revisions live in a temporary git repository made by the test (a Pulumi project with a
stack file, and a spec file for the ``netplumb:specFile`` case); the CLI is run in it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netplumb.cli.main import main
from netplumb.ops.diff import MISSING, FieldChange, diff_objects, diff_values, format_key

STACK = """\
config:
  netplumb:spec:
    networks:
      - name: storage
        type: macvlan
        master: ens2f0
        mode: bridge
        mtu: 1500
        ipam: {type: host-local, subnet: 192.0.2.0/24, rangeStart: 192.0.2.100}
      - name: mgmt
        type: bridge
        bridge: br-mgmt
        ipam: {type: host-local, subnet: 198.51.100.0/24}
    pods:
      - name: app
        networks: [{name: storage, interface: net1}]
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "dev")
    (root / "Pulumi.yaml").write_text("name: netplumb\nruntime: python\n"
                                      "stackConfigDir: stacks\n")
    (root / "stacks" / "Pulumi.dev.yaml").write_text(STACK)
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    monkeypatch.chdir(root)
    yield root


def _commit(repo: Path, text: str, message: str, name: str = "stacks/Pulumi.dev.yaml") -> None:
    (repo / name).write_text(text)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", message)


def _diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["diff", "dev", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_mtu_change_prints_exactly_that_object_and_field(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, STACK.replace("mtu: 1500", "mtu: 9000"), "jumbo frames")
    code, out = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert code == 0
    lines = out.splitlines()
    assert lines[1:] == ["~ NetworkAttachmentDefinition default/storage",
                         "    spec.config.mtu: 1500 -> 9000",
                         "1 changed, 0 added, 0 removed"]
    code, _ = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD", "--exit-code")
    assert code == 1
    code, out = _diff(capsys, "--base", "HEAD", "--exit-code")  # working tree: unchanged
    assert code == 0 and out.splitlines()[-1] == "no changes"


def test_added_pod_prints_exactly_that_object(repo: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, STACK + "      - name: backup\n"
                          "        networks: [{name: mgmt, interface: net1}]\n", "add backup")
    code, out = _diff(capsys, "--base", "main~1", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert [(o["change"], o["kind"], o["namespace"], o["name"]) for o in doc["objects"]] == [
        ("added", "Pod", "default", "backup")]
    manifest = doc["objects"][0]["manifest"]
    assert json.loads(manifest["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "mgmt", "interface": "net1"}]
    _, text = _diff(capsys, "--base", "main~1")
    headers = [line for line in text.splitlines() if line[:2] in ("+ ", "- ", "~ ")]
    assert headers == ["+ Pod default/backup"]


def test_working_tree_against_a_ref_and_removed_objects(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    without_mgmt = STACK.replace(
        "      - name: mgmt\n        type: bridge\n        bridge: br-mgmt\n"
        "        ipam: {type: host-local, subnet: 198.51.100.0/24}\n", "")
    (repo / "stacks" / "Pulumi.dev.yaml").write_text(without_mgmt)
    code, out = _diff(capsys, "--base", "main", "--no-manifests", "--exit-code")
    assert code == 1
    assert out.splitlines()[1:] == ["- NetworkAttachmentDefinition default/mgmt",
                                    "0 changed, 0 added, 1 removed"]
    assert "main (" in out.splitlines()[0] and "-> working tree" in out.splitlines()[0]


def test_cni_config_compared_by_key_path_in_markdown(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, STACK.replace("rangeStart: 192.0.2.100",
                                "rangeStart: 192.0.2.100, rangeEnd: 192.0.2.199"), "end")
    code, out = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ~")]
    assert rows == ["| ~ | <code>NetworkAttachmentDefinition default/storage</code> | "
                    "<code>spec.config.ipam.rangeEnd</code> | *(absent)* | "
                    "<code>&quot;192.0.2.199&quot;</code> |"]
    assert "this checkout's netplumb" in out


def test_spec_file_is_read_at_each_revision(repo: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = STACK.split("netplumb:spec:\n", 1)[1]
    spec = "\n".join(line[4:] for line in spec.splitlines()) + "\n"
    (repo / "specs").mkdir()
    (repo / "specs" / "team.yaml").write_text(spec)
    _commit(repo, "config:\n  netplumb:specFile: specs/team.yaml\n", "spec in a file")
    _commit(repo, spec.replace("mtu: 1500", "mtu: 4000"), "mtu", name="specs/team.yaml")
    code, out = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert code == 0
    assert out.splitlines()[1:] == ["~ NetworkAttachmentDefinition default/storage",
                                    "    spec.config.mtu: 1500 -> 4000",
                                    "1 changed, 0 added, 0 removed"]
    # moving the spec into a file changes nothing that deploys
    code, out = _diff(capsys, "--base", "HEAD~2", "--head", "HEAD~1", "--exit-code")
    assert code == 0 and out.splitlines()[-1] == "no changes"


def test_stack_new_at_head_and_bad_revisions(repo: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _commit(repo, STACK, "prod", name="stacks/Pulumi.prod.yaml")
    code = main(["diff", "prod", "--base", "HEAD~1", "--head", "HEAD", "--no-manifests"])
    out = capsys.readouterr().out
    assert code == 0
    assert "the stack file does not exist here" in out.splitlines()[0]
    assert out.splitlines()[-1] == "0 changed, 3 added, 0 removed"
    code, out = _diff(capsys, "--base", "no-such-ref")
    assert code == 2 and "unknown revision 'no-such-ref'" in out
    _commit(repo, STACK.replace("mtu: 1500", "mtu: -1"), "broken")
    code, out = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert code == 2
    assert "at HEAD: the plan fails" in out and "networks[0].mtu" in out


def test_field_paths_and_embedded_json() -> None:
    assert format_key("metadata.annotations", "k8s.v1.cni.cncf.io/networks") == \
        'metadata.annotations["k8s.v1.cni.cncf.io/networks"]'
    assert format_key("", "spec") == "spec"
    base = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y"}],
                     "config": json.dumps({"ipam": {"ranges": [[{"rangeEnd": "192.0.2.9"}]]}})}}
    head = {"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x:2"}],
                     "config": json.dumps({"ipam": {"ranges": [[{"rangeEnd": "192.0.2.19"}]]}},
                                          indent=2)}}
    assert diff_values(base, head) == [
        FieldChange("spec.containers[name=a].image", "x:1", "x:2"),
        FieldChange("spec.config.ipam.ranges[0][0].rangeEnd", "192.0.2.9", "192.0.2.19")]
    # the same JSON written differently is still a change of the text
    same = json.dumps({"a": 1})
    assert diff_values({"c": same}, {"c": json.dumps({"a": 1}, indent=2)})[0].path == "c"
    # invalid JSON on one side: compared as text
    assert diff_values({"c": "{"}, {"c": same}) == [FieldChange("c", "{", same)]
    assert diff_values([1, 2], [1]) == [FieldChange("[1]", 2, MISSING)]


def test_objects_keyed_by_group_kind_namespace_name() -> None:
    a = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"}}
    b = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "y"}}
    changes = diff_objects([a], [b])
    assert [(c.kind, str(c.key)) for c in changes] == [("added", "Pod y/p"),
                                                      ("removed", "Pod x/p")]
