"""The nodes' network as netplumb installs it: Flannel and Multus thick really run.

The DaemonSets the stack rendered have one Ready pod on every node, running the images built
here (the image ID each node has for each reference is the one ``harness/node/images.py``
built); flanneld runs with the stack's ``--iface`` on every node; each node's
``/etc/cni/net.d`` holds the config Multus thick wrote, delegating to Flannel; images that
cannot be built here are rendered and never run on any node.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from harness import podnetwork, underlay
from harness.cluster import NODE_LINK, pod_ready
from harness.node import Node, cri, images
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.stack import load_stack_file
from netplumb.plan import build_plan, render_plan

pytestmark = pytest.mark.e2e


def _ds_pods(network: NetworkHandle, namespace: str, name: str) -> list[Any]:
    api = network.node.cluster.api()
    ds = api.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
    selector = ",".join(f"{k}={v}" for k, v in ds["spec"]["selector"]["matchLabels"].items())
    pods: list[Any] = api.get(f"/api/v1/namespaces/{namespace}/pods",
                              {"labelSelector": selector})["items"]
    return pods


def _per_node(network: NetworkHandle, namespace: str, name: str) -> list[tuple[Node, Any]]:
    """The DaemonSet's pods, exactly one on every node, with their node."""
    pods = _ds_pods(network, namespace, name)
    nodes = network.node.nodes
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(n.name for n in nodes), [
        (p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods]
    by_name = {p["spec"]["nodeName"]: p for p in pods}
    return [(n, by_name[n.name]) for n in nodes]


@pytest.mark.parametrize("daemonset", [podnetwork.FLANNEL_DS, podnetwork.MULTUS_DS],
                         ids=["flannel", "multus"])
def test_daemonset_ready_running_images_built_here(pod_network: NetworkHandle,
                                                   daemonset: tuple[str, str]) -> None:
    namespace, name = daemonset
    built = images.build()
    by_ref = {ref: b for b in built.values() for ref in b.refs}
    for node, pod in _per_node(pod_network, namespace, name):
        assert pod_ready(pod), node.name
        refs = [c["image"] for c in pod["spec"]["containers"] + pod["spec"].get(
            "initContainers", [])]
        for ref in refs:
            assert ref in by_ref, f"{ref} is not an image built here"
            status = json.loads(cri.crictl(node.ns, "inspecti", "-o", "json", ref))["status"]
            assert status["id"] == by_ref[ref].config, (node.name, ref, status["id"])


def test_flanneld_runs_with_the_stacks_iface(pod_network: NetworkHandle) -> None:
    api = pod_network.node.cluster.api()
    for node, pod in _per_node(pod_network, *podnetwork.FLANNEL_DS):
        (container,) = pod["spec"]["containers"]
        assert f"--iface={NODE_LINK}" in container["args"]
        vxlan = underlay.ip_json("-d", "link", "show", "flannel.1", netns=node.ns)[0]
        assert vxlan["linkinfo"]["info_kind"] == "vxlan"
        assert vxlan["linkinfo"]["info_data"]["local"] == node.ip, node.name
        text = node.path("/run/flannel/subnet.env").read_text()
        subnet_env = dict(line.split("=", 1) for line in text.split() if "=" in line)
        assert subnet_env["FLANNEL_NETWORK"] == "198.18.0.0/16"
        # each node's flanneld hands out the pod CIDR of its own node
        pod_cidr = ipaddress.IPv4Network(
            api.get(f"/api/v1/nodes/{node.name}")["spec"]["podCIDR"])
        subnet = ipaddress.IPv4Interface(subnet_env["FLANNEL_SUBNET"]).network
        assert subnet.subnet_of(pod_cidr), (node.name, subnet_env, pod_cidr)


def test_multus_wrote_the_cni_config_delegating_to_flannel(pod_network: NetworkHandle) -> None:
    state = podnetwork.network_state(pod_network.node.cluster.api())
    assert state.ready, state.problems
    for node in pod_network.node.nodes:
        conf = json.loads(node.path(podnetwork.MULTUS_CONF).read_text())
        assert conf["type"] == "multus-shim", node.name
        assert conf["clusterNetwork"].endswith(str(podnetwork.FLANNEL_CONF.name))
        flannel = json.loads(node.path(podnetwork.FLANNEL_CONF).read_text())
        assert [p["type"] for p in flannel["plugins"]] == ["flannel", "portmap"]
        listing = sorted(p.name for p in node.path(podnetwork.MULTUS_CONF.parent).iterdir())
        assert listing[0] == podnetwork.MULTUS_CONF.name, (node.name, listing)


def test_sriov_images_are_on_every_node_where_built_and_never_where_not(
        pod_network: NetworkHandle) -> None:
    """The prod stack renders the SR-IOV device plugin (built here from its source snapshot,
    ``harness/node/images.toml``) and sriov-cni (its module is not served: declared
    unbuildable). Every node has the device plugin's image (so its DaemonSet can run on a
    labelled node) and none has sriov-cni's (a pod needing it would never start)."""
    _, unbuildable = images.load()
    refs = {ref: u.reason for u in unbuildable for ref in u.refs}
    prod = render_plan(build_plan(load_stack_file(REPO_ROOT / "stacks/Pulumi.prod.yaml")))
    rendered = {c["image"] for obj in prod if obj["kind"] == "DaemonSet"
                for c in obj["spec"]["template"]["spec"]["containers"]
                + obj["spec"]["template"]["spec"].get("initContainers", [])}
    sriov = {r for r in rendered if "sriov" in r}
    assert sriov, "prod renders no SR-IOV image"
    assert any(r in refs for r in sriov) and any(r not in refs for r in sriov), (sriov, refs)
    for ref in sriov:
        for node in pod_network.node.nodes:
            out = cri.crictl(node.ns, "inspecti", "-o", "json", ref, check=False)
            if ref in refs:
                assert "not served" in refs[ref]
                assert not out.strip(), f"{ref} unexpectedly present on {node.name}"
            else:
                assert images.unavailable(ref) is None, ref
                assert out.strip(), f"{ref} (built here) missing on {node.name}"
