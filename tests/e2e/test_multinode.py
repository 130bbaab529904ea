"""Every network across two real nodes (each in namespaces of its own), through Multus thick
and the platform's Flannel and whereabouts:

* the cluster network: a pod on one node pings a pod on the other over eth0 (Flannel's VXLAN)
  and reaches a Service whose only endpoint runs on the other node;
* macvlan (bridge mode) and bridge networks span the nodes (the harness joins each node's
  underlay link to one segment): pods with static addresses on two nodes reach each other
  over net1; a pod's default route through net1 goes to a real router on the segment, which
  sees the pod's packets to an address beyond it;
* host-local gives the same address on two nodes (the seed's warning, shown), and
  ``netplumb check`` warns about exactly that network; whereabouts gives distinct ones, and
  its IPPool follows 20 rounds of two workloads scaling up and down over both nodes;
* a Multus DaemonSet update (one changed setting, through the engine) rolls node by node and
  the running pods keep their interfaces and addresses;
* a node failure (every process of a node killed at once): the node goes NotReady,
  ``netplumb doctor`` names it and its pods, deleting them frees their whereabouts addresses,
  and the node started again converges with no manual step; a drain (eviction API) moves a
  workload to the other node with addresses from the pool;
* a workload with an SR-IOV pool's node selector lands only on the labelled node, and the
  device plugin DaemonSet is scheduled only there.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from harness import engine, icmp
from harness import node as harness_node
from harness.cluster.api import Api, node_ready, pod_ready, wait_for
from harness.datapath import link_state
from harness.node.images import TOOLBOX_IMAGE
from harness.paths import REPO_ROOT, pulumi_backend_dir
from harness.pytest_fixtures import PLATFORM_STACK, NetworkHandle, NodeHandle
from netplumb.args.sriov import SriovPoolArgs
from netplumb.args.stack import StackSpec
from netplumb.cni.config import CniConfig
from netplumb.cni.selection import NETWORKS_ANNOTATION
from netplumb.kube import Kube
from netplumb.ops.doctor import diagnose
from netplumb.ops.live import read_snapshot
from netplumb.plan import build_plan
from netplumb.render.sriov import sriov_manifests
from tests.e2e.multinode import HOSTNAME, Placed, addresses, http_get, place, router
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "np-multi"
IPPOOLS = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/kube-system/ippools"


@pytest.fixture(scope="module")
def nodes(pod_network: NetworkHandle) -> NodeHandle:
    handle = pod_network.node
    if len(handle.nodes) < 2:
        pytest.fail(f"two nodes needed, the cluster has {handle.names} (NETPLUMB_NODES)")
    return handle


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle, nodes: NodeHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as made:
        yield made


def _conf(name: str, plugin: dict[str, Any], ipam: dict[str, Any],
          **extra: Any) -> CniConfig:
    return CniConfig.from_dict({"cniVersion": "0.3.1", "name": name, **plugin, **extra,
                                "ipam": ipam})


def _macvlan(master: str) -> dict[str, Any]:
    return {"type": "macvlan", "master": master, "mode": "bridge"}


def _two(nodes: NodeHandle) -> tuple[str, str]:
    first, second = nodes.names[:2]
    return first, second


# --------------------------------------------------------------------------- cluster network


def test_pods_on_two_nodes_reach_each_other_and_a_service_over_eth0(
        space: NadSpace, nodes: NodeHandle) -> None:
    w1, w2 = _two(nodes)
    api = nodes.cluster.api()
    web = {"name": "main", "image": TOOLBOX_IMAGE, "command": [
        "sh", "-c", "mkdir -p /www && echo netplumb-multinode > /www/index.html && "
                    "exec httpd -f -p 8080 -h /www"]}
    server = place(space, nodes, "mn-web", w2, containers=[web])
    client = place(space, nodes, "mn-client", w1)
    server_ip = str(server.pod["status"]["podIP"])
    client_ip = str(client.pod["status"]["podIP"])
    assert ipaddress.ip_address(server_ip) in ipaddress.ip_network("198.18.0.0/16")
    # the two pods' addresses come from the two nodes' Flannel subnets
    assert ipaddress.ip_network(f"{server_ip}/24", strict=False) != ipaddress.ip_network(
        f"{client_ip}/24", strict=False)
    assert icmp.ping(client.netns, server_ip, count=3) >= 1, "no echo reply across the VXLAN"
    assert "netplumb-multinode" in http_get(client.netns, server_ip, 8080)

    api.create(f"/api/v1/namespaces/{NS}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "mn-web"},
        "spec": {"selector": {"app": "mn-web"},
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    svc = api.get(f"/api/v1/namespaces/{NS}/services/mn-web")
    cluster_ip = str(svc["spec"]["clusterIP"])
    body = wait_for("the Service answering through kube-proxy on the client's node",
                    lambda: http_get(client.netns, cluster_ip, 80, timeout=2), timeout=60,
                    interval=1)
    assert "netplumb-multinode" in body


# --------------------------------------------------------------------------- secondary networks


def test_macvlan_and_bridge_networks_span_the_nodes_with_static_addresses(
        space: NadSpace, nodes: NodeHandle) -> None:
    w1, w2 = _two(nodes)
    static = {"type": "static"}
    space.create_nad("mn-mac", _conf("mn-mac", _macvlan("np-mnmac0"), static,
                                     capabilities={"ips": True}))
    space.create_nad("mn-br", _conf("mn-br", {"type": "bridge", "bridge": "np-mnbr0"}, static,
                                    capabilities={"ips": True}))
    pods: list[Placed] = []
    for i, node in ((11, w1), (12, w2)):
        pods.append(place(space, nodes, f"mn-static-{i}", node, [
            {"name": "mn-mac", "interface": "net1", "ips": [f"192.0.2.{i}/24"]},
            {"name": "mn-br", "interface": "net2", "ips": [f"198.51.100.{i}/24"]}]))
    a, b = pods
    assert (a.ip("net1"), b.ip("net1")) == ("192.0.2.11", "192.0.2.12")
    assert (a.ip("net2"), b.ip("net2")) == ("198.51.100.11", "198.51.100.12")
    for src, dst in ((a, b), (b, a)):
        for iface in ("net1", "net2"):
            target = dst.ip(iface)
            _, have = link_state(src.netns, iface)
            assert any(c.startswith(src.ip(iface) + "/") for c in have), have
            assert icmp.ping(src.netns, target, count=3) >= 1, (
                f"{src.name} on {src.node} cannot reach {dst.name} on {dst.node} at {target} "
                f"over {iface}")


def test_default_route_through_net1_reaches_a_real_gateway(space: NadSpace,
                                                           nodes: NodeHandle) -> None:
    _, w2 = _two(nodes)
    space.create_nad("mn-gw", _conf("mn-gw", _macvlan("np-mnmac0"), {
        "type": "host-local", "subnet": "192.0.2.0/24", "rangeStart": "192.0.2.50",
        "rangeEnd": "192.0.2.59", "gateway": "192.0.2.1"}))
    with router("np-mnmac0", "192.0.2.1", 24, "203.0.113.77") as gw:
        pod = place(space, nodes, "mn-routed", w2, [
            {"name": "mn-gw", "interface": "net1", "default-route": ["192.0.2.1"]}])
        source = pod.ip("net1")
        gw.watch(source)
        from harness import underlay

        routes = underlay.ip_json("-4", "route", "show", "default", netns=pod.netns)
        assert [(r.get("gateway"), r.get("dev")) for r in routes] == [("192.0.2.1", "net1")]
        replies = icmp.ping(pod.netns, gw.beyond, count=3)
        arrived = gw.arrived(source)
        assert replies >= 1, "no reply from beyond the gateway"
        assert arrived >= 1, f"the router saw no packet from {source} on its segment link"


def test_host_local_repeats_an_address_across_nodes_and_whereabouts_does_not(
        space: NadSpace, nodes: NodeHandle) -> None:
    w1, w2 = _two(nodes)
    host_local = {"type": "host-local", "subnet": "198.51.100.0/24",
                  "rangeStart": "198.51.100.20", "rangeEnd": "198.51.100.29"}
    space.create_nad("mn-hl", _conf("mn-hl", _macvlan("np-mnmac1"), host_local))
    space.create_nad("mn-wb", _conf("mn-wb", _macvlan("np-mnmac1"), {
        "type": "whereabouts", "range": "198.51.100.128/27"}))
    hl = [place(space, nodes, f"mn-hl-{n}", n, [{"name": "mn-hl", "interface": "net1"}])
          for n in (w1, w2)]
    assert hl[0].ip("net1") == hl[1].ip("net1"), (
        "host-local keeps reservations per node: the same first address on both nodes")

    spec = StackSpec.parse({
        "networks": [{"name": "mn-hl", "namespace": NS, "type": "macvlan",
                      "master": "np-mnmac1", "mode": "bridge", "ipam": host_local},
                     {"name": "mn-wb", "namespace": NS, "type": "macvlan",
                      "master": "np-mnmac1", "mode": "bridge",
                      "ipam": {"type": "whereabouts", "range": "198.51.100.128/27"}}],
        "whereabouts": {"installed": "external"},
        "pods": [{"name": f"p{i}", "namespace": NS, "networks": [{"name": net}]}
                 for i, net in enumerate(["mn-hl", "mn-hl", "mn-wb", "mn-wb"])]},
        at=("config", "netplumb:spec"))
    warned = [f.path for f in build_plan(spec).warnings if "allocates per node" in f.message]
    assert warned == ["config.netplumb:spec.networks[0].ipam"], warned

    wb = [place(space, nodes, f"mn-wb-{n}", n, [{"name": "mn-wb", "interface": "net1"}])
          for n in (w1, w2)]
    assert wb[0].ip("net1") != wb[1].ip("net1")
    assert all(ipaddress.ip_address(p.ip("net1")) in ipaddress.ip_network("198.51.100.128/27")
               for p in wb)
    assert icmp.ping(wb[0].netns, wb[1].ip("net1"), count=3) >= 1


# --------------------------------------------------------------------------- whereabouts


def _pool(api: Api, cidr: str) -> dict[str, str]:
    """Address -> podref of the whereabouts pool of ``cidr``."""
    for pool in api.get(IPPOOLS)["items"]:
        if pool["spec"].get("range") == cidr:
            base = ipaddress.ip_network(cidr).network_address
            return {str(base + int(off)): str(a.get("podref"))
                    for off, a in (pool["spec"].get("allocations") or {}).items()}
    return {}


def _running_addresses(api: Api, selector: str, interface: str = "net1") -> dict[str, str]:
    """Address -> ``namespace/name`` of the running, not terminating pods of ``selector``."""
    out: dict[str, str] = {}
    for pod in api.get(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": selector})["items"]:
        if pod["metadata"].get("deletionTimestamp") or not pod_ready(pod):
            continue
        for ip in addresses(pod, interface):
            assert ip not in out, f"{ip} on two pods: {out[ip]} and {pod['metadata']['name']}"
            out[ip] = f"{NS}/{pod['metadata']['name']}"
    return out


def _deployment(name: str, nad: str, replicas: int, **spec: Any) -> dict[str, Any]:
    labels = {"app": name, "tier": "mn-churn"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {
                         "metadata": {"labels": labels, "annotations": {
                             NETWORKS_ANNOTATION: f'[{{"name": "{nad}", '
                                                  '"interface": "net1"}]'}},
                         "spec": {"containers": [{"name": "main", "image": TOOLBOX_IMAGE,
                                                  "command": ["sleep", "86400"]}],
                                  "terminationGracePeriodSeconds": 0,
                                  "automountServiceAccountToken": False,
                                  "topologySpreadConstraints": [{
                                      "maxSkew": 1, "topologyKey": HOSTNAME,
                                      "whenUnsatisfiable": "ScheduleAnyway",
                                      "labelSelector": {"matchLabels": {"app": name}}}],
                                  **spec}}}}


def _settled(api: Api, selector: str, want: int) -> bool:
    pods = api.get(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": selector})["items"]
    return len(pods) == want and all(pod_ready(p) and not p["metadata"].get(
        "deletionTimestamp") and addresses(p, "net1") for p in pods)


def test_whereabouts_pools_follow_two_workloads_scaling_over_both_nodes(
        space: NadSpace, nodes: NodeHandle, figure: Any) -> None:
    api = nodes.cluster.api()
    cidr = "198.51.100.160/27"
    space.create_nad("mn-churn", _conf("mn-churn", _macvlan("np-mnmac1"), {
        "type": "whereabouts", "range": cidr}))
    deployments = f"/apis/apps/v1/namespaces/{NS}/deployments"
    for name in ("mn-a", "mn-b"):
        api.create(deployments, _deployment(name, "mn-churn", 1))
    selector = "tier=mn-churn"
    seen_nodes: set[str] = set()
    t0 = time.monotonic()
    for round_ in range(20):
        for replicas in (3, 1):
            for name in ("mn-a", "mn-b"):
                api.merge_patch(f"{deployments}/{name}", {"spec": {"replicas": replicas}})
            wait_for(f"round {round_}: {replicas} replica(s) each, running with addresses",
                     functools.partial(_settled, api, selector, 2 * replicas), timeout=120,
                     interval=0.5)

            def consistent() -> bool:
                return _pool(api, cidr) == _running_addresses(api, selector)

            try:
                wait_for("the IPPool to hold exactly the running pods' addresses", consistent,
                         timeout=30, interval=0.5)
            except TimeoutError:
                pool, running = _pool(api, cidr), _running_addresses(api, selector)
                stale = {ip: ref for ip, ref in pool.items() if running.get(ip) != ref}
                missing = {ip: ref for ip, ref in running.items() if pool.get(ip) != ref}
                pytest.fail(f"round {round_} at {replicas} replicas: stale {stale}, "
                            f"missing {missing}")
            pods = api.get(f"/api/v1/namespaces/{NS}/pods",
                           {"labelSelector": selector})["items"]
            seen_nodes |= {str(p["spec"]["nodeName"]) for p in pods}
    figure(f"whereabouts churn: 20 rounds of 2 workloads 2->6->2 pods over "
           f"{len(seen_nodes)} nodes in {time.monotonic() - t0:.1f}s, the IPPool exact after "
           "each step")
    assert len(seen_nodes) >= 2, f"the workloads never spread: {seen_nodes}"
    for name in ("mn-a", "mn-b"):
        api.delete(f"{deployments}/{name}")


# --------------------------------------------------------------------------- Multus rollout


def _multus_pods(api: Api) -> list[Any]:
    pods = api.get("/api/v1/namespaces/kube-system/pods")["items"]
    return [p for p in pods if any(o.get("kind") == "DaemonSet" and o.get("name") ==
                                   "kube-multus-ds"
                                   for o in p["metadata"].get("ownerReferences") or [])]


def _platform_up(text: str | None, tmp: Any, kubeconfig: Any) -> None:
    """``pulumi up`` of the session's platform stack, from the project or (``text``) a copy
    with another platform stack file, in the project's backend."""
    work = REPO_ROOT
    if text is not None:
        work = engine.project_copy(tmp / "platform-project", {PLATFORM_STACK: text})
    st = engine.stack(PLATFORM_STACK, work_dir=work, kubeconfig=kubeconfig)
    engine.up(st, pulumi_backend_dir(), on_output=engine.printer("  [platform] "))


def test_a_multus_update_rolls_node_by_node_and_pods_keep_their_networks(
        space: NadSpace, nodes: NodeHandle, tmp_path: Any, figure: Any) -> None:
    w1, w2 = _two(nodes)
    api = nodes.cluster.api()
    space.create_nad("mn-keep", _conf("mn-keep", _macvlan("np-mnmac0"), {"type": "static"},
                                      capabilities={"ips": True}))
    kept = [place(space, nodes, f"mn-keep-{i}", n,
                  [{"name": "mn-keep", "interface": "net1", "ips": [f"192.0.2.{i}/24"]}])
            for i, n in ((31, w1), (32, w2))]
    before = {p.name: (p.pod["metadata"]["uid"], link_state(p.netns, "net1")) for p in kept}
    old = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in _multus_pods(api)}
    assert sorted(old.values()) == sorted(nodes.names)

    doc = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{PLATFORM_STACK}.yaml").read_text())
    multus = doc["config"]["netplumb:spec"]["multus"]
    assert multus.get("log_level", "verbose") != "debug"
    multus["log_level"] = "debug"
    ready_counts: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            ready_counts.append(sum(pod_ready(p) for p in _multus_pods(api)))
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    t0 = time.monotonic()
    watcher.start()
    try:
        _platform_up(yaml.safe_dump(doc, sort_keys=False), tmp_path, nodes.cluster.kubeconfig)

        def rolled() -> list[Any] | None:
            pods = _multus_pods(api)
            new = [p for p in pods if p["metadata"]["name"] not in old]
            return new if (len(new) == len(old) == len(pods)
                           and all(pod_ready(p) for p in new)) else None

        new = wait_for("the Multus DaemonSet rolled out on every node", rolled, timeout=240,
                       interval=0.5)
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        watcher.join(timeout=5)
        _platform_up(None, tmp_path, nodes.cluster.kubeconfig)  # back to the project's
        wait_for("Multus ready again on every node after the rollback",
                 lambda: len(_multus_pods(api)) == len(old) and all(
                     pod_ready(p) for p in _multus_pods(api)), timeout=240, interval=1)
    starts = sorted((p["metadata"]["creationTimestamp"], p["spec"]["nodeName"]) for p in new)
    assert [n for _, n in starts] != [] and len({n for _, n in starts}) == len(old)
    assert min(ready_counts) >= len(old) - 1, (
        f"more than one node lost Multus at once during the rollout: {min(ready_counts)}")
    assert starts[0][0] <= starts[-1][0]
    figure(f"Multus rollout over {len(old)} nodes (one at a time, never fewer than "
           f"{min(ready_counts)} ready): {elapsed:.1f}s")
    for p in kept:
        now = api.get(f"/api/v1/namespaces/{NS}/pods/{p.name}")
        assert now["metadata"]["uid"] == before[p.name][0]
        assert all(c.get("restartCount", 0) == 0
                   for c in now["status"].get("containerStatuses") or [])
        assert link_state(p.netns, "net1") == before[p.name][1]
    assert icmp.ping(kept[0].netns, kept[1].ip("net1"), count=3) >= 1


# --------------------------------------------------------------------------- node failure, drain


def test_a_failed_node_is_named_its_addresses_freed_and_it_comes_back(
        space: NadSpace, nodes: NodeHandle, figure: Any) -> None:
    w1, w2 = _two(nodes)
    api = nodes.cluster.api()
    cidr = "198.51.100.192/27"
    space.create_nad("mn-fail", _conf("mn-fail", _macvlan("np-mnmac1"), {
        "type": "whereabouts", "range": cidr}))
    deployments = f"/apis/apps/v1/namespaces/{NS}/deployments"
    api.create(deployments, _deployment("mn-fail", "mn-fail", 2))
    selector = "app=mn-fail"
    wait_for("two replicas with addresses", lambda: _settled(api, selector, 2), timeout=120)
    pods = api.get(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": selector})["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {w1, w2}, "replicas not spread"
    [victim] = [p for p in pods if p["spec"]["nodeName"] == w2]
    victim_ip = addresses(victim, "net1")[0]
    assert _pool(api, cidr).get(victim_ip) == f"{NS}/{victim['metadata']['name']}"

    failed = nodes.by_name(w2)
    cluster = nodes.cluster
    assert cluster.info is not None and cluster.info.ports is not None
    t0 = time.monotonic()
    killed = harness_node.crash(failed)
    try:
        assert killed, "nothing of the node was running"
        wait_for(f"{w2} NotReady", lambda: not node_ready(api.get(f"/api/v1/nodes/{w2}")),
                 timeout=90, interval=1)
        not_ready_after = time.monotonic() - t0
        kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
        d = diagnose(read_snapshot(kube, [NS]))
        [named] = [f for f in d.findings if f.check == "node"]
        assert named.subject == f"Node {w2}"
        assert f"{NS}/{victim['metadata']['name']}" in named.pods, named

        # the pod on the dead node is deleted (its CNI DEL can never run there)
        api.delete(f"/api/v1/namespaces/{NS}/pods/{victim['metadata']['name']}",
                   {"gracePeriodSeconds": "0"})
        # the dead node's ip-control-loop would free it on the pod's deletion; with that node
        # down, the reconciler of the other does (every minute on the platform stack)
        wait_for("the dead pod's whereabouts address freed by the reconciler",
                 lambda: victim_ip not in _pool(api, cidr), timeout=150, interval=1)
        freed_after = time.monotonic() - t0
        wait_for("the replacement running on the remaining node",
                 lambda: _settled(api, selector, 2), timeout=120)
        assert _pool(api, cidr) == _running_addresses(api, selector)
    finally:
        harness_node.boot(nodes.layout, failed, cluster.info.ports, say=print)
    wait_for(f"{w2} Ready again", lambda: node_ready(api.get(f"/api/v1/nodes/{w2}")),
             timeout=120, interval=1)
    back_after = time.monotonic() - t0
    probe = place(space, nodes, "mn-after-boot", w2, [{"name": "mn-fail",
                                                       "interface": "net1"}])
    assert ipaddress.ip_address(probe.ip("net1")) in ipaddress.ip_network(cidr)
    figure(f"node failure: NotReady {not_ready_after:.1f}s after every process of {w2} was "
           f"killed ({len(killed)} processes); the dead pod's address freed after "
           f"{freed_after:.1f}s; Ready and attaching again {back_after:.1f}s after the crash")
    api.delete(f"{deployments}/mn-fail")


def test_a_drain_moves_a_workload_to_the_other_node_with_pool_addresses(
        space: NadSpace, nodes: NodeHandle) -> None:
    w1, w2 = _two(nodes)
    api = nodes.cluster.api()
    cidr = "198.51.100.224/27"
    space.create_nad("mn-drain", _conf("mn-drain", _macvlan("np-mnmac1"), {
        "type": "whereabouts", "range": cidr}))
    deployments = f"/apis/apps/v1/namespaces/{NS}/deployments"
    api.create(deployments, _deployment("mn-drain", "mn-drain", 2))
    selector = "app=mn-drain"
    wait_for("two replicas with addresses", lambda: _settled(api, selector, 2), timeout=120)
    api.merge_patch(f"/api/v1/nodes/{w2}", {"spec": {"unschedulable": True}})
    try:
        pods = api.get(f"/api/v1/namespaces/{NS}/pods", {"labelSelector": selector})["items"]
        for pod in [p for p in pods if p["spec"]["nodeName"] == w2]:
            name = pod["metadata"]["name"]
            api.create(f"/api/v1/namespaces/{NS}/pods/{name}/eviction", {
                "apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": NS}})
        wait_for("both replicas on the remaining node",
                 lambda: _settled(api, selector, 2) and {
                     p["spec"]["nodeName"] for p in api.get(
                         f"/api/v1/namespaces/{NS}/pods", {"labelSelector": selector})["items"]
                 } == {w1}, timeout=120, interval=0.5)
        wait_for("the IPPool holding exactly the moved workload's addresses",
                 lambda: _pool(api, cidr) == _running_addresses(api, selector), timeout=60,
                 interval=0.5)
        assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
                   for ip in _running_addresses(api, selector))
    finally:
        api.merge_patch(f"/api/v1/nodes/{w2}", {"spec": {"unschedulable": None}})
        api.delete(f"{deployments}/mn-drain")


# --------------------------------------------------------------------------- node selectors


SRIOV_LABEL = "feature.node.kubernetes.io/network-sriov.capable"


def _scheduled_on_one(api: Api, path: str) -> bool:
    return bool(api.get(path)["status"].get("desiredNumberScheduled") == 1)


def test_a_pool_node_selector_keeps_workload_and_device_plugin_on_labelled_nodes(
        nodes: NodeHandle, tmp_path: Any) -> None:
    """The workload goes through the engine; the pool's device plugin objects are netplumb's
    render, applied directly: its image is not built here, so the engine would wait for a
    DaemonSet that can never be ready (what matters is where it is scheduled)."""
    _, w2 = _two(nodes)
    api = nodes.cluster.api()
    kube = Kube.from_kubeconfig(str(nodes.cluster.kubeconfig))
    selector = {SRIOV_LABEL: "true"}
    pool = SriovPoolArgs.parse({
        "namespace": f"{NS}-sel", "resource_prefix": "netplumb.test",
        "pools": [{"resource_name": "mnpool",
                   "selectors": {"vendors": ["8086"], "drivers": ["iavf"]}}],
        "node_selector": selector})
    stack = f"""config:
  netplumb:spec:
    workloads:
      - kind: Deployment
        name: mn-selected
        namespace: {NS}-sel
        image: {TOOLBOX_IMAGE}
        command: [sleep, "86400"]
        replicas: 2
        termination_grace_period_seconds: 0
        node_selector: {{{SRIOV_LABEL}: "true"}}
"""
    api.merge_patch(f"/api/v1/nodes/{w2}", {"metadata": {"labels": selector}})
    made_ns = api.create("/api/v1/namespaces", {"metadata": {"name": f"{NS}-sel"}})
    project = engine.project_copy(tmp_path / "project", {"mnsel": stack})
    st = engine.stack("mnsel", work_dir=project, kubeconfig=nodes.cluster.kubeconfig,
                      backend=tmp_path / "backend")
    try:
        st.up(on_output=engine.printer())
        pods = api.get(f"/api/v1/namespaces/{NS}-sel/pods",
                       {"labelSelector": "app=mn-selected"})["items"]
        assert len(pods) == 2 and {p["spec"]["nodeName"] for p in pods} == {w2}
        for manifest in sriov_manifests(pool):
            kube.apply(manifest, field_manager="netplumb-test")
        [ds] = [m for m in sriov_manifests(pool) if m["kind"] == "DaemonSet"]
        path = f"/apis/apps/v1/namespaces/{NS}-sel/daemonsets/{ds['metadata']['name']}"
        wait_for("the device plugin DaemonSet scheduled", functools.partial(
            _scheduled_on_one, api, path), timeout=60)
        owned = wait_for("its pod", lambda: [
            p for p in api.get(f"/api/v1/namespaces/{NS}-sel/pods")["items"]
            if any(o.get("name") == ds["metadata"]["name"]
                   for o in p["metadata"].get("ownerReferences") or [])] or None, timeout=60)
        assert [p["spec"]["nodeName"] for p in owned] == [w2]
    finally:
        try:
            st.destroy(on_output=engine.printer())
            st.workspace.remove_stack("mnsel")
        finally:
            api.merge_patch(f"/api/v1/nodes/{w2}", {"metadata": {"labels": {SRIOV_LABEL: None}}})
            if made_ns is not None:
                api.delete(f"/api/v1/namespaces/{NS}-sel")
                wait_for(f"namespace {NS}-sel gone", lambda: api.get_or_none(
                    f"/api/v1/namespaces/{NS}-sel") is None, timeout=120, interval=1)
