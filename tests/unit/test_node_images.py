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


@pytest.mark.parametrize("stack", ["dev", "prod"])
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


def test_dev_stack_runs_only_images_built_here() -> None:
    built = set(images.all_refs())
    assert {_normalise(r) for r in _rendered_images("dev")} <= built


def test_declarations_say_how_they_differ_from_upstream() -> None:
    declared, unbuildable = images.load()
    assert {"pause", "toolbox", "multus-thick", "flannel", "flannel-cni-plugin"} <= set(declared)
    for img in declared.values():
        assert img.upstream and img.differs, img.name
    assert any("sriov-network-device-plugin" in r for u in unbuildable for r in u.refs)


def test_a_wrong_declaration_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "images.toml"
    bad.write_text('[[image]]\nname = "x"\nrefs = ["a/b:1"]\n'
                   '[[image.file]]\nto = "/x"\ntool = "multus"\nhost = "/bin/true"\n')
    with pytest.raises(images.ImageError, match="exactly one of"):
        images.load(bad)
    bad.write_text('[[image]]\nname = "x"\nrefs = []\n')
    with pytest.raises(images.ImageError, match="no refs"):
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
