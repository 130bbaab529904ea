"""The example programs run under mocks and register what they say."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from .pulumi_mocks import run_program

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_storage_network_example() -> None:
    mocks = run_program(
        lambda: runpy.run_path(str(EXAMPLES / "storage_network/__main__.py")) and None)
    nads = {r.inputs["metadata"]["name"]: r.inputs
            for r in mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")}
    assert set(nads) == {"storage", "mgmt"}
    assert json.loads(nads["storage"]["spec"]["config"])["capabilities"] == {"ips": True}
    pods = mocks.of_type("kubernetes:core/v1:Pod")
    assert len(pods) == 1
    selections = json.loads(
        pods[0].inputs["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert selections == [
        {"name": "storage", "namespace": "default", "interface": "storage0",
         "ips": ["192.0.2.10/24"]},
        {"name": "mgmt", "namespace": "default", "interface": "mgmt0"},
    ]
