"""``make run`` end to end: ``harness.run`` deploys the dev stack and verifies its data path.

Runs the same entry point as ``make run`` against the session's cluster (through
``KUBECONFIG``, so it starts nothing), on a copy of the project with its Pulumi state in a
temp directory, then checks
the summary line: every attachment of the dev stack verified, the static address and the
default route included. The stack is destroyed afterwards.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness import engine, run, underlay, verify
from harness.pytest_fixtures import ClusterHandle
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan

pytestmark = pytest.mark.e2e


def test_make_run_verifies_every_dev_attachment(cluster: ClusterHandle, platform: str,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if not cluster.embedded or os.environ.get("NETPLUMB_PODNET", "null") != "multus":
        pytest.skip("verification looks inside the embedded node's pod namespaces "
                    "(NETPLUMB_PODNET=multus)")
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("NETPLUMB_STATE", str(tmp_path / "state"))
    project = engine.project_copy(tmp_path / "project")
    plan = build_plan(load_stack_file(project / "stacks/Pulumi.dev.yaml"))
    expected = sum(len(p.networks) for _, p in plan.pods)
    try:
        code = run.main(["dev"], work_dir=project)
        out = capsys.readouterr().out
        assert f"netplumb: verified {expected}/{expected} attachments" in out, out[-3000:]
        assert code == 0
        assert len(re.findall(r"^\s+ok\s", out, flags=re.M)) == expected
        found = verify.attachments(cluster.kubeconfig, "default")
        [static] = [a for a in found if a.pod == "default/static-ip-pod"]
        assert static.cidrs == {"192.0.2.245/24"}
        # the requested default route is checked, not assumed: take it away and look again
        [routed] = [a for a in found if a.pod == "default/default-route-pod"]
        assert routed.ok
        underlay.ip("route", "del", "default", netns=routed.netns)
        [broken] = [a for a in verify.attachments(cluster.kubeconfig, "default")
                    if a.pod == "default/default-route-pod"]
        assert any("requested default route via 192.0.2.1 on net1" in p
                   for p in broken.problems), broken.problems
    finally:
        st = engine.stack("dev", work_dir=project, kubeconfig=cluster.kubeconfig,
                          backend=tmp_path / "state" / "pulumi")
        st.destroy(on_output=engine.printer())
        st.workspace.remove_stack("dev")
