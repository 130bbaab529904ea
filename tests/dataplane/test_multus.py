"""MultusPodNetwork against a real kube-apiserver: real Multus, real plugins, real namespaces.

The test drives :class:`harness.podnet.MultusPodNetwork` directly (as the node agent does) for
pods that no scheduler binds (``schedulerName: npt-unscheduled``), so whatever pod network the
embedded node agent runs never touches them. Its cluster network is its own bridge
(``np-tcl…``, 198.51.100.128/25) so it can run beside a node agent using ``np-cluster0``.
Secondary networks: macvlan and bridge NADs on test underlay links, host-local in a temp dir.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness import underlay
from netplumb.render.nad import nad_crd
from tests.dataplane.netns import Sandbox, link, ping, reservations, token

# the `cluster` fixture comes from harness.pytest_fixtures (registered in tests/conftest.py)
pytest.importorskip("harness.pytest_fixtures")
podnet = pytest.importorskip("harness.podnet")
node = pytest.importorskip("harness.node")

GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
CRD_NAME = f"{PLURAL}.{GROUP}"
STATUS = "k8s.v1.cni.cncf.io/network-status"
CLUSTER_SUBNET = "198.51.100.128/25"

NAD_CRD: dict[str, Any] = nad_crd()  # netplumb's own CRD, as the stacks install it


class Kube:
    """The few API calls the test needs (kubernetes client)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        # dict bodies and raw responses: typed as Any on purpose
        self.core: Any = client.CoreV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.ext: Any = client.ApiextensionsV1Api(api_client)

    def ensure_crd(self) -> bool:
        """Install the NAD CRD if missing; True if this call installed it."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.ext.read_custom_resource_definition(CRD_NAME)
            return False
        except ApiException as e:
            if e.status != 404:
                raise
        self.ext.create_custom_resource_definition(NAD_CRD)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crd = self.ext.read_custom_resource_definition(CRD_NAME)
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") == "True":
                return True
            time.sleep(0.2)
        raise TimeoutError("NAD CRD not established")

    def nad(self, ns: str, name: str, config: dict[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"config": json.dumps(config)}}
        self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)

    def pod(self, ns: str, name: str, networks: Any = None) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        ann = {}
        if networks is not None:
            ann["k8s.v1.cni.cncf.io/networks"] = (
                networks if isinstance(networks, str) else json.dumps(networks))
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "annotations": ann},
                "spec": {"schedulerName": "npt-unscheduled",
                         "automountServiceAccountToken": False,
                         "containers": [{"name": "c", "image": "registry.invalid/pause:1"}]}}
        deadline = time.monotonic() + 30
        while True:
            try:
                self.core.create_namespaced_pod(ns, body)
                break
            except ApiException as e:  # the namespace's default ServiceAccount may lag
                if time.monotonic() > deadline or "serviceaccount" not in str(e.body).lower():
                    raise
                time.sleep(0.5)
        return self.get_pod(ns, name)

    def get_pod(self, ns: str, name: str) -> dict[str, Any]:
        raw = self.core.read_namespaced_pod(name, ns, _preload_content=False)
        pod: dict[str, Any] = json.loads(raw.data)
        return pod

    def delete_pod(self, ns: str, name: str) -> None:
        with contextlib.suppress(Exception):
            self.core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


@pytest.fixture(scope="module")
def kube(cluster: Any) -> Iterator[Kube]:
    k = Kube(cluster.api_client())
    installed = k.ensure_crd()
    try:
        yield k
    finally:
        if installed:  # leave the apiserver as we found it (e2e installs the CRD itself)
            with contextlib.suppress(Exception):
                k.ext.delete_custom_resource_definition(CRD_NAME)


@pytest.fixture
def kns(kube: Kube) -> Iterator[str]:
    name = f"npt-{token(8)}"
    kube.core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            kube.core.delete_namespace(name)


@pytest.fixture
def mpn(cluster: Any, sandbox: Sandbox, tmp_path: Path, multus_bin: Path) -> Iterator[Any]:
    """A MultusPodNetwork with its own state dir and cluster bridge; everything it made is
    released (every sandbox DELed, namespaces removed) after the test."""
    bins = multus_bin
    ctx = node.PodNetworkContext("npt-node", Path(cluster.kubeconfig), tmp_path / "state")
    bridge = sandbox.link_name("cl")
    net = podnet.MultusPodNetwork(ctx, bin_dir=bins, cluster_subnet=CLUSTER_SUBNET,
                                  cluster_bridge=bridge)
    try:
        yield net
    finally:
        left = [r["netns"] for r in net.sandboxes()]
        net.adopt(())
        assert net.sandboxes() == []
        assert not set(left) & set(podnet.list_netns())


def _underlay(sandbox: Sandbox) -> tuple[str, str, str]:
    return sandbox.link_name("m"), sandbox.link_name("b"), sandbox.link_name("d")


def _nads(kube: Kube, ns: str, data: Path, master: str, br: str) -> None:
    kube.nad(ns, "macvlan-conf", {
        "cniVersion": "1.0.0", "name": "macvlan-conf", "type": "macvlan", "master": master,
        "mode": "bridge", "capabilities": {"ips": True},
        "ipam": {"type": "host-local", "dataDir": str(data),
                 "ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100",
                              "rangeEnd": "192.0.2.150", "gateway": "192.0.2.1"}]]}})
    kube.nad(ns, "bridge-conf", {
        "cniVersion": "1.0.0", "name": "bridge-conf", "type": "bridge", "bridge": br,
        "ipam": {"type": "host-local", "dataDir": str(data),
                 "ranges": [[{"subnet": "203.0.113.0/24", "rangeStart": "203.0.113.10",
                              "rangeEnd": "203.0.113.200"}]]}})


def _ns_addrs(netns: str) -> dict[str, dict[str, Any]]:
    out = {}
    for li in underlay.ip_json("addr", "show", netns=netns):
        out[str(li["ifname"])] = {
            "mac": li.get("address"),
            "ips": sorted(a["local"] for a in li.get("addr_info") or []
                          if a.get("scope") == "global"),
        }
    return out


def test_pods_with_secondary_networks(kube: Kube, kns: str, mpn: Any, sandbox: Sandbox,
                                      tmp_path: Path) -> None:
    master, br, _ = _underlay(sandbox)
    data = tmp_path / "ipam"
    _nads(kube, kns, data, master, br)
    one = kube.pod(kns, "pod-one", [{"name": "macvlan-conf", "interface": "net1"}])
    two = kube.pod(kns, "pod-two", "macvlan-conf@net1,bridge-conf@net2")
    try:
        t0 = time.monotonic()
        ips_one = mpn.setup(one)
        t1 = time.monotonic()
        ips_two = mpn.setup(two)
        t2 = time.monotonic()
        print(f"\nMultus ADD: 1 secondary {t1 - t0:.2f}s, 2 secondaries {t2 - t1:.2f}s")
        for ips in (ips_one, ips_two):
            assert len(ips) == 1 and ipaddress.ip_address(ips[0]) in ipaddress.ip_network(
                CLUSTER_SUBNET)
        # the underlay links were made by the pod network from the NADs
        assert link(None, master) is not None and link(None, br) is not None
        ns_one = podnet.netns_name(one["metadata"]["uid"])
        ns_two = podnet.netns_name(two["metadata"]["uid"])
        a_one, a_two = _ns_addrs(ns_one), _ns_addrs(ns_two)
        assert set(a_one) == {"lo", "eth0", "net1"}
        assert set(a_two) == {"lo", "eth0", "net1", "net2"}
        assert a_one["eth0"]["ips"] == ips_one
        # network-status, written by Multus, matches the namespaces
        for pod, addrs in ((one, a_one), (two, a_two)):
            fresh = kube.get_pod(kns, pod["metadata"]["name"])
            status = json.loads(fresh["metadata"]["annotations"][STATUS])
            by_if = {s["interface"]: s for s in status}
            assert set(by_if) == set(addrs) - {"lo"}
            for ifname, s in by_if.items():
                assert sorted(s["ips"]) == addrs[ifname]["ips"], (ifname, s)
                assert s["mac"] == addrs[ifname]["mac"], (ifname, s)
            assert by_if["eth0"].get("default") is True
            assert by_if["net1"]["name"] == f"{kns}/macvlan-conf"
        # traffic over each network
        assert ping(ns_one, a_two["net1"]["ips"][0]) >= 2  # macvlan
        assert ping(ns_two, a_one["net1"]["ips"][0]) >= 2
        assert ping(ns_one, ips_two[0]) >= 2  # cluster bridge
        # idempotent setup: same IPs, no second ADD
        assert mpn.setup(one) == ips_one
        assert len(reservations(data, "macvlan-conf")) == 2
        assert len(reservations(data, "bridge-conf")) == 1
    finally:
        for p in (one, two):
            mpn.teardown(p)
            kube.delete_pod(kns, p["metadata"]["name"])
    assert ns_one not in podnet.list_netns() and ns_two not in podnet.list_netns()
    assert reservations(data, "macvlan-conf") == []
    assert reservations(data, "bridge-conf") == []
    assert reservations(mpn.ipam_dir, podnet.CLUSTER_NETWORK_NAME) == []
    assert not [e for e in mpn.cache_dir.iterdir() if e.is_file()]
    assert mpn.sandboxes() == []


def _static_pod(kube: Kube, kns: str, sandbox: Sandbox, name: str,
                selection: dict[str, Any]) -> dict[str, Any]:
    master = sandbox.link_name("m")
    kube.nad(kns, "static-conf", {
        "cniVersion": "1.0.0", "name": "static-conf", "type": "macvlan", "master": master,
        "capabilities": {"ips": True}, "ipam": {"type": "static"}})
    return kube.pod(kns, name, [{"name": "static-conf", "interface": "net1", **selection}])


def test_static_ip_selection(kube: Kube, kns: str, mpn: Any, sandbox: Sandbox) -> None:
    """A selection's ``ips`` reaches static IPAM (NAD declares ``capabilities.ips``)."""
    pod = _static_pod(kube, kns, sandbox, "pod-static", {"ips": ["192.0.2.50/24"]})
    try:
        mpn.setup(pod)
        ns = podnet.netns_name(pod["metadata"]["uid"])
        assert _ns_addrs(ns)["net1"]["ips"] == ["192.0.2.50"]
        defaults = underlay.ip_json("route", "show", "default", netns=ns)
        assert [r["dev"] for r in defaults] == ["eth0"]  # the cluster network keeps it
    finally:
        mpn.teardown(pod)
        kube.delete_pod(kns, "pod-static")


def test_default_route_selection(kube: Kube, kns: str, mpn: Any, sandbox: Sandbox) -> None:
    pod = _static_pod(kube, kns, sandbox, "pod-defroute",
                      {"ips": ["192.0.2.51/24"], "default-route": ["192.0.2.1"]})
    try:
        mpn.setup(pod)
        ns = podnet.netns_name(pod["metadata"]["uid"])
        assert _ns_addrs(ns)["net1"]["ips"] == ["192.0.2.51"]
        defaults = underlay.ip_json("route", "show", "default", netns=ns)
        assert [(r["dev"], r.get("gateway")) for r in defaults] == [("net1", "192.0.2.1")]
    finally:
        mpn.teardown(pod)
        kube.delete_pod(kns, "pod-defroute")


def test_host_device_through_multus(kube: Kube, kns: str, mpn: Any, sandbox: Sandbox) -> None:
    dev = sandbox.link_name("d")
    kube.nad(kns, "hostdev-conf", {"cniVersion": "1.0.0", "name": "hostdev-conf",
                                   "type": "host-device", "device": dev})
    pod = kube.pod(kns, "pod-hostdev", [{"name": "hostdev-conf", "interface": "net1"}])
    try:
        mpn.setup(pod)
        ns = podnet.netns_name(pod["metadata"]["uid"])
        assert link(None, dev) is None and link(ns, "net1") is not None
    finally:
        mpn.teardown(pod)
        kube.delete_pod(kns, "pod-hostdev")
    assert link(None, dev) is not None, "host-device link not moved back on DEL"


def test_missing_nad_fails_clearly_and_leaves_nothing(kube: Kube, kns: str, mpn: Any) -> None:
    pod = kube.pod(kns, "pod-bad", "no-such-nad@net1")
    try:
        with pytest.raises(node.PodNetworkError) as exc:
            mpn.setup(pod)
        assert "no-such-nad" in str(exc.value)
        assert podnet.netns_name(pod["metadata"]["uid"]) not in podnet.list_netns()
        assert mpn.sandboxes() == []
        assert reservations(mpn.ipam_dir, podnet.CLUSTER_NETWORK_NAME) == []
    finally:
        mpn.teardown(pod)
        kube.delete_pod(kns, "pod-bad")


def test_restart_adopts_live_and_collects_orphans(kube: Kube, kns: str, mpn: Any) -> None:
    keep = kube.pod(kns, "pod-keep")
    drop = kube.pod(kns, "pod-drop")
    try:
        ips_keep = mpn.setup(keep)
        mpn.setup(drop)
        kube.delete_pod(kns, "pod-drop")
        # "restart": a new instance on the same state dir
        again = podnet.MultusPodNetwork(mpn.ctx, bin_dir=mpn.cni_bin,
                                        cluster_subnet=CLUSTER_SUBNET,
                                        cluster_bridge=mpn.cluster_bridge)
        removed = again.adopt([keep["metadata"]["uid"]])
        assert removed == [podnet.netns_name(drop["metadata"]["uid"])]
        assert again.setup(keep) == ips_keep
        assert podnet.netns_name(keep["metadata"]["uid"]) in podnet.list_netns()
        assert len(reservations(mpn.ipam_dir, podnet.CLUSTER_NETWORK_NAME)) == 1
    finally:
        mpn.teardown(keep)
        mpn.teardown(drop)
        kube.delete_pod(kns, "pod-keep")


def test_concurrent_pods(kube: Kube, kns: str, mpn: Any, sandbox: Sandbox,
                         tmp_path: Path) -> None:
    master, br, _ = _underlay(sandbox)
    _nads(kube, kns, tmp_path / "ipam", master, br)
    pods = [kube.pod(kns, f"pod-c{i}", "macvlan-conf,bridge-conf") for i in range(8)]
    try:
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(mpn.setup, pods))
        print(f"\n8 pods x 2 secondaries, 4 workers: {time.monotonic() - t0:.2f}s")
        assert len({r[0] for r in results}) == 8
        assert len(reservations(tmp_path / "ipam", "macvlan-conf")) == 8
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(mpn.teardown, pods))
        for p in pods:
            kube.delete_pod(kns, p["metadata"]["name"])
    assert reservations(tmp_path / "ipam", "macvlan-conf") == []
