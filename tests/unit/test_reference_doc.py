"""docs/reference.md is generated from the models (harness/refdoc.py): the checked-in file is
current, every typed input field has a description to show, and the README's tour links
sections that exist."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness import refdoc
from harness.paths import REPO_ROOT


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
