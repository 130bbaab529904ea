"""The README's Python snippets run as written, under Pulumi mocks (what each registers is
checked in ``test_readme_snippets.py``); and the public surface they import from is one:
``netplumb`` and ``netplumb.components`` export the same components, args and models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import netplumb
import netplumb.components
from netplumb import args, cni

from .pulumi_mocks import run_program

README = Path(__file__).parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_snippets() -> None:
    assert SNIPPETS


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_snippet_runs_under_mocks(code: str) -> None:
    namespace: dict[str, Any] = {}
    mocks = run_program(lambda: exec(compile(code, str(README), "exec"), namespace))
    assert mocks.registered, "the snippet registered nothing"
    for nad in mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition"):
        json.loads(nad.inputs["spec"]["config"])  # a CNI config, as JSON


def test_one_public_surface() -> None:
    for name in netplumb.components.__all__:
        assert getattr(netplumb, name) is getattr(netplumb.components, name), name
    for name in args.__all__:  # every args model, from both
        assert getattr(netplumb, name) is getattr(args, name)
    for name in ("HostLocalIpam", "StaticIpam", "DhcpIpam", "WhereaboutsIpam", "TuningPlugin"):
        assert getattr(netplumb.components, name) is getattr(cni, name)
    assert set(netplumb.__all__) <= set(netplumb.components.__all__) | {
        "CNI_VERSIONS", "CniConfig", "Finding", "PlanError", "parse_cni_config"}
