"""The prod stack through the real engine on the embedded cluster.

Its workloads are left out: their pods need the bare-metal links (ens2f0, an SR-IOV pool)
this node does not have. Everything else (Flannel, thick Multus, the SR-IOV device plugin,
CRDs, NADs, quotas, policies, RBAC) is created by `pulumi up`, read back from the
apiserver, and destroyed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness import engine
from harness.pytest_fixtures import ClusterHandle
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan, render_plan

pytestmark = pytest.mark.e2e

PROD = Path(__file__).parents[2] / "stacks/Pulumi.prod.yaml"


def _without_workloads(text: str) -> str:
    block = r"\n    workloads:\n(?:      .*\n|        .*\n|          .*\n)*"
    return re.sub(block, "\n    workloads: []\n", text + "\n")


def _beside_the_platform(text: str) -> str:
    """The prod stack as a second stack on a cluster whose platform owns the NAD CRD: it
    uses that CRD, and cleans up everything else it installs when destroyed."""
    text = text.replace("    multus:\n", "    multus:\n      install_nad_crd: false\n", 1)
    return text.replace("  netplumb:spec:\n",
                        "  netplumb:spec:\n    cluster_objects: {on_destroy: delete}\n", 1)


def test_prod_stack_up_and_destroy(cluster: ClusterHandle, platform: str,
                                   tmp_path: Path) -> None:
    from kubernetes import dynamic

    stack_text = _beside_the_platform(_without_workloads(PROD.read_text()))
    assert "workloads: []" in stack_text and "on_destroy: delete" in stack_text
    project = engine.project_copy(tmp_path / "project", {"prodlike": stack_text})
    objects = render_plan(build_plan(load_stack_file(project / "stacks/Pulumi.prodlike.yaml")))
    st = engine.stack("prodlike", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp_path / "backend")
    dyn: Any = dynamic.DynamicClient(cluster.api_client())  # type: ignore[no-untyped-call]
    try:
        result = st.up(on_output=engine.printer())
        assert result.summary.result == "succeeded"
        missing = []
        for obj in objects:
            res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            try:
                res.get(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
            except Exception as exc:
                missing.append((obj["kind"], obj["metadata"]["name"], str(exc)[:120]))
        assert missing == []
        assert len(objects) >= 25
    finally:
        st.destroy(on_output=engine.printer())
        st.workspace.remove_stack("prodlike")
