"""The node's image declarations against what the stacks render, and the image tool."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness import tools
from harness.node import images
from harness.paths import REPO_ROOT
from netplumb.args.images import (
    KUBE_ROUTER_IMAGE,
    MULTI_NETWORKPOLICY_IMAGE,
    NETPLUMB_NODE_IMAGE,
    NETPLUMB_NODE_VERSION,
    SRIOV_DEVICE_PLUGIN_IMAGE,
    WHEREABOUTS_IMAGE,
)
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan, render_plan


def _rendered_images(stack: str) -> set[str]:
    objects = render_plan(build_plan(load_stack_file(REPO_ROOT / f"stacks/Pulumi.{stack}.yaml")))
    out: set[str] = set()
    for obj in objects:
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or spec
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            out.add(c["image"])
    return out


def _normalise(ref: str) -> str:
    """A reference as containerd names it (``busybox:1.36`` -> docker.io/library/...)."""
    first = ref.split("/")[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


@pytest.mark.parametrize("stack", ["platform", "dev", "prod"])
def test_every_rendered_image_is_built_here_or_declared_unbuildable(stack: str) -> None:
    built = set(images.all_refs())
    _, unbuildable = images.load()
    not_built = {ref: u.reason for u in unbuildable for ref in u.refs}
    rendered = {_normalise(r) for r in _rendered_images(stack)}
    missing = sorted(r for r in rendered if r not in built and r not in not_built)
    if stack == "prod":  # its workloads' images are the user's, not the platform's
        missing = [r for r in missing if "postgres" not in r and "registry.example.com" not in r]
    assert missing == []
    assert not (built & set(not_built))


@pytest.mark.parametrize("stack", ["platform", "dev"])
def test_embedded_stacks_run_only_images_built_here(stack: str) -> None:
    built = set(images.all_refs())
    assert {_normalise(r) for r in _rendered_images(stack)} <= built


def test_node_plugin_and_whereabouts_images_are_the_rendered_references() -> None:
    """The references and the stamped version are netplumb's pins, and the node plugin image
    holds exactly node/README.md's layout (every bundled plugin, the shim, the manifest)."""
    declared, _ = images.load()
    node = declared["netplumb-node"]
    assert node.refs == (NETPLUMB_NODE_IMAGE,)
    assert node.entrypoint == ("/usr/local/bin/netplumb-node",)
    (binary,) = [f for f in node.files if f.to == "/usr/local/bin/netplumb-node"]
    assert binary.go == "node/cmd/netplumb-node"
    assert binary.ldflags == (
        f"-X netplumb.dev/node/internal/buildinfo.Version={NETPLUMB_NODE_VERSION}",)
    readme = (REPO_ROOT / "node/README.md").read_text()
    layout = readme.split("## Image layout", 1)[1].split("```")[1]
    listed = {line.split()[0] for line in layout.splitlines() if line.startswith("/")}
    assert {f.to for f in node.files} == listed
    assert [f.to for f in node.files if f.sums] == ["/opt/netplumb/plugins/SHA256SUMS"]
    assert declared["whereabouts"].refs == (WHEREABOUTS_IMAGE,)
    wb_files = {f.to: f for f in declared["whereabouts"].files}
    for path in ("/whereabouts", "/ip-control-loop", "/node-slice-controller",
                 "/install-cni.sh", "/lib.sh", "/token-watcher.sh"):
        assert wb_files[path].tool == "whereabouts", path


def test_image_sums_and_go_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sums entry lists the other files of its directory as sha256sum does; a `go` entry is
    built from this repository's sources once, and again when they change."""
    monkeypatch.setenv("NETPLUMB_TOOLS_CACHE", str(tmp_path / "cache"))
    module = tmp_path / "repo" / "mod"
    (module / "cmd" / "hello").mkdir(parents=True)
    (module / "go.mod").write_text("module example.test/mod\n\ngo 1.22\n")
    main = module / "cmd" / "hello" / "main.go"
    main.write_text('package main\n\nvar Word = "x"\n\nfunc main() { println(Word) }\n')
    monkeypatch.setattr(images, "REPO_ROOT", tmp_path / "repo")
    binary, key = images.build_go("mod/cmd/hello", ["-X main.Word=hi"])
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=True)
    assert out.stderr == "hi\n"
    assert images.build_go("mod/cmd/hello", ["-X main.Word=hi"]) == (binary, key)
    main.write_text(main.read_text() + "\n// changed\n")
    assert images.build_go("mod/cmd/hello", ["-X main.Word=hi"])[1] != key
    with pytest.raises(images.ImageError, match="no such package"):
        images.build_go("mod/cmd/absent")

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"a\n")
    b.write_bytes(b"")
    text = images._sha256sums(
        [{"path": "/p/b", "type": "file", "source": str(b)},
         {"path": "/p/a", "type": "file", "source": str(a)},
         {"path": "/q/a", "type": "file", "source": str(a)},
         {"path": "/p/SHA256SUMS", "type": "file", "source": str(a)}], "/p", "/p/SHA256SUMS")
    assert text == (
        "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  a\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b\n")


def test_declarations_say_how_they_differ_from_upstream() -> None:
    declared, unbuildable = images.load()
    assert {"pause", "toolbox", "multus-thick", "flannel", "flannel-cni-plugin"} <= set(declared)
    for img in declared.values():
        assert img.upstream and img.differs, img.name
    assert any("sriov-cni" in r for u in unbuildable for r in u.refs)


def test_every_image_file_names_a_tool_output_that_exists() -> None:
    declared, _ = images.load()
    found = tools.discover()
    for img in declared.values():
        for f in img.files:
            if f.tool is not None:
                assert f.output in found[f.tool].outputs, (img.name, f.tool, f.output)


def test_firewall_and_sriov_images_are_declared_with_their_references() -> None:
    """kube-router (its firewall) with iptables-nft and ipset; multi-networkpolicy-iptables
    under a tag naming the snapshot's commit; the SR-IOV device plugin under the reference the
    prod stack renders, with upstream's entrypoint script from the same snapshot."""
    declared, unbuildable = images.load()
    found = tools.discover()
    kr = declared["kube-router"]
    assert kr.refs == ("docker.io/cloudnativelabs/kube-router:v2.1.0",) == (KUBE_ROUTER_IMAGE,)
    assert kr.entrypoint == ("/usr/local/bin/kube-router",)
    files = {f.to: f for f in kr.files}
    assert (files["/usr/local/bin/kube-router"].tool, found["kube-router"].version) == (
        "kube-router", "v2.1.0")
    assert files["/usr/sbin/ipset"].deb == "ipset" and files["/usr/sbin/ipset"].libs
    assert files["/usr/sbin/xtables-nft-multi"].libs
    assert any(f.glob == "*.so" and f.deb == "iptables" for f in kr.files)
    for name in ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save",
                 "ip6tables-restore"):
        assert kr.links[f"/usr/sbin/{name}"] == "xtables-nft-multi"

    mnp = declared["multi-networkpolicy-iptables"]
    snap = found["multi-networkpolicy-iptables"].snapshot
    assert snap is not None
    (ref,) = mnp.refs
    assert ref == MULTI_NETWORKPOLICY_IMAGE
    assert ref.startswith("ghcr.io/k8snetworkplumbingwg/multi-networkpolicy-iptables:snapshot-")
    assert found["multi-networkpolicy-iptables"].version.startswith(ref.rsplit("-", 1)[1])
    assert snap.file.startswith(f"multi-networkpolicy-iptables-{ref.rsplit('-', 1)[1]}")
    assert (mnp.entrypoint, mnp.workdir) == (("multi-networkpolicy-iptables",), "/usr/bin")
    assert {f.to for f in mnp.files} >= {"/usr/bin/multi-networkpolicy-iptables",
                                         "/usr/sbin/xtables-nft-multi"}
    assert mnp.links["/usr/sbin/iptables-restore"] == "xtables-nft-multi"

    dp = declared["sriov-network-device-plugin"]
    assert dp.refs == (SRIOV_DEVICE_PLUGIN_IMAGE,)
    assert dp.entrypoint == ("/entrypoint.sh",)
    dp_files = {f.to: f for f in dp.files}
    assert dp_files["/usr/bin/sriovdp"].tool == "sriov-network-device-plugin"
    assert dp_files["/entrypoint.sh"].output == "sriovdp-entrypoint.sh"
    assert dp.applets is not None and dp_files["/bin/busybox"].deb == "busybox-static"
    assert "no_openssl" in found["sriov-network-device-plugin"].binaries[0].tags
    assert SRIOV_DEVICE_PLUGIN_IMAGE not in {r for u in unbuildable for r in u.refs}


def test_images_of_absent_snapshots_are_unavailable_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(tools.THIRD_PARTY_ENV, str(tmp_path / "none"))
    monkeypatch.setenv("NETPLUMB_TOOLS_CACHE", str(tmp_path / "cache"))
    reason = images.unavailable("multi-networkpolicy-iptables")
    assert reason is not None and "\n" not in reason
    assert "multi-networkpolicy-iptables-cbf2b11730b9.tar.gz not found" in reason
    assert images.unavailable(SRIOV_DEVICE_PLUGIN_IMAGE) == images.unavailable(
        "sriov-network-device-plugin")
    assert not images.available(SRIOV_DEVICE_PLUGIN_IMAGE)
    assert images.available("kube-router")
    assert images.available("cloudnativelabs/kube-router:v2.1.0")
    assert "not served" in (images.unavailable("ghcr.io/k8snetworkplumbingwg/sriov-cni:v2.10.0")
                            or "")
    with pytest.raises(images.ImageError, match="no image is declared"):
        images.unavailable("example.com/nothing:1")
    # a named build refuses; a build of everything skips them, saying why
    with pytest.raises(images.ImageError, match=r"tar\.gz not found"):
        images.build(["sriov-network-device-plugin"])
    declared, unbuildable = images.load()
    snapshot_images = {n: declared[n] for n in ("multi-networkpolicy-iptables",
                                                "sriov-network-device-plugin")}
    asked: list[list[str]] = []

    def ensure(names: list[str]) -> Path:
        asked.append(names)
        return tmp_path

    monkeypatch.setattr(images, "load", lambda: (snapshot_images, unbuildable))
    monkeypatch.setattr(tools, "ensure", ensure)
    said: list[str] = []
    assert images.build(say=said.append) == {}
    assert asked == [["imagetool"]]
    assert [m.split(" needs")[0] for m in said] == ["skipping image multi-networkpolicy-iptables",
                                                    "skipping image sriov-network-device-plugin"]
    monkeypatch.undo()
    monkeypatch.setenv(tools.THIRD_PARTY_ENV, str(tmp_path / "none"))
    monkeypatch.setenv("NETPLUMB_TOOLS_CACHE", str(tmp_path / "cache"))
    assert images.main(["list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "not built here" not in listed["kube-router"]
    assert "(not built here: image sriov-network-device-plugin needs tool" in listed[
        "sriov-network-device-plugin"]
    assert SRIOV_DEVICE_PLUGIN_IMAGE in listed["sriov-network-device-plugin"]


def test_a_wrong_declaration_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "images.toml"
    bad.write_text('[[image]]\nname = "x"\nrefs = ["a/b:1"]\n'
                   '[[image.file]]\nto = "/x"\ntool = "multus"\nhost = "/bin/true"\n')
    with pytest.raises(images.ImageError, match="exactly one of"):
        images.load(bad)
    bad.write_text('[[image]]\nname = "x"\nrefs = []\n')
    with pytest.raises(images.ImageError, match="no refs"):
        images.load(bad)
    bad.write_text('[[image]]\nname = "x"\nrefs = ["a/b:1"]\n'
                   '[[image.file]]\nto = "/x"\nhost = "/bin/true"\nldflags = ["-X a=b"]\n')
    with pytest.raises(images.ImageError, match="ldflags belong to a `go` build"):
        images.load(bad)
    bad.write_text('[[image]]\nname = "x"\nrefs = ["a/b:1"]\n'
                   '[[image.file]]\nto = "/x"\ngo = "node/cmd/x"\nsums = true\n')
    with pytest.raises(images.ImageError, match="exactly one of"):
        images.load(bad)


def test_image_tool_is_deterministic_and_writes_what_was_asked(tmp_path: Path) -> None:
    tool = tools.build_dir(tools.discover()["imagetool"]) / "imagetool"
    if not tool.exists():
        pytest.skip("the image tool is not built (make tools)")
    payload = tmp_path / "hello"
    payload.write_text("hello\n")
    spec = {"refs": ["netplumb.local/unit:1"], "entrypoint": ["/bin/hello"],
            "entries": [{"path": "/bin/hello", "type": "file", "source": str(payload),
                         "mode": 0o755},
                        {"path": "/usr/bin/hi", "type": "symlink", "target": "/bin/hello"}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    digests = []
    for name in ("a.tar", "b.tar"):
        out = subprocess.run([str(tool), "build", "-spec", str(tmp_path / "spec.json"), "-out",
                              str(tmp_path / name)], capture_output=True, text=True, check=True)
        digests.append(json.loads(out.stdout)["config"])
    assert digests[0] == digests[1]
    with tarfile.open(tmp_path / "a.tar") as t:
        manifest = json.load(t.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["netplumb.local/unit:1"]
        config = json.load(t.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        assert config["config"]["Entrypoint"] == ["/bin/hello"]
        layer = t.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=layer, mode="r:gz") as lt:
            names = {m.name: m for m in lt.getmembers()}
    assert set(names) == {"bin", "bin/hello", "usr", "usr/bin", "usr/bin/hi"}
    assert names["bin/hello"].mode == 0o755 and names["bin/hello"].mtime == 0
    assert names["usr/bin/hi"].issym() and names["usr/bin/hi"].linkname == "/bin/hello"
