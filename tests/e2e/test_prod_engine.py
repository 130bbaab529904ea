"""The prod stack through the real engine on the embedded cluster and its real node.

Left out: its workloads (their pods need the bare-metal links ens2f0/ens2f1 and an SR-IOV pool
this node does not have) and its ``multus`` block: the node already runs the Flannel and
Multus thick its dev stack installed (one default network and one Multus per cluster; prod's
Flannel would want the NIC ``ens1f0``). Prod's Multus and Flannel objects are checked by the
apiserver in ``test_prod_accepted.py``. Everything else (the SR-IOV device plugin, NADs with
whereabouts IPAM, quotas, policies, RBAC) is created by ``pulumi up``, read back from the
apiserver, and destroyed.

The SR-IOV device plugin DaemonSet is created and selects no node here (prod's
``feature.node.kubernetes.io/network-sriov.capable`` selector): its image cannot be built on
this machine (the module is not served) and the node has no SR-IOV device anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import engine
from harness.node import images
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.stack import CONFIG_KEY, load_stack_file
from netplumb.plan import build_plan, render_plan

pytestmark = pytest.mark.e2e

PROD = Path(__file__).parents[2] / "stacks/Pulumi.prod.yaml"


def _prod_without_workloads_and_platform() -> str:
    doc = yaml.safe_load(PROD.read_text())
    spec = doc["config"][CONFIG_KEY]
    spec["workloads"] = []
    spec.pop("multus")
    # without Multus it no longer installs whereabouts for its networks: the platform's serves
    spec["whereabouts"] = {"installed": "external"}
    # the platform's MultiNetworkPolicy enforcer brought the CRD (a second owner is refused)
    spec["guardrails"]["install_multi_network_policy_crd"] = False
    # a second stack beside the platform: what it installs cluster-wide goes with it
    spec["cluster_objects"] = {"on_destroy": "delete"}
    return str(yaml.safe_dump(doc, sort_keys=False))


def test_prod_stack_up_and_destroy(pod_network: NetworkHandle, tmp_path: Path) -> None:
    cluster = pod_network.node.cluster
    project = engine.project_copy(tmp_path / "project",
                                  {"prodlike": _prod_without_workloads_and_platform()})
    objects = render_plan(build_plan(load_stack_file(project / "stacks/Pulumi.prodlike.yaml")))
    st = engine.stack("prodlike", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp_path / "backend")
    api = cluster.api()
    try:
        result = st.up(on_output=engine.printer())
        assert result.summary.result == "succeeded"
        missing = []
        for obj in objects:
            meta = obj["metadata"]
            try:
                if api.kube.get(obj["apiVersion"], obj["kind"], meta["name"],
                                meta.get("namespace")) is None:
                    missing.append((obj["kind"], meta["name"], "not found"))
            except Exception as exc:
                missing.append((obj["kind"], meta["name"], str(exc)[:120]))
        assert missing == []
        assert len(objects) >= 12
        [ds] = [o for o in objects if o["kind"] == "DaemonSet"]
        live = api.get(f"/apis/apps/v1/namespaces/{ds['metadata']['namespace']}/daemonsets/"
                       f"{ds['metadata']['name']}")
        assert live["status"].get("desiredNumberScheduled") == 0, (
            "the SR-IOV device plugin must not run")
        _, unbuildable = images.load()
        not_built = {ref for u in unbuildable for ref in u.refs}
        pod_spec = ds["spec"]["template"]["spec"]
        # each of its images is either built here (the device plugin, from its source
        # snapshot) or declared unbuildable (sriov-cni): none is pulled from anywhere
        for c in pod_spec["containers"] + pod_spec["initContainers"]:
            assert c["image"] in not_built or images.unavailable(c["image"]) is None, c
    finally:
        st.destroy(on_output=engine.printer())
        st.workspace.remove_stack("prodlike")
