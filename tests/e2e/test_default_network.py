"""``multus.default_network: auto`` on a real cluster: with another default network running
(a stand-in playing Calico's part: a ``calico-node`` DaemonSet, as Calico's manifests name
it, and a CNI config on every node, ``10-calico.conflist``, a bridge network of its own), a
stack that adds Multus installs Multus and its node plugin and no Flannel, says what it found,
and its Multus delegates every pod's eth0 to that network.

The session's platform stack owns the cluster's Multus (the same names), so the stack takes
those objects over the way a user takes over an existing install (``cluster_objects.adopt``,
with the references the ownership check names) and ``pulumi up`` rewrites them. The test
runs last, before the cluster goes down; it gives the platform its Multus back afterwards
(``pulumi up --refresh`` of the platform stack), so that a cluster kept for more sessions
(``NETPLUMB_KEEP_CLUSTER=1``) is as the platform left it.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from harness import engine, underlay
from harness.cluster.api import Api, wait_for
from harness.node import Node
from harness.node.images import TOOLBOX_IMAGE
from harness.pytest_fixtures import PLATFORM_STACK, NetworkHandle
from netplumb.args.nad import BridgeNetworkArgs
from netplumb.hostpaths import CNI_CONF_DIR, HOST_LOCAL_DIR
from netplumb.kube import Kube
from netplumb.ownership import OWNER_ANNOTATION
from tests.e2e.multinode import addresses, place
from tests.e2e.nadspace import nad_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.last]

NS = "np-othercni"
STANDIN = "k8s-pod-network"
"""The stand-in's network name (Calico's conflist names its network so)."""
STANDIN_CONF = f"{CNI_CONF_DIR}/10-calico.conflist"
STANDIN_BRIDGE = "np-calico0"
STANDIN_RANGE = ipaddress.IPv4Network("203.0.113.0/25")
"""Split per node (a /28 each), as Calico gives each node blocks of its pool."""
NAD_BRIDGE = "np-ocnbr0"


def _standin_config(block: ipaddress.IPv4Network) -> dict[str, object]:
    return {"cniVersion": "0.3.1", "name": STANDIN, "plugins": [
        {"type": "bridge", "bridge": STANDIN_BRIDGE, "isDefaultGateway": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": str(block)}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


@pytest.fixture
def calico(pod_network: NetworkHandle) -> Iterator[dict[str, ipaddress.IPv4Network]]:
    """A DaemonSet named and labelled as Calico's node agent on every node, and its CNI
    config in every node's ``/etc/cni/net.d``; yields each node's address block."""
    api = pod_network.node.cluster.api()
    nodes = pod_network.node.nodes
    blocks: dict[str, ipaddress.IPv4Network] = dict(
        zip([n.name for n in nodes], STANDIN_RANGE.subnets(new_prefix=28), strict=False))
    api.create("/api/v1/namespaces", {"metadata": {"name": NS}})
    labels = {"k8s-app": "calico-node"}
    written: list[Path] = []
    try:
        api.create(f"/apis/apps/v1/namespaces/{NS}/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "calico-node", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "calico-node", "image": TOOLBOX_IMAGE,
                                         "command": ["sleep", "86400"]}],
                         "terminationGracePeriodSeconds": 0}}}})
        for n in nodes:
            path = n.path(STANDIN_CONF)
            path.write_text(json.dumps(_standin_config(blocks[n.name])))
            written.append(path)
        wait_for("the stand-in on every node", lambda: (api.get(
            f"/apis/apps/v1/namespaces/{NS}/daemonsets/calico-node").get("status") or {}
        ).get("numberReady") == len(nodes), timeout=120)
        yield blocks
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        api.delete(f"/api/v1/namespaces/{NS}")
        wait_for(f"namespace {NS} gone",
                 lambda: api.get_or_none(f"/api/v1/namespaces/{NS}") is None,
                 timeout=120, interval=1)
        for n in nodes:
            underlay.ip("link", "del", STANDIN_BRIDGE, netns=n.ns, check=False)
            ipam = n.path(f"{HOST_LOCAL_DIR}/{STANDIN}")
            if ipam.is_dir():
                for f in ipam.iterdir():
                    f.unlink()
                ipam.rmdir()


def _preview(st: auto.Stack) -> tuple[bool, str]:
    try:
        result = st.preview(on_output=engine.printer(), diff=True)
        return True, result.stdout + result.stderr
    except auto.CommandError as exc:
        return False, str(exc)


def _rolled(api: Api, namespace: str, name: str) -> bool:
    ds = api.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
    st, want = ds.get("status") or {}, ds["metadata"]["generation"]
    desired = st.get("desiredNumberScheduled", -1)
    return bool(st.get("observedGeneration") == want and desired > 0
                and st.get("updatedNumberScheduled") == desired
                and st.get("numberReady") == desired == st.get("numberAvailable"))


_API_VERSIONS = {"CustomResourceDefinition": "apiextensions.k8s.io/v1",
                 "ClusterRole": "rbac.authorization.k8s.io/v1",
                 "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
                 "DaemonSet": "apps/v1", "ConfigMap": "v1", "ServiceAccount": "v1"}


@pytest.fixture
def platform_back(pod_network: NetworkHandle) -> Iterator[list[str]]:
    """Afterwards (once the stand-in's config is gone: request it before ``calico``), the
    objects the test adds to the yielded list (``cluster_objects.adopt`` references) marked
    as the platform's again, the platform stack's objects as the platform renders them, and
    its Multus restarted, so that each node's Multus delegates to Flannel again."""
    taken: list[str] = []
    yield taken
    from harness.paths import pulumi_backend_dir

    kubeconfig = pod_network.node.cluster.kubeconfig
    kube = Kube.from_kubeconfig(str(kubeconfig))
    for ref in taken:
        kind, *where = ref.split("/")
        namespace, name = (where[0], where[1]) if len(where) == 2 else (None, where[0])
        res = kube.resource(_API_VERSIONS[kind], kind)
        assert res is not None, ref
        kube.request("PATCH", res.path(namespace, name),
                     body={"metadata": {"annotations": {OWNER_ANNOTATION: pod_network.owner}}},
                     content_type="application/merge-patch+json")
    st = engine.stack(PLATFORM_STACK, kubeconfig=kubeconfig)
    st.refresh(on_output=engine.printer("  [platform] "))
    engine.up(st, pulumi_backend_dir(), on_output=engine.printer("  [platform] "))
    api = pod_network.node.cluster.api()
    pods = api.get("/api/v1/namespaces/kube-system/pods",
                   query={"labelSelector": "app=multus"})["items"]
    for pod in pods:
        api.delete(f"/api/v1/namespaces/kube-system/pods/{pod['metadata']['name']}")
    for n in pod_network.node.nodes:
        wait_for(f"{n.name}'s Multus delegating to Flannel again",
                 functools.partial(_delegates_to, n, "10-flannel.conflist"), timeout=180)


def _delegates_to(node: Node, conf: str) -> bool:
    """The node's Multus config delegates eth0 to the network of ``conf`` (a file name in
    the node's CNI config directory)."""
    try:
        data = json.loads(node.path(f"{CNI_CONF_DIR}/00-multus.conf").read_text())
    except (OSError, ValueError):
        return False
    return Path(str(data.get("clusterNetwork", ""))).name == conf


def test_multus_beside_another_default_network_installs_no_flannel(
        platform_back: list[str], calico: dict[str, ipaddress.IPv4Network],
        pod_network: NetworkHandle, tmp_path: Path) -> None:
    api = pod_network.node.cluster.api()
    nodes = pod_network.node
    stack = "config:\n  netplumb:spec:\n    multus: {}\n"
    project = engine.project_copy(tmp_path / "project", {"othercni": stack})
    st = engine.stack("othercni", work_dir=project, kubeconfig=pod_network.node.cluster.kubeconfig,
                      backend=tmp_path / "backend")
    try:
        ok, out = _preview(st)
        assert not ok, "the platform's Multus objects should have been named: " + out[-2000:]
        # the platform stack owns the cluster's Multus (same names): take over what the
        # ownership check names, as a user takes over an install
        refs = sorted(set(re.findall(r"cluster_objects\.adopt: \['([^']+)'\]", out))
                      | set(re.findall(r'\(got "([^"]+)"\)', out)))
        assert refs, out[-3000:]
        platform_back += refs
        path = project / "stacks" / "Pulumi.othercni.yaml"
        path.write_text(path.read_text().replace(
            "  netplumb:spec:\n",
            f"  netplumb:spec:\n    cluster_objects: {{adopt: [{', '.join(refs)}]}}\n", 1))
        result = st.up(on_output=engine.printer())
        out = result.stdout + result.stderr
        assert "default_network auto: the cluster runs" in out, out[-3000:]
        assert "Calico (DaemonSet np-othercni/calico-node)" in out, out[-3000:]

        # the stack holds Multus and the node plugin, and nothing of Flannel
        urns = [str(r.get("urn", "")) for r in
                (st.export_stack().deployment or {}).get("resources", [])]
        assert any(u.endswith("::othercni-multus-daemonset") for u in urns), urns
        assert not [u for u in urns if "flannel" in u.lower()], urns

        # the Multus the stack wrote rolled out, and each node's Multus config delegates
        # eth0 to the stand-in's network
        wait_for("Multus rolled out with the stack's settings",
                 lambda: _rolled(api, "kube-system", "kube-multus-ds"), timeout=180)
        for n in nodes.nodes:
            wait_for(f"{n.name}'s Multus config delegating to the stand-in",
                     functools.partial(_delegates_to, n, Path(STANDIN_CONF).name),
                     timeout=120)

        # a pod on each node: eth0 from the stand-in (its node's block, the default
        # route), net1 from a NAD, as network-status says and the pod's namespace has
        with nad_namespace(pod_network, NS + "-pods") as space:
            space.create_nad("ocn-br", BridgeNetworkArgs.parse({
                "bridge": NAD_BRIDGE, "ipam": {"type": "host-local", "ranges": [[{
                    "subnet": "198.51.100.0/24"}]]}}).cni_config("ocn-br"))
            for n in nodes.nodes:
                placed = place(space, nodes, f"ocn-{n.name}", n.name,
                               [{"name": "ocn-br", "interface": "net1"}])
                notes = placed.pod["metadata"].get("annotations") or {}
                status = json.loads(notes["k8s.v1.cni.cncf.io/network-status"])
                eth0 = next(s for s in status if s.get("interface") == "eth0")
                assert eth0["name"] == STANDIN and eth0.get("default") is True, status
                [ip] = addresses(placed.pod, "eth0")
                assert ipaddress.ip_address(ip) in calico[n.name], (n.name, ip)
                assert placed.pod["status"]["podIP"] == ip
                [net1] = addresses(placed.pod, "net1")
                assert ipaddress.ip_address(net1) in ipaddress.ip_network("198.51.100.0/24")
                routes = underlay.ip_json("route", "show", "default", netns=placed.netns)
                assert [r.get("dev") for r in routes] == ["eth0"], routes
                have = underlay.ip("-br", "addr", "show", "net1", netns=placed.netns)
                assert net1 in have, have
    finally:
        st.workspace.remove_stack(st.name, force=True)
