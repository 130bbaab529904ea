"""``make run`` end to end: the platform stack installs the node's network (Flannel, Multus
thick), the dev stack its networks and pods, and every attachment verifies; verification
checks what was asked for.

If ``make run`` already deployed the dev stack on this cluster, its pods are only read here.
Otherwise the test runs ``make run``'s own code path (``harness.run.main``) on a copy of the
project with a Pulumi backend of its own, and destroys what it deployed. The test that breaks
a default route does so on a pod of its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from harness import datapath, engine, run, underlay
from harness.cluster import pod_ready, wait_for
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import MacvlanNetworkArgs
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan
from netplumb.render.manifests import MANAGED_BY
from tests.e2e.decoy import decoy_cluster, kubeconfig_for
from tests.e2e.nadspace import nad_namespace

pytestmark = pytest.mark.e2e


def _dev_pods_deployed(network: NetworkHandle) -> bool:
    api = network.node.cluster.api()
    return api.get_or_none("/api/v1/namespaces/default/pods/multus-pod-1") is not None


def test_every_dev_attachment_verifies(pod_network: NetworkHandle, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With a KUBECONFIG exported at another cluster (a listener standing in for it), ``make
    run`` says it ignores it, never connects to it, and deploys to the embedded cluster."""
    cluster = pod_network.node.cluster
    plan = build_plan(load_stack_file(REPO_ROOT / "stacks/Pulumi.dev.yaml"))
    expected = sum(len(p.networks) for _, p in plan.pods)
    deployed_here = not _dev_pods_deployed(pod_network)
    project = engine.project_copy(tmp_path / "project")
    backend = tmp_path / "pulumi"
    try:
        if deployed_here:
            out = io.StringIO()
            with decoy_cluster() as (server, seen), contextlib.redirect_stdout(out):
                decoy = kubeconfig_for(server, tmp_path / "prod.kubeconfig")
                monkeypatch.delenv("NETPLUMB_TARGET", raising=False)
                monkeypatch.setenv("KUBECONFIG", str(decoy))
                code = run.main(["dev"], work_dir=project, backend=backend,
                                cluster_dir=pod_network.node.layout.root)
            text = out.getvalue()
            assert seen == [], "make run connected to the exported KUBECONFIG's cluster"
            assert f"ignoring the exported KUBECONFIG={decoy}" in text.splitlines()[0]
            print(text[-4000:])
            assert f"netplumb: verified {expected}/{expected} attachments" in text, text[-3000:]
            assert len(re.findall(r"^\s+ok\s", text, flags=re.M)) == expected
            assert code == 0
        ok, total = datapath.verify_attachments(cluster.kubeconfig, "default", verbose=True)
        assert (ok, total) == (expected, expected)
        found = datapath.attachments(cluster.kubeconfig, "default")
        [static] = [a for a in found if a.pod == "default/static-ip-pod"]
        assert static.cidrs == {"192.0.2.245/24"}
        [routed] = [a for a in found if a.pod == "default/default-route-pod"]
        assert routed.ok and routed.netns is not None and routed.netns.name.startswith("cni-")
        # the namespace is found on the node the pod runs on
        pod_node = pod_network.node.of_pod("default", "default-route-pod")
        assert routed.netns.node.name == pod_node.name
    finally:
        if deployed_here:
            st = engine.stack("dev", work_dir=project, kubeconfig=cluster.kubeconfig,
                              backend=backend)
            st.destroy(on_output=engine.printer())
            st.workspace.remove_stack("dev")
            # make run brought the platform up in this backend too: the node's network is
            # the session's platform's (same owner), so only this record of it goes
            st.workspace.remove_stack("platform", force=True)


def test_a_missing_default_route_is_reported(pod_network: NetworkHandle) -> None:
    """Verification checks the requested default route, it does not assume it: take it away
    from a pod (this test's own) and the pod's attachment fails with what is wrong."""
    master = "np-tvroute0"
    args = MacvlanNetworkArgs.parse({"master": master, "mode": "bridge", "ipam": {
        "type": "host-local", "subnet": "198.51.100.0/24", "rangeStart": "198.51.100.20",
        "rangeEnd": "198.51.100.29", "gateway": "198.51.100.1"}})
    with nad_namespace(pod_network, "verify-route") as space:
        space.create_nad("routed", args.cni_config("routed"))
        pod = space.create_pod("routed", [{"name": "routed", "interface": "net1",
                                           "default-route": ["198.51.100.1"]}])
        api = pod_network.node.cluster.api()
        path = f"/api/v1/namespaces/verify-route/pods/{pod['metadata']['name']}"
        wait_for("the pod to run", lambda: pod_ready(api.get(path)), timeout=90)
        # verification looks at netplumb-managed pods: label this one so
        api.merge_patch(path, {"metadata": {"labels": dict(MANAGED_BY)}})
        kubeconfig = pod_network.node.cluster.kubeconfig
        [before] = datapath.attachments(kubeconfig, "verify-route")
        assert before.ok, before.problems
        assert before.netns is not None
        underlay.ip("route", "del", "default", netns=before.netns)
        [after] = datapath.attachments(kubeconfig, "verify-route")
        assert any("requested default route via 198.51.100.1 on net1" in p
                   for p in after.problems), after.problems
        status = json.loads(api.get(path)["metadata"]["annotations"][
            "k8s.v1.cni.cncf.io/network-status"])
        assert [s["interface"] for s in status if not s.get("default")] == ["net1"]
