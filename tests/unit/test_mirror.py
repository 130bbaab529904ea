"""Images a stack needs, and the same manifests pulling from a mirror registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netplumb.args.stack import load_stack_file
from netplumb.cli.main import main
from netplumb.plan import build_plan, render_plan
from netplumb.render.mirror import full_reference, images, mirrored, with_mirror

REPO = Path(__file__).resolve().parents[2]
MIRROR = "registry.example.com/netplumb"


@pytest.mark.parametrize(("ref", "full", "moved"), [
    ("busybox:1.36", "docker.io/library/busybox:1.36", f"{MIRROR}/library/busybox:1.36"),
    ("docker.io/busybox:1.36", "docker.io/library/busybox:1.36",
     f"{MIRROR}/library/busybox:1.36"),
    ("index.docker.io/bitnami/kubectl:1.30", "docker.io/bitnami/kubectl:1.30",
     f"{MIRROR}/bitnami/kubectl:1.30"),
    ("ghcr.io/flannel-io/flannel:v0.28.10", "ghcr.io/flannel-io/flannel:v0.28.10",
     f"{MIRROR}/flannel-io/flannel:v0.28.10"),
    ("localhost:5000/team/app@sha256:" + "a" * 64, "localhost:5000/team/app@sha256:" + "a" * 64,
     f"{MIRROR}/team/app@sha256:" + "a" * 64),
])
def test_references_are_spelled_out_and_keep_their_path_under_the_mirror(
        ref: str, full: str, moved: str) -> None:
    assert full_reference(ref) == full
    assert mirrored(ref, MIRROR + "/") == moved


def _every_stack() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in ("platform", "dev", "prod"):
        out += render_plan(build_plan(load_stack_file(REPO / "stacks" / f"Pulumi.{name}.yaml")))
    return out


def test_every_container_image_is_listed_and_a_mirror_leaves_no_other_registry() -> None:
    objects = _every_stack()
    listed = images(objects)
    pod_specs = [o["spec"]["template"]["spec"] if "template" in o.get("spec", {})
                 else o["spec"] for o in objects if o["kind"] in (
                     "Pod", "DaemonSet", "Deployment", "StatefulSet")]
    raw = {c["image"] for p in pod_specs for k in ("containers", "initContainers")
           for c in p.get(k) or []}
    assert {full_reference(r) for r in raw} == set(listed)
    assert "ghcr.io/netplumb/netplumb-node:v0.1.0" in listed
    moved = [with_mirror(o, MIRROR) for o in objects]
    assert images(moved) and all(i.startswith(MIRROR + "/") for i in images(moved))
    assert objects == _every_stack(), "with_mirror changed its input"
    assert [with_mirror(o, None) for o in objects] == objects


def test_the_images_command_lists_and_maps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stacks-dir", str(REPO / "stacks"), "images", "platform"]) == 0
    plain = capsys.readouterr().out.split()
    assert plain == images(render_plan(build_plan(load_stack_file(
        REPO / "stacks" / "Pulumi.platform.yaml"))))
    assert main(["--stacks-dir", str(REPO / "stacks"), "images", "platform",
                 "--mirror", MIRROR]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == plain
    assert all(r[1] == mirrored(r[0], MIRROR) for r in rows)
    assert main(["--stacks-dir", str(REPO / "stacks"), "images", "platform",
                 "--mirror", "https://bad mirror"]) == 2
    assert "--mirror" in capsys.readouterr().err


def test_the_mirror_setting_renders_every_image_from_the_mirror(tmp_path: Path) -> None:
    import yaml

    from netplumb.args.stack import load_stack_document

    doc = yaml.safe_load((REPO / "stacks" / "Pulumi.platform.yaml").read_text())
    doc["config"]["netplumb:spec"]["images"] = {"mirror": MIRROR}
    spec = load_stack_document(doc, REPO)
    objects = render_plan(build_plan(spec))
    found = images(objects)
    assert found and all(i.startswith(MIRROR + "/") for i in found), found
    plain = images(render_plan(build_plan(load_stack_file(
        REPO / "stacks" / "Pulumi.platform.yaml"))))
    assert found == sorted(mirrored(i, MIRROR) for i in plain)


@pytest.mark.parametrize("bad", ["https://registry.example.com", "Registry.Example.com",
                                 "registry.example.com/Net plumb"])
def test_a_mirror_that_is_not_a_registry_prefix_is_a_plan_error(bad: str) -> None:
    from netplumb import PlanError
    from netplumb.args.stack import StackSpec

    with pytest.raises(PlanError) as err:
        StackSpec.parse({"images": {"mirror": bad}})
    assert err.value.path == "images.mirror"


def test_the_mirror_setting_reaches_every_registered_pod_template() -> None:
    from netplumb.args.stack import StackSpec
    from netplumb.components.stack import NetplumbStack

    from .pulumi_mocks import run_program

    spec = StackSpec.parse({
        "multus": {"default_network": "flannel"},
        "networks": [{"name": "n", "type": "bridge", "bridge": "br0",
                      "ipam": {"type": "host-local", "subnet": "192.0.2.0/24"}}],
        "pods": [{"name": "p", "networks": [{"name": "n"}]}],
        "workloads": [{"name": "w", "image": "busybox:1.36", "networks": [{"name": "n"}]}],
        "images": {"mirror": MIRROR}})
    mocks = run_program(lambda: NetplumbStack("m", spec))
    seen: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("image"), str):
                seen.append(value["image"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for r in mocks.registered:
        walk(r.inputs)
    assert seen and all(i.startswith(MIRROR + "/") for i in seen), seen
