"""docs/reference.md is generated from the code (harness/refdoc.py): the checked-in file is
current, every typed input field has a description to show, every component's outputs are
listed (as its class annotates them, as its docstring names them, and as a program finds them
on its instances), the component provider's outputs too, and the README's links into it go
to sections that exist."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any, Literal

import pulumi
from pulumi.provider.experimental.component import ComponentProvider
from pydantic import BaseModel, ConfigDict, Field

import netplumb.components as components
from harness import refdoc
from harness.paths import REPO_ROOT
from netplumb.args import MacvlanNetworkArgs, PodArgs, StackSpec
from netplumb.components import hosted

from .pulumi_mocks import run_program


def test_checked_in_reference_is_current() -> None:
    current = refdoc.OUT.read_text()
    assert current == refdoc.generate(), (
        "docs/reference.md is out of date: run .venv/bin/python -m harness.refdoc")


def test_check_mode_reports_a_stale_file(tmp_path: object) -> None:
    from pathlib import Path

    stale = Path(str(tmp_path)) / "reference.md"
    stale.write_text(refdoc.generate().replace("| `mtu` |", "| `mtu_` |", 1))
    assert refdoc.main(["--check", "--out", str(stale)]) == 1
    stale.write_text(refdoc.generate())
    assert refdoc.main(["--check", "--out", str(stale)]) == 0


def test_every_field_is_described() -> None:
    """Every documented field has a docstring for the reference to show."""
    parts = refdoc.documented_models()
    documented = {c for _, models in parts for c in models}
    missing = []
    for _, models in parts:
        for cls in models:
            own, _ = refdoc._own_fields(cls, documented)
            missing += [f"{cls.__name__}.{n}" for n in own if not cls.model_fields[n].description]
    assert missing == []


class _Sample(BaseModel):
    """A sample model."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    range_start: str | None = Field(default=None, alias="rangeStart")
    """First address handed out."""
    mode: Literal["a", "b"] = "a"
    """Which mode (``a`` or ``b``)."""
    ports: list[int] = Field(default_factory=lambda: [80])


def test_a_model_section_is_read_from_the_model() -> None:
    text = "\n".join(refdoc.model_section(_Sample, {_Sample}, refdoc.TypeText({_Sample})))
    assert text.startswith("### _Sample\n\nA sample model.\n")
    assert ("| `rangeStart` (`range_start`) | string or null | — | First address handed out. |"
            in text)
    assert '| `mode` | `"a"` or `"b"` | `"a"` | Which mode (`a` or `b`). |' in text
    assert "| `ports` | list of integer | `[80]` |  |" in text


def test_readme_tour_links_existing_sections() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    anchors = {m.lower() for m in re.findall(r"^### (\w+)$", refdoc.OUT.read_text(), re.M)}
    links = re.findall(r"\(docs/reference\.md#([\w-]+)\)", readme)
    assert len(links) >= 5, links
    assert [a for a in links if a not in anchors] == []


# --------------------------------------------------------------------------- outputs


def _section(heading: str) -> str:
    """The text under ``### heading`` up to the next heading."""
    text = refdoc.OUT.read_text()
    m = re.search(rf"^### {re.escape(heading)}\n(.*?)(?=^##)", text, re.M | re.S)
    assert m is not None, f"docs/reference.md has no section {heading!r}"
    return m.group(1)


def _listed(heading: str) -> set[str]:
    """The outputs a component's section lists (rows of its output table)."""
    return set(re.findall(r"^\| `(\w+)` \| `Output`", _section(heading), re.M))


def _public_components() -> list[type]:
    return [c for c in (getattr(components, n) for n in components.__all__)
            if inspect.isclass(c) and issubclass(c, pulumi.Resource)]


def _annotated(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ if klass.__module__.startswith("netplumb.")
            for name, ann in inspect.get_annotations(klass).items()
            if str(ann).startswith("pulumi.Output[")}


def _named_in_docstring(cls: type) -> set[str]:
    doc = inspect.getdoc(cls) or ""
    m = re.search(r"^Outputs:(.*?)(?:\n\s*\n|\Z)", doc, re.M | re.S)
    return set(re.findall(r"``(\w+)``", m.group(1))) if m else set()


def test_every_component_has_a_section_listing_its_outputs() -> None:
    found = _public_components()
    assert len(found) >= 15, [c.__name__ for c in found]
    missing = {}
    for cls in found:
        expected = _annotated(cls) | _named_in_docstring(cls)
        gap = expected - _listed(cls.__name__)
        if gap:
            missing[cls.__name__] = sorted(gap)
    assert missing == {}
    assert _listed("MacvlanNetwork") == {"nad_name", "namespace", "config"}
    assert "`MacvlanNetwork(name, args, opts=None)`: `args` is " \
           "[MacvlanNetworkArgs](#macvlannetworkargs)." in _section("MacvlanNetwork")


def _instance_outputs(obj: Any) -> set[str]:
    """The outputs a program finds on a component: its public ``Output`` attributes, but the
    ``urn`` every resource has."""
    return {k for k, v in vars(obj).items()
            if isinstance(v, pulumi.Output) and not k.startswith("_") and k != "urn"}


def test_the_outputs_programs_find_on_instances_are_listed() -> None:
    made: list[Any] = []

    def program() -> None:
        net = components.MacvlanNetwork("storage", MacvlanNetworkArgs(master="ens2f0"))
        made.append(net)
        made.append(components.MultiHomedPod("app", PodArgs(networks=[net.selection()])))
        made.append(components.NetplumbStack("lab", StackSpec.parse({
            "networks": [{"name": "n", "type": "macvlan", "master": "ens2f0"}],
            "pods": [{"name": "p", "networks": [{"name": "n"}]}]})))

    run_program(program)
    for obj in made:
        outputs = _instance_outputs(obj)
        assert outputs, type(obj).__name__
        assert outputs <= _listed(type(obj).__name__), type(obj).__name__


def test_the_component_providers_outputs_are_listed() -> None:
    provider = ComponentProvider(hosted.COMPONENTS, hosted.PACKAGE, None, hosted.VERSION)
    assert provider.schema is not None
    schema = json.loads(provider.schema)
    for token, res in schema["resources"].items():
        section = _section(token)
        outputs = section.split("Outputs:", 1)[1]
        listed = set(re.findall(r"^\| `(\w+)` \|", outputs, re.M))
        assert listed == set(res["properties"]), token
    assert "`nadName`" in _section("netplumb:index:MacvlanNetwork")
