"""The embedded control plane and its real node, end to end.

Runs against the session's cluster (``cluster``/``node``/``pod_network`` fixtures), except the
lifecycle test at the bottom, which runs a control plane of its own in a temporary directory
so that ``down`` can be checked without disturbing the shared one (the node's ``down`` is
checked by ``test_host_restore.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import cluster as embedded
from harness import tools, underlay
from harness.cluster import Api, ApiError, pod_ready, wait_for
from harness.cluster.layout import CLUSTER_BRIDGE
from harness.node.images import TOOLBOX_IMAGE
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle, NetworkHandle, NodeHandle, session_target
from tests.e2e.nadspace import pod_body

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(cluster: ClusterHandle) -> Api:
    return cluster.api()


@pytest.fixture
def namespace(api: Api) -> Iterator[str]:
    name = f"np-e2e-{uuid.uuid4().hex[:8]}"
    api.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    wait_for("the default ServiceAccount",
             lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default"))
    try:
        yield name
    finally:
        api.delete(f"/api/v1/namespaces/{name}")


def _expected_version() -> str:
    data = tomllib.loads((REPO_ROOT / "tools/kubernetes/tool.toml").read_text())
    return str(data["version"])


def _running(api: Api, path: str) -> Any:
    return wait_for(f"{path} Running and Ready",
                    lambda: (p := api.get(path)) and pod_ready(p) and p, timeout=90)


# --------------------------------------------------------------------------- control plane


def test_version_is_stamped(cluster: ClusterHandle, api: Api) -> None:
    version = api.get("/version")
    if not cluster.embedded:
        pytest.skip("external cluster: its version is not ours to check")
    want = _expected_version()
    assert version["gitVersion"] == want
    assert (version["major"], version["minor"].rstrip("+")) == ("1", want.split(".")[1])
    for binary in ("kube-apiserver", "kubelet", "kube-proxy"):
        out = subprocess.run([str(tools.bin_dir() / binary), "--version"], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == f"Kubernetes {want}", binary


def _listening(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of the TCP sockets ``pids`` listen on, each read in the process'
    own network namespace (``/proc/<pid>/net``: a node's processes are in the node's)."""
    out: list[tuple[int, str, int]] = []
    for pid in pids:
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        for table, width in (("tcp", 4), ("tcp6", 16)):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                    parts = line.split()
                    if parts[3] != "0A" or parts[9] not in inodes:
                        continue
                    addr_hex, port_hex = parts[1].split(":")
                    raw = bytes.fromhex(addr_hex)
                    words = [raw[i: i + 4][::-1] for i in range(0, width, 4)]
                    out.append((pid, str(ipaddress.ip_address(b"".join(words))),
                                int(port_hex, 16)))
    return out


def _netns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_components_listen_on_loopback_and_the_node_link_only(node: NodeHandle) -> None:
    """Everything listens on 127.0.0.1 (the host's, or the node's own inside a node), except
    what must be reachable from pods, from the apiserver and from the host: the apiserver
    itself, on the host bridge ``np-cluster`` (pods reach it through the ``kubernetes``
    Service, whose Endpoints may not hold a loopback address; each node through its link),
    and on each node the kubelet (logs, exec) and kube-proxy (health, metrics, which the
    harness checks from the host), which bind the node's address on ``np-node0``, a veth
    pair the harness made into the node's network namespace."""
    pids = embedded.component_pids(node.layout.root)
    host_ns = _netns(os.getpid())
    by_netns: dict[str, list[int]] = {}
    for pid in pids:
        by_netns.setdefault(_netns(pid), []).append(pid)
    name = {p: Path(embedded.process_cmdline(p)[0]).name for p in pids}

    def listeners(group: list[int]) -> dict[str, set[str]]:
        by_addr: dict[str, set[str]] = {}
        for pid, addr, _port in _listening(group):
            by_addr.setdefault(addr, set()).add(name[pid])
        return by_addr

    control = by_netns.pop(host_ns, [])
    assert {name[p] for p in control} == {"etcd", "kube-apiserver", "kube-controller-manager",
                                          "kube-scheduler"}
    by_addr = listeners(control)
    assert set(by_addr) == {"127.0.0.1", embedded.APISERVER_IP}, _listening(control)
    assert by_addr[embedded.APISERVER_IP] == {"kube-apiserver"}
    bridge = underlay.host_links()[CLUSTER_BRIDGE]
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    addrs = {a["local"] for a in underlay.ip_json("-4", "addr", "show", "dev",
                                                  CLUSTER_BRIDGE)[0]["addr_info"]}
    assert addrs == {embedded.APISERVER_IP}

    nodes = node.nodes
    assert nodes, "the cluster has no node"
    assert len(by_netns) == len(nodes), by_netns
    for n in nodes:
        group = by_netns.pop(f"net:[{n.ns.inode('net')}]", [])
        assert {name[p] for p in group} == {"containerd", "kubelet", "kube-proxy"}, n.name
        assert len(group) == 3, (n.name, group)
        by_addr = listeners(group)
        assert set(by_addr) == {"127.0.0.1", n.ip}, (n.name, _listening(group))
        assert by_addr[n.ip] == {"kubelet", "kube-proxy"}, n.name
        link = underlay.host_links(n.ns)[embedded.NODE_LINK]
        assert link["linkinfo"]["info_kind"] == "veth"
        addrs = {a["local"] for a in underlay.ip_json("-4", "addr", "show", "dev",
                                                      embedded.NODE_LINK,
                                                      netns=n.ns)[0]["addr_info"]}
        assert addrs == {n.ip}, n.name
        host_end = underlay.host_links()[n.spec.host_link]
        assert host_end["linkinfo"]["info_kind"] == "veth"
        assert host_end.get("master") == CLUSTER_BRIDGE, n.name
    assert by_netns == {}


def test_kubernetes_service_points_at_the_apiserver_address(node: NodeHandle,
                                                            api: Api) -> None:
    svc = api.get("/api/v1/namespaces/default/services/kubernetes")
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network(
        embedded.SERVICE_CIDR)
    slices = api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                     {"labelSelector": "kubernetes.io/service-name=kubernetes"})["items"]
    addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e["addresses"]}
    assert addresses == {embedded.APISERVER_IP}


# --------------------------------------------------------------------------- the node


def test_every_node_is_ready_with_its_runtime_and_a_fresh_lease(pod_network: NetworkHandle,
                                                                api: Api) -> None:
    nodes = pod_network.node.nodes
    registered = {n["metadata"]["name"] for n in api.get("/api/v1/nodes")["items"]}
    assert registered == {n.name for n in nodes}, registered
    cidrs: list[ipaddress.IPv4Network] = []
    for spec in nodes:
        node = api.get(f"/api/v1/nodes/{spec.name}")
        assert embedded.node_ready(node), spec.name
        conds = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        # NetworkUnavailable is Flannel's: False once it has set up the node's pod network
        assert conds == {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False",
                         "PIDPressure": "False", "NetworkUnavailable": "False"}, spec.name
        assert {"type": "InternalIP", "address": spec.ip} in node["status"]["addresses"]
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == api.get("/version")["gitVersion"]
        assert info["containerRuntimeVersion"] == "containerd://2.4.2"
        pod_cidr = ipaddress.IPv4Network(node["spec"]["podCIDR"])
        assert pod_cidr.subnet_of(ipaddress.IPv4Network(embedded.POD_CIDR))
        assert not any(pod_cidr.overlaps(c) for c in cidrs), (spec.name, pod_cidr, cidrs)
        cidrs.append(pod_cidr)
        lease_path = (f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                      f"{spec.name}")
        first = api.get(lease_path)["spec"]["renewTime"]

        def renewed_since(path: str = lease_path, first: Any = first) -> Any:
            return (t := api.get(path)["spec"]["renewTime"]) != first and t

        second = wait_for(f"a lease renewal of {spec.name}", renewed_since, timeout=30)
        renewed = dt.datetime.fromisoformat(second.replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.UTC) - renewed).total_seconds()) < 5, spec.name


def test_daemonset_pod_runs_on_every_node(pod_network: NetworkHandle, api: Api,
                                          namespace: str) -> None:
    template = pod_body("agent")
    template["spec"]["containers"].append(
        {"name": "sidecar", "image": TOOLBOX_IMAGE, "command": ["sleep", "86400"]})
    template["spec"]["initContainers"] = [
        {"name": "init", "image": TOOLBOX_IMAGE, "command": ["true"]}]
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": template["metadata"], "spec": template["spec"]}}}
    api.request("POST", f"/apis/apps/v1/namespaces/{namespace}/daemonsets", ds)
    names = sorted(pod_network.node.names)

    def ready_ds() -> Any:
        d = api.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/agent")
        st = d.get("status") or {}
        return (st.get("desiredNumberScheduled") == len(names)
                and st.get("numberReady") == len(names) and d)

    wait_for("the DaemonSet to be ready", ready_ds, timeout=90)
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    # one pod per node
    assert sorted(p["spec"]["nodeName"] for p in pods) == names
    for pod in pods:
        assert pod_ready(pod)
        statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
        assert set(statuses) == {"main", "sidecar"}
        for c in statuses.values():
            assert c["ready"] is True and c["started"] is True and "running" in c["state"]
            assert c["containerID"].startswith("containerd://") and "sha256:" in c["imageID"]
        (init,) = pod["status"]["initContainerStatuses"]
        assert init["state"]["terminated"]["reason"] == "Completed"


def test_deployment_pods_get_distinct_pod_network_addresses(pod_network: NetworkHandle,
                                                            api: Api, namespace: str) -> None:
    template = pod_body("web")
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": template["metadata"],
                                 "spec": template["spec"]}}}
    api.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", dep)

    def available() -> Any:
        d = api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        conds = {c["type"]: c["status"] for c in (d.get("status") or {}).get("conditions") or []}
        return conds.get("Available") == "True" and d["status"].get("readyReplicas") == 3 and d

    wait_for("the Deployment to be Available", available, timeout=120)
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": "app=web"})["items"]
    assert len(pods) == 3 and all(pod_ready(p) for p in pods)
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3, f"pod IPs must be distinct: {ips}"
    # the pods land on either node: each address is in the pod CIDR of its own node
    for p in pods:
        node = api.get(f"/api/v1/nodes/{p['spec']['nodeName']}")
        pod_cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        assert ipaddress.ip_address(p["status"]["podIP"]) in pod_cidr, (
            p["metadata"]["name"], p["status"]["podIP"], node["metadata"]["name"], pod_cidr)


def test_deleted_pod_is_finalised(pod_network: NetworkHandle, api: Api,
                                  namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    body = pod_body("victim")
    # a process that ends on SIGTERM, so the default grace period (30 s) is not waited out
    body["spec"]["containers"][0]["command"] = [
        "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    del body["spec"]["terminationGracePeriodSeconds"]
    api.request("POST", path, body)
    _running(api, f"{path}/victim")
    t = time.monotonic()
    api.request("DELETE", f"{path}/victim")

    def gone() -> bool:
        try:
            api.get(f"{path}/victim")
        except ApiError as e:
            return e.status == 404
        return False

    wait_for("the pod to be finalised", gone, timeout=25)
    assert time.monotonic() - t < 25


def _on(node_name: str) -> dict[str, Any]:
    return {"nodeSelector": {"kubernetes.io/hostname": node_name}}


def test_host_network_pod_gets_the_node_address(node: NodeHandle, api: Api,
                                                namespace: str) -> None:
    """A hostNetwork pod on each node (pinned there) has that node's address."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    for n in node.nodes:
        body = pod_body(f"hostnet-{n.name}", hostNetwork=True, **_on(n.name))
        body["spec"]["tolerations"] = [{"operator": "Exists"}]  # runs before the pod network
        api.request("POST", path, body)
    for n in node.nodes:
        pod = _running(api, f"{path}/hostnet-{n.name}")
        assert pod["spec"]["nodeName"] == n.name
        assert pod["status"]["podIP"] == n.ip == node.of_pod(namespace, f"hostnet-{n.name}").ip


def test_logs_and_exec_reach_the_kubelet(pod_network: NetworkHandle, cluster: ClusterHandle,
                                         api: Api, namespace: str) -> None:
    """The apiserver dials each node's kubelet at the node's InternalIP with its client
    certificate: without those flags ``logs`` and ``exec`` fail with "no such host". A pod
    pinned to each node."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    names = {n.name: f"talker-{n.name}" for n in pod_network.node.nodes}
    for node_name, pod_name in names.items():
        body = pod_body(pod_name, **_on(node_name))
        body["spec"]["containers"][0]["command"] = [
            "sh", "-c", f"echo hello-from-{node_name}; exec sleep 86400"]
        api.request("POST", path, body)
    kubectl = str(tools.bin_dir() / "kubectl")
    env = cluster.env()
    for node_name, pod_name in names.items():
        _running(api, f"{path}/{pod_name}")

        def log(pod: str = pod_name) -> str:
            return subprocess.run([kubectl, "-n", namespace, "logs", pod], capture_output=True,
                                  text=True, env=env, check=True).stdout

        logs = wait_for(f"the log of {pod_name}", log, timeout=30)
        assert f"hello-from-{node_name}" in logs
        out = subprocess.run([kubectl, "-n", namespace, "exec", pod_name, "--", "ip", "-o",
                              "addr", "show", "dev", "eth0"], capture_output=True, text=True,
                             env=env, timeout=60, check=True).stdout
        pod = api.get(f"{path}/{pod_name}")
        assert pod["spec"]["nodeName"] == node_name
        assert f"inet {pod['status']['podIP']}/" in out


def test_sandbox_failure_is_an_event_and_retried(pod_network: NetworkHandle, api: Api,
                                                 namespace: str) -> None:
    """A pod selecting a NAD that does not exist yet: the kubelet reports Multus' error as a
    FailedCreatePodSandBox event and keeps retrying; once the NAD exists the pod runs. (The
    bridge plugin makes the NAD's bridge on the pod's node; it goes from every node.)"""
    path = f"/api/v1/namespaces/{namespace}/pods"
    api.request("POST", path, pod_body("early", [{"name": "later", "interface": "net1"}]))

    def sandbox_events() -> list[Any]:
        evs = api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
        return [e for e in evs if e["involvedObject"]["name"] == "early"
                and e["reason"] == "FailedCreatePodSandBox"]

    (event, *_) = wait_for("a FailedCreatePodSandBox event", sandbox_events, timeout=60)
    assert event["type"] == "Warning"
    assert "later" in event["message"] and "multus" in event["message"].lower()
    assert event["source"].get("component") == "kubelet"
    assert api.get(f"{path}/early")["status"]["phase"] == "Pending"
    nad = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": "later"},
           "spec": {"config": '{"cniVersion": "0.3.1", "name": "later", "type": "bridge", '
                              '"bridge": "np-tlater0", "ipam": {"type": "static", '
                              '"addresses": [{"address": "192.0.2.77/24"}]}}'}}
    api.request("POST", f"/apis/k8s.cni.cncf.io/v1/namespaces/{namespace}/"
                        "network-attachment-definitions", nad)
    try:
        _running(api, f"{path}/early")
    finally:
        api.delete(f"{path}/early")
        wait_for("the pod to go", lambda: api.get_or_none(f"{path}/early") is None, 60)
        for n in pod_network.node.nodes:
            underlay.ip("link", "del", "np-tlater0", netns=n.ns, check=False)


# --------------------------------------------------------------------------- lifecycle


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_up_is_idempotent_and_down_leaves_nothing(tmp_path: Path,
                                                  pytestconfig: pytest.Config) -> None:
    """A private control plane: up, up again (reused), crash-like loss of pidfiles, down."""
    cdir = tmp_path / "cluster"
    if session_target(pytestconfig).external:
        pytest.skip("external cluster: not starting an embedded one")
    try:
        t = time.monotonic()
        info = embedded.up(cdir, node=False)
        elapsed = time.monotonic() - t
        assert info.ready and not info.reused and not info.node
        print(f"embedded control plane start to Ready: {elapsed:.1f}s")
        assert info.kubeconfig == cdir.resolve() / "admin.kubeconfig"
        pids = embedded.component_pids(cdir)
        assert len(pids) == 4
        ports = {port for _pid, _addr, port in embedded.listening_sockets(pids)}
        assert info.ports is not None and info.ports.apiserver in ports
        assert {a for _p, a, _port in embedded.listening_sockets(pids)} == {"127.0.0.1"}

        again = embedded.up(cdir, node=False)
        assert again.reused and again.ready
        assert embedded.component_pids(cdir) == pids

        # a crashed CLI loses its bookkeeping: down must still find the processes
        for pidfile in (cdir / "run").glob("*.pid"):
            pidfile.unlink()
        assert not embedded.status(cdir).ready
        stopped = embedded.down(cdir)
        assert sorted(stopped) == sorted(pids)
    finally:
        embedded.down(cdir)
    assert not cdir.exists()
    assert [p for p in pids if _alive(p)] == []
    assert embedded.listening_sockets(pids) == []
