"""Nothing acts on an exported ``KUBECONFIG`` by surprise.

* ``make test`` (a pytest session) with ``KUBECONFIG`` exported at another cluster tests the
  embedded one, says so in one line, and never connects to the other (a listener stands in
  for it and counts connections).
* ``make run TARGET=current-context`` names the context and server before it acts, and a
  stack bound to other clusters (``netplumb:cluster``: dev is bound to the embedded one) is
  refused by the real engine's preview, naming both, with nothing registered.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import engine, run
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle
from tests.e2e.decoy import decoy_cluster, kubeconfig_for

pytestmark = pytest.mark.e2e


def test_make_test_ignores_an_exported_kubeconfig(cluster: ClusterHandle,
                                                  tmp_path: Path) -> None:
    """A pytest session like ``make test``'s, with KUBECONFIG exported at the decoy: it says
    it ignores it, its cluster test passes against the embedded cluster, the decoy sees
    nothing."""
    if not cluster.embedded:
        pytest.skip("the session's cluster is not the embedded one")
    with decoy_cluster() as (server, seen):
        env = {k: v for k, v in os.environ.items() if k != "NETPLUMB_TARGET"}
        env["KUBECONFIG"] = str(kubeconfig_for(server, tmp_path / "prod.kubeconfig"))
        env["NETPLUMB_KEEP_CLUSTER"] = "1"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
             "tests/e2e/test_cluster.py::test_version_is_stamped"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        assert "1 passed" in out, out[-3000:]
        ignoring = [ln for ln in out.splitlines() if "ignoring the exported KUBECONFIG" in ln]
        assert len(ignoring) == 1 and env["KUBECONFIG"] in ignoring[0], out[-3000:]
        assert seen == [], f"the session connected to the exported cluster {len(seen)} times"


def test_explicit_target_names_the_context_and_a_bound_stack_is_refused(
        cluster: ClusterHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``make run TARGET=current-context`` against a cluster that is not the embedded one:
    the context and server come first; the dev stack (bound to the embedded cluster) fails
    its preview naming both, and its state holds no resource."""
    with decoy_cluster() as (server, _seen):
        kubeconfig = kubeconfig_for(server, tmp_path / "prod.kubeconfig")
        monkeypatch.setenv("NETPLUMB_TARGET", "current-context")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        project = engine.project_copy(tmp_path / "project")
        backend = tmp_path / "pulumi"
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(Exception) as failed:
            run.main(["dev"], work_dir=project, backend=backend)
        text = out.getvalue() + str(failed.value)
        lines = text.splitlines()
        assert "acting on context 'team-prod', server " + server in lines[0], lines[:3]
        assert "this stack is for 'netplumb-embedded', 'kind-netplumb'" in text, text[-3000:]
        assert "context 'team-prod'" in text and server in text
        assert "config.netplumb:cluster" in text
        st = engine.stack("dev", work_dir=project, backend=backend)
        deployment = st.export_stack().deployment or {}
        resources = deployment.get("resources") or []
        assert [r["type"] for r in resources if r["type"] != "pulumi:pulumi:Stack"] == []
        st.workspace.remove_stack("dev", force=True)
