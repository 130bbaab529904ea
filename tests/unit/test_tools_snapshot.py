"""harness.tools: tools built from a third-party source snapshot (``[snapshot]``)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness import tools
from harness.paths import REPO_ROOT

MAIN_GO = """package main

import (
	"fmt"

	"example.test/dep"
)

func main() { fmt.Println(dep.Word) }
"""


def _tarball(path: Path, files: dict[str, str]) -> str:
    """A gzip'ed tarball of ``files`` (name -> text) at ``path``; return its sha256."""
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot_files() -> dict[str, str]:
    """A module whose one dependency is only in its vendor/ tree: it builds with -mod=vendor
    and nothing else (the dependency is served by no proxy)."""
    return {
        "snap/go.mod": "module example.test/snap\n\ngo 1.22\n\nrequire example.test/dep v1.0.0\n",
        "snap/cmd/hello/main.go": MAIN_GO,
        "snap/vendor/modules.txt": "# example.test/dep v1.0.0\n## explicit\nexample.test/dep\n",
        "snap/vendor/example.test/dep/dep.go": 'package dep\n\nconst Word = "vendored"\n',
        "snap/scripts/run.sh": "#!/bin/sh\necho run\n",
    }


def _tool(tmp_path: Path, sha: str, *, name: str = "snap") -> tools.Tool:
    d = tmp_path / "repo" / "tools" / name
    d.mkdir(parents=True)
    (d / "tool.toml").write_text(f"""
version = "v1"
[snapshot]
file = "snap-v1.tar.gz"
sha256 = "{sha}"
dir = "snap"
[[binary]]
package = "./cmd/hello"
output = "hello"
bin = false
[[extra]]
path = "scripts/run.sh"
output = "run.sh"
bin = false
""")
    return tools.load_tool(d)


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(third-party dir, tool cache), both empty, the repo root a scratch directory."""
    third, cache = tmp_path / "third_party", tmp_path / "cache"
    third.mkdir()
    monkeypatch.setenv(tools.THIRD_PARTY_ENV, str(third))
    monkeypatch.setenv("NETPLUMB_TOOLS_CACHE", str(cache))
    monkeypatch.setattr(tools, "REPO_ROOT", tmp_path / "repo")
    return third, cache


def test_third_party_dir_is_the_shared_one_beside_the_repo_unless_set(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(tools.THIRD_PARTY_ENV, raising=False)
    assert tools.third_party_dir() == REPO_ROOT.parent / "shared" / "third_party"
    monkeypatch.setenv(tools.THIRD_PARTY_ENV, str(tmp_path))
    assert tools.third_party_dir() == tmp_path


def test_absent_snapshot_makes_the_tool_unavailable_with_a_one_line_reason(
        dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third, _ = dirs
    tool = _tool(tmp_path, "0" * 64)
    reason = tools.unavailable("snap", {"snap": tool})
    assert reason is not None and "\n" not in reason
    assert "snap-v1.tar.gz" in reason and str(third) in reason
    assert tools.THIRD_PARTY_ENV in reason
    # a build of everything goes on without it; asking for it by name is an error
    monkeypatch.setattr(tools, "discover", lambda: {"snap": tool})
    tools.ensure()
    assert not (tools.build_dir(tool) / "hello").exists()
    with pytest.raises(tools.ToolError, match=r"snap-v1\.tar\.gz not found"):
        tools.ensure(["snap"])
    assert "unavailable: snap: source snapshot" in tools._status({"snap": tool})[0]


def test_a_tool_requiring_an_unavailable_one_is_unavailable(
        dirs: tuple[Path, Path], tmp_path: Path) -> None:
    tool = _tool(tmp_path, "0" * 64)
    d = tmp_path / "repo" / "tools" / "user"
    d.mkdir()
    (d / "go.mod").write_text("module netplumb.local/tools/user\n")
    (d / "tool.toml").write_text('requires = ["snap"]\n[[binary]]\npackage = "."\noutput = "u"\n')
    user = tools.load_tool(d)
    reason = tools.unavailable("user", {"snap": tool, "user": user})
    assert reason is not None and reason.startswith("user requires snap: source snapshot")


def test_a_tarball_not_matching_the_pinned_sha256_is_refused(
        dirs: tuple[Path, Path], tmp_path: Path) -> None:
    third, cache = dirs
    real = _tarball(third / "snap-v1.tar.gz", _snapshot_files())
    tool = _tool(tmp_path, "f" * 64)
    assert tools.unavailable("snap", {"snap": tool}) is None  # present: a build will check it
    with pytest.raises(tools.ToolError, match=f"has sha256 {real} but tool.toml pins f+: "
                                              "refusing it"):
        tools.extract_snapshot(tool)
    assert not (cache / "src").exists() or not any((cache / "src").iterdir())


def test_snapshot_is_extracted_into_the_cache_and_built_there_with_its_vendor_tree(
        dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    third, cache = dirs
    sha = _tarball(third / "snap-v1.tar.gz", _snapshot_files())
    tool = _tool(tmp_path, sha)
    module = tools.extract_snapshot(tool)
    assert module == cache.resolve() / "src" / f"snap-{sha[:16]}" / "snap"
    assert (module / "go.mod").is_file() and (module / "vendor" / "modules.txt").is_file()
    assert not module.is_relative_to(tmp_path / "repo")
    assert tools.extract_snapshot(tool) == module  # once
    monkeypatch.setattr(tools, "discover", lambda: {"snap": tool})
    tools.ensure(["snap"])
    out = tools.build_dir(tool)
    run = subprocess.run([str(out / "hello")], capture_output=True, text=True, check=True)
    assert run.stdout == "vendored\n"
    assert (out / "run.sh").read_text() == "#!/bin/sh\necho run\n"
    # the build stays available when the snapshot goes away; gc keeps the extracted source
    (third / "snap-v1.tar.gz").unlink()
    assert tools.unavailable("snap", {"snap": tool}) is None
    assert module.parent not in tools.gc()


@pytest.mark.parametrize(("body", "error"), [
    ('[snapshot]\nfile = "a/b.tar.gz"\nsha256 = "' + "0" * 64 + '"\n', "file name"),
    ('[snapshot]\nfile = "b.tar.gz"\nsha256 = "abc"\n', "64 lowercase hex"),
    ('[snapshot]\nfile = "b.tar.gz"\nsha256 = "' + "0" * 64 + '"\ndir = "../x"\n', "relative"),
    ('[snapshot]\nfile = "b.tar.gz"\nsha256 = "' + "0" * 64 + '"\nurl = "x"\n', "keys"),
])
def test_wrong_snapshot_tables_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           body: str, error: str) -> None:
    monkeypatch.setattr(tools, "REPO_ROOT", tmp_path)
    d = tmp_path / "tools" / "t"
    d.mkdir(parents=True)
    (d / "tool.toml").write_text(body + '[[binary]]\npackage = "./x"\noutput = "x"\n')
    with pytest.raises(tools.ToolError, match=error):
        tools.load_tool(d)


def test_a_snapshot_tool_has_no_wrapper_module(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "REPO_ROOT", tmp_path / "repo")
    tool = _tool(tmp_path, "0" * 64)
    (tool.dir / "go.mod").write_text("module netplumb.local/tools/snap\n")
    with pytest.raises(tools.ToolError, match=r"snapshot's own go\.mod"):
        tools.load_tool(tool.dir)


def test_the_repo_snapshot_tools_pin_the_shared_snapshots() -> None:
    """multi-networkpolicy-iptables and the SR-IOV device plugin come from snapshots; where
    the third-party README is here, its sums are the ones pinned."""
    found = tools.discover()
    snaps = {n: t.snapshot for n, t in found.items() if t.snapshot is not None}
    assert set(snaps) == {"multi-networkpolicy-iptables", "sriov-network-device-plugin"}
    assert found["kube-router"].snapshot is None
    readme = tools.third_party_dir() / "README.md"
    if not readme.is_file():
        pytest.skip(f"{readme} is absent")
    sums = {line.split()[1]: line.split()[0] for line in readme.read_text().splitlines()
            if len(line.split()) == 2 and len(line.split()[0]) == 64}
    for snap in snaps.values():
        assert snap is not None and sums[snap.file] == snap.sha256
