"""The README's snippets, taken from README.md itself and run.

A runnable snippet is a fenced block right after a ``<!-- snippet: NAME -->`` line:

* ``stack`` (YAML): a stack file. It validates (``load_stack_document``), plans without a
  finding (``build_plan``), passes ``netplumb check`` as the README runs it, and renders the
  network and the pod it declares.
* ``program`` (Python): a Pulumi program, run under mocks. It registers the NAD and the pod,
  the pod waits for the network (``depends_on``), and it exports every output of both
  components, with the values the README's comments give.

Tracebacks point at README.md's own lines. The README's Pulumi YAML program is run by
``tests/unit/test_hosted_components.py``; every other fenced YAML or Python block is marked.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from netplumb import MacvlanNetwork, MultiHomedPod
from netplumb.args.stack import cluster_binding, load_stack_document
from netplumb.cli.main import main as netplumb_main
from netplumb.plan import build_plan, render_plan

from .pulumi_mocks import run_program

README = Path(__file__).parents[2] / "README.md"
NAD = "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"
POD = "kubernetes:core/v1:Pod"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
MARK = re.compile(r"<!-- snippet: ([\w-]+) -->\n\Z")


def snippets() -> dict[str, tuple[str, str, int]]:
    """name → (language, text, line of its first line in README.md) of every marked block."""
    text = README.read_text()
    found: dict[str, tuple[str, str, int]] = {}
    for m in FENCE.finditer(text):
        mark = MARK.search(text, 0, m.start())
        if mark is None:
            continue
        assert mark.group(1) not in found, f"two README snippets named {mark.group(1)!r}"
        found[mark.group(1)] = (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2)
    return found


def snippet(name: str, lang: str) -> tuple[str, int]:
    found = snippets()
    assert name in found, f"README.md has no block marked <!-- snippet: {name} -->"
    got, text, line = found[name]
    assert got == lang, f"README snippet {name!r} is {got}, expected {lang}"
    return text, line


def test_every_yaml_and_python_block_is_run() -> None:
    text = README.read_text()
    marked = {found[1] for found in snippets().values()}
    unrun = [body for lang, body in FENCE.findall(text)
             if lang in ("yaml", "python") and body not in marked
             and "runtime: yaml" not in body]  # test_hosted_components runs that one
    assert unrun == []
    assert {"stack", "program"} <= set(snippets())


# --------------------------------------------------------------------------- the stack file


def test_the_stack_file_plans_without_a_finding() -> None:
    text, _ = snippet("stack", "yaml")
    doc = yaml.safe_load(text)
    plan = build_plan(load_stack_document(doc, README.parent))
    assert plan.findings == [] and plan.warnings == []
    assert [(net.name, net.namespace) for net, _ in plan.networks] == [("storage", "default")]
    assert [name for name, _ in plan.pods] == ["app"]
    assert cluster_binding(doc["config"].get("netplumb:cluster")), "no netplumb:cluster binding"
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_plan(plan)}
    nad = objects[("NetworkAttachmentDefinition", "storage")]
    assert json.loads(nad["spec"]["config"])["type"] == "macvlan"
    pod = objects[("Pod", "app")]
    assert json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "storage", "interface": "net1"}]


def test_netplumb_check_passes_the_stack_file(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """As the README runs it: ``netplumb check lab`` with the file as stacks/Pulumi.lab.yaml."""
    text, _ = snippet("stack", "yaml")
    readme = README.read_text()
    m = re.search(r"netplumb check (\w+)", readme)
    assert m is not None, "the README runs no `netplumb check <stack>`"
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / f"Pulumi.{m.group(1)}.yaml").write_text(text)
    code = netplumb_main(["--stacks-dir", str(stacks), "check", m.group(1)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "ok: 1 networks, 1 pods, 0 warnings" in out.out


# --------------------------------------------------------------------------- the program


def _outputs(cls: type) -> set[str]:
    """The attributes a component class annotates as ``pulumi.Output[...]``."""
    return {name for klass in cls.__mro__ if klass.__module__.startswith("netplumb.")
            for name, ann in inspect.get_annotations(klass).items()
            if str(ann).startswith(("pulumi.Output[", "Output["))}


def test_the_program_orders_the_pod_after_its_nad_and_exports_the_outputs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text, line = snippet("program", "python")
    code = compile("\n" * (line - 1) + text, str(README), "exec")
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    values: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        exec(code, namespace)
        return pulumi.Output.all(**exported).apply(values.update)

    mocks = run_program(program)

    [nad] = mocks.of_type(NAD)
    config = json.loads(nad.inputs["spec"]["config"])
    assert (config["type"], config["master"], config["mtu"]) == ("macvlan", "ens2f0", 9000)
    assert config["ipam"] == {"type": "host-local", "subnet": "192.0.2.0/24",
                              "rangeStart": "192.0.2.100"}
    [pod] = mocks.of_type(POD)
    assert json.loads(pod.inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "storage", "namespace": "default", "interface": "net1"}]

    # the pod's component waits for the network (its NAD), so the pod is created after it
    [component] = mocks.of_type("netplumb:index:MultiHomedPod")
    assert nad.name in component.depends_on, component.depends_on
    order = [r.name for r in mocks.registered]
    assert order.index(nad.name) < order.index(pod.name)

    # every output of both components is exported, with the values the comments give
    networks = [v for v in namespace.values() if isinstance(v, MacvlanNetwork)]
    pods = [v for v in namespace.values() if isinstance(v, MultiHomedPod)]
    assert len(networks) == 1 and len(pods) == 1
    shown = {id(v) for v in exported.values()}
    for component_obj in (networks[0], pods[0]):
        missing = [n for n in sorted(_outputs(type(component_obj)))
                   if id(getattr(component_obj, n)) not in shown]
        assert missing == [], f"{type(component_obj).__name__} outputs not exported: {missing}"
    assert values == {"nad_name": "storage", "nad_namespace": "default",
                      "cni_config": nad.inputs["spec"]["config"], "pod_name": "app"}


def test_a_broken_program_fails_here() -> None:
    """The program test sees what it claims to: without ``depends_on`` the pod's component
    waits for nothing."""
    text, _ = snippet("program", "python")
    broken = re.sub(r"pulumi\.ResourceOptions\(depends_on=\[\w+\]\)", "None", text)
    assert broken != text
    mocks = run_program(lambda: exec(compile(broken, str(README), "exec"),
                                     {"__name__": "__main__"}))
    [component] = mocks.of_type("netplumb:index:MultiHomedPod")
    assert component.depends_on == []

