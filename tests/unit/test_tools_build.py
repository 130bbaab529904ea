"""harness.tools: tool.toml [defaults], and binaries grouped into one ``go build``."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import tools


def _tool(tmp_path: Path, body: str) -> tools.Tool:
    d = tmp_path / "tools" / "t"
    d.mkdir(parents=True)
    (d / "go.mod").write_text("module netplumb.local/tools/t\n")
    (d / "tool.toml").write_text(body)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(tools, "REPO_ROOT", tmp_path)
    try:
        return tools.load_tool(d)
    finally:
        monkey.undo()


def test_defaults_apply_to_every_binary_unless_it_sets_its_own(tmp_path: Path) -> None:
    tool = _tool(tmp_path, """
[defaults]
tags = ["a"]
ldflags = ["-X x.y=1"]
bin = false
[[binary]]
package = "example.com/m/cmd/one"
output = "one"
[[binary]]
package = "example.com/m/cmd/two"
output = "two"
tags = ["a", "b"]
""")
    one, two = tool.binaries
    assert (one.tags, one.ldflags, one.bin) == (("a",), ("-X x.y=1",), False)
    assert (two.tags, two.ldflags) == (("a", "b"), ("-X x.y=1",))
    assert [[b.output for b in g] for g in tools._build_groups(tool.binaries)] == [["one"],
                                                                                   ["two"]]


def test_unknown_defaults_are_refused(tmp_path: Path) -> None:
    with pytest.raises(tools.ToolError, match=r"\[defaults\]"):
        _tool(tmp_path, '[defaults]\npackage = "x"\n[[binary]]\npackage = "p"\noutput = "o"\n')


def test_binaries_sharing_flags_are_one_group_in_order() -> None:
    b = tools.Binary
    group = tools._build_groups([b("p/a", "a", ("-X 1",)), b("p/b", "b"), b("p/c", "c", ("-X 1",)),
                                 b("p/d", "d", cgo=True)])
    assert [[x.output for x in g] for g in group] == [["a", "c"], ["b"], ["d"]]


@pytest.mark.parametrize(("package", "name"), [
    ("github.com/containerd/containerd/v2/cmd/ctr", "ctr"),
    ("go.etcd.io/etcd/server/v3", "server"),
    ("github.com/opencontainers/runc", "runc"),
    ("gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/passthru-cni", "passthru-cni"),
    (".", "imagetool"),
    ("./cmd/x", "x"),
    ("example.com/m/v1", "v1"),
])
def test_exec_name_follows_go_build(package: str, name: str) -> None:
    assert tools._exec_name(package, "netplumb.local/tools/imagetool") == name


def test_every_tool_of_the_repo_loads() -> None:
    found = tools.discover()
    assert {"containerd", "runc", "cri-tools", "flannel", "flannel-cni-plugin", "imagetool",
            "pause", "kubernetes", "multus"} <= set(found)
    k8s = found["kubernetes"]
    assert {"kubelet", "kube-proxy", "kubectl", "kube-apiserver"} <= set(k8s.outputs)
    assert len(tools._build_groups(k8s.binaries)) == 1
    assert found["runc"].binaries[0].cgo and "seccomp" in found["runc"].binaries[0].tags
