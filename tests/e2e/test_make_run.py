"""``make run`` end to end: the dev stack installs the node's network (Flannel, Multus thick)
and every one of its attachments verifies; verification checks what was asked for.

The dev stack is deployed once per cluster: by ``make run`` (then it is used as it is), or by
this session through ``make run``'s own code path (``harness.run.main``, the
``pod_network`` fixture) into a session-private Pulumi backend. Either way its pods are only
read here; the test that breaks a default route does so on a pod of its own.
"""

from __future__ import annotations

import json
import re

import pytest

from harness import underlay, verify
from harness.cluster import pod_ready, wait_for
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle
from netplumb.plan import build_plan
from netplumb.render.nad import MANAGED_BY
from netplumb.spec.networks import MacvlanNetworkArgs
from netplumb.spec.stack import load_stack_file
from tests.e2e.nadspace import nad_namespace

pytestmark = pytest.mark.e2e


def test_every_dev_attachment_verifies(pod_network: NetworkHandle) -> None:
    plan = build_plan(load_stack_file(REPO_ROOT / "stacks/Pulumi.dev.yaml"))
    expected = sum(len(p.networks) for _, p in plan.pods)
    if pod_network.deployed_by_session:
        out = pod_network.run_output
        assert f"netplumb: verified {expected}/{expected} attachments" in out, out[-3000:]
        assert len(re.findall(r"^\s+ok\s", out, flags=re.M)) == expected
    ok, total = verify.verify_attachments(pod_network.node.cluster.kubeconfig, "default",
                                         verbose=True)
    assert (ok, total) == (expected, expected)
    found = verify.attachments(pod_network.node.cluster.kubeconfig, "default")
    [static] = [a for a in found if a.pod == "default/static-ip-pod"]
    assert static.cidrs == {"192.0.2.245/24"}
    [routed] = [a for a in found if a.pod == "default/default-route-pod"]
    assert routed.ok and routed.netns.startswith("cni-")


def test_a_missing_default_route_is_reported(pod_network: NetworkHandle) -> None:
    """Verification checks the requested default route, it does not assume it: take it away
    from a pod (this test's own) and the pod's attachment fails with what is wrong."""
    master = "np-tvroute0"
    args = MacvlanNetworkArgs.typed({"master": master, "mode": "bridge", "ipam": {
        "type": "host-local", "subnet": "198.51.100.0/24", "rangeStart": "198.51.100.20",
        "rangeEnd": "198.51.100.29", "gateway": "198.51.100.1"}})
    with nad_namespace(pod_network, "verify-route") as space:
        space.create_nad("routed", args.cni_config("routed"))
        pod = space.create_pod("routed", [{"name": "routed", "interface": "net1",
                                           "default-route": ["198.51.100.1"]}])
        api = pod_network.node.cluster.api()
        path = f"/api/v1/namespaces/verify-route/pods/{pod.metadata.name}"
        wait_for("the pod to run", lambda: pod_ready(api.get(path)), timeout=90)
        # verification looks at netplumb-managed pods: label this one so
        api.merge_patch(path, {"metadata": {"labels": dict(MANAGED_BY)}})
        kubeconfig = pod_network.node.cluster.kubeconfig
        [before] = verify.attachments(kubeconfig, "verify-route")
        assert before.ok, before.problems
        underlay.ip("route", "del", "default", netns=before.netns)
        [after] = verify.attachments(kubeconfig, "verify-route")
        assert any("requested default route via 198.51.100.1 on net1" in p
                   for p in after.problems), after.problems
        status = json.loads(api.get(path)["metadata"]["annotations"][
            "k8s.v1.cni.cncf.io/network-status"])
        assert [s["interface"] for s in status if not s.get("default")] == ["net1"]
