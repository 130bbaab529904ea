"""The node plugin on the real node: CNI metrics measured from real operations through Multus
thick, operations unaffected when the metrics side is stopped, and dhcp IPAM through its
dhcp daemon with Debian's dnsmasq as the DHCP server.

The platform stack (session fixture ``pod_network``) placed the node plugin beside Multus on
every node: its init container put the pinned plugins into the node's ``/opt/cni/bin``, each
behind the measuring shim; its ``metrics`` container serves ``:9561`` on the node's host
network (reached from the host at the node's address). Pods here are created directly in one
namespace (``nadspace``) so the test knows exactly which CNI operations happened: each pod is
one ADD per plugin of its network when its sandbox starts and one DEL when it stops, counted
by the node that runs it. So every test pins its pods to one node (``nodeSelector``) and
reads that node's metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from harness import underlay
from harness.cluster.api import wait_for
from harness.datapath import link_state
from harness.node import Node, cri
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle
from netplumb.args.nad import BridgeNetworkArgs, MacvlanNetworkArgs
from netplumb.cni.config import CniConfig
from netplumb.render.nad import nad
from tests.e2e import nodemetrics as nm
from tests.e2e.nadspace import NADS, NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "nodeplugin"
NODE_PLUGIN_DS = "/apis/apps/v1/namespaces/kube-system/daemonsets/netplumb-node"
OPS = "multus_cni_operations_total"
ERRORS = "multus_cni_errors_total"
DURATION = "multus_cni_operation_duration_seconds"
ATTACHMENTS = "multus_network_attachments_total"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
T = TypeVar("T")


@pytest.fixture(scope="module")
def node_plugin(pod_network: NetworkHandle) -> NetworkHandle:
    """The node plugin placed by the platform stack, Ready on every node, its shims in each
    node's CNI bin dir, each node's metrics endpoint answering."""
    api = pod_network.node.cluster.api()
    nodes = pod_network.node.nodes

    def ready() -> bool:
        ds = api.get_or_none(NODE_PLUGIN_DS)
        st = (ds or {}).get("status") or {}
        return bool(ds) and st.get("numberReady", 0) == len(nodes) == (
            st.get("desiredNumberScheduled"))

    wait_for(f"the netplumb-node DaemonSet Ready on {len(nodes)} nodes", ready, timeout=120)
    for node in nodes:
        installed = json.loads(node.path("/opt/cni/bin/.netplumb/installed.json").read_text())
        assert "macvlan" in json.dumps(installed), node.name
        wait_for(f"the node plugin's metrics endpoint on {node.name}",
                 lambda n=node: nm.scrape(n), timeout=60)  # type: ignore[misc]
    return pod_network


@pytest.fixture(scope="module")
def space(node_plugin: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(node_plugin, NS) as space:
        yield space


@pytest.fixture(scope="module")
def pinned(space: NadSpace) -> Node:
    """The node the tests' pods are pinned to (CNI operations are counted, and host-local
    pools kept, per node)."""
    return space.nodes.nodes[0]


def _on(node: Node) -> dict[str, Any]:
    """Pod spec fields that pin a pod to ``node``."""
    return {"nodeSelector": {"kubernetes.io/hostname": node.name}}


def _macvlan(name: str, master: str, ipam: dict[str, Any],
             capabilities: dict[str, bool] | None = None) -> CniConfig:
    spec: dict[str, Any] = {"master": master, "mode": "bridge", "ipam": ipam}
    if capabilities:
        spec["capabilities"] = capabilities
    return MacvlanNetworkArgs.parse(spec).cni_config(name)


def _pod(space: NadSpace, name: str) -> Any:
    return space.pod(name)


def _running(space: NadSpace, name: str, timeout: float = 90) -> Any:
    def check() -> Any:
        pod = _pod(space, name)
        return pod if pod["status"].get("phase") == "Running" else None
    return wait_for(f"pod {NS}/{name} Running", check, timeout=timeout)


def _gone(space: NadSpace, name: str, uid: str, node: Node, timeout: float = 90) -> None:
    """Deleted: the API object gone and its sandbox on ``node`` no longer ready (its network
    torn down)."""
    def check() -> bool:
        if space.api.get_or_none(space.pod_path(name)) is not None:
            return False
        return not any(s.ready and s.uid == uid
                       for s in cri.sandboxes(node.ns, namespace=NS, name=name))
    wait_for(f"pod {NS}/{name} gone", check, timeout=timeout)


def _delete(space: NadSpace, name: str) -> None:
    uid = _pod(space, name)["metadata"]["uid"]
    node = space.nodes.of_pod(NS, name)
    space.api.request("DELETE", space.pod_path(name), query={"gracePeriodSeconds": "0"})
    _gone(space, name, uid, node)


def _status_entry(pod: Any, interface: str = "net1") -> dict[str, Any]:
    status = json.loads(pod["metadata"]["annotations"][NETWORK_STATUS])
    [entry] = [s for s in status if s.get("interface") == interface]
    return dict(entry)


def _settled(fetch: Callable[[], T], ok: Callable[[T], bool], what: str,
             timeout: float = 30) -> T:
    """``fetch()`` once ``ok`` holds for it (scrapes drain what the shim sent first)."""
    found: list[T] = []

    def check() -> bool:
        found[:] = [fetch()]
        return ok(found[0])
    try:
        wait_for(what, check, timeout=timeout)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last: {found[0] if found else None}") from None
    return found[0]


# --------------------------------------------------------------------------- ADD and DEL


def test_add_and_del_through_multus_thick_counted_exactly(space: NadSpace, pinned: Node) -> None:
    """Both pods on one node: its node plugin counts their operations, its host-local pool
    holds their addresses (the other node's plugin counts nothing of this network)."""
    net = "np-metrics"
    space.create_nad(net, _macvlan(net, "np-mtrunder0", {
        "type": "host-local", "subnet": "198.51.100.0/24", "rangeStart": "198.51.100.130",
        "rangeEnd": "198.51.100.139"}))
    sel = [{"name": net, "interface": "net1"}]
    ours = {"network": net}
    others_before = {n: nm.scrape(n) for n in space.nodes.nodes if n.name != pinned.name}
    before = nm.scrape(pinned)

    def scrape() -> nm.Samples:
        return nm.scrape(pinned)

    for name in ("m1", "m2"):
        space.create_pod(name, sel, **_on(pinned))
    for name in ("m1", "m2"):
        _running(space, name)
        assert space.nodes.of_pod(NS, name).name == pinned.name

    def counted(s: nm.Samples) -> bool:
        return s.value(OPS, op="ADD", plugin="macvlan", **ours) >= 2
    added = _settled(scrape, counted, "two macvlan ADDs counted")
    for plugin in ("macvlan", "host-local"):
        assert added.delta(before, OPS, plugin=plugin, op="ADD", result="success",
                           **ours) == 2, plugin
        assert added.delta(before, f"{DURATION}_count", plugin=plugin, op="ADD", **ours) == 2
        assert added.delta(before, f"{DURATION}_bucket", plugin=plugin, op="ADD", le="+Inf",
                           **ours) == 2
        assert added.delta(before, f"{DURATION}_sum", plugin=plugin, op="ADD", **ours) > 0
    # (counters as deltas from before the pods: the node's counters outlive a test run)
    assert added.delta(before, OPS, op="DEL", **ours) == 0
    assert added.delta(before, OPS, result="error", **ours) == 0
    assert added.delta(before, ERRORS, **ours) == 0
    assert added.value(ATTACHMENTS, namespace=NS, **ours) == 2
    for other, was in others_before.items():  # counted where the pods ran only
        assert nm.scrape(other).delta(was, OPS, **ours) == 0, other.name
    # host-local's pool on this node: 10 addresses, 2 handed out
    assert added.value("netplumb_ipam_pool_size", ipam="host-local", **ours) == 10
    assert added.value("netplumb_ipam_pool_allocated", ipam="host-local", **ours) == 2
    # a DEL's result is checked below: the ADD results are the pods' addresses
    addrs = {a for n in ("m1", "m2") for a in _status_entry(_pod(space, n))["ips"]}
    assert len(addrs) == 2 and all(a.startswith("198.51.100.13") for a in addrs)

    _delete(space, "m1")
    one_gone = _settled(scrape, lambda s: s.value(ATTACHMENTS, namespace=NS, **ours) == 1,
                        "one attachment left")
    for plugin in ("macvlan", "host-local"):
        assert one_gone.delta(added, OPS, plugin=plugin, op="DEL", result="success",
                              **ours) == 1, plugin
        assert one_gone.delta(added, f"{DURATION}_count", plugin=plugin, op="DEL", **ours) == 1
    assert one_gone.delta(added, OPS, op="ADD", **ours) == 0
    assert one_gone.value("netplumb_ipam_pool_allocated", ipam="host-local", **ours) == 1

    _delete(space, "m2")
    all_gone = _settled(scrape, lambda s: s.value(ATTACHMENTS, namespace=NS, **ours) == 0,
                        "no attachment left")
    for plugin in ("macvlan", "host-local"):
        assert all_gone.delta(before, OPS, plugin=plugin, op="DEL", result="success",
                              **ours) == 2, plugin
        assert all_gone.delta(before, OPS, plugin=plugin, op="ADD", **ours) == 2
    assert all_gone.delta(before, OPS, result="error", **ours) == 0
    # the series stays, at 0, rather than vanishing
    assert all_gone.matching(ATTACHMENTS, namespace=NS, **ours)
    assert all_gone.value("netplumb_ipam_pool_allocated", ipam="host-local", **ours) == 0


def test_failing_add_counted_with_its_reason(space: NadSpace, pinned: Node) -> None:
    net = "np-nomaster"
    absent = "np-absent0"  # never made: the NAD is created without its underlay
    for n in space.nodes.nodes:
        assert absent not in underlay.host_links(n.ns), n.name
    # macvlan looks its master up before it calls IPAM: no address is ever taken
    config = _macvlan(net, absent, {"type": "host-local", "subnet": "198.51.100.0/24",
                                    "rangeStart": "198.51.100.141",
                                    "rangeEnd": "198.51.100.142"})
    space.api.request("POST", NADS.format(ns=NS), nad(net, NS, config))
    ours = {"network": net, "plugin": "macvlan", "op": "ADD"}
    before = nm.scrape(pinned)
    # pinned: the node that tries (and fails) to set the pod up counts it
    space.create_pod("nomaster", [{"name": net, "interface": "net1"}], **_on(pinned))
    try:
        failed = _settled(lambda: nm.scrape(pinned), lambda s: s.delta(before, ERRORS, **ours) >= 1,
                          "a failed macvlan ADD counted", timeout=60)
        reasons = failed.matching(ERRORS, **ours)
        # macvlan v1.9.1 reads the master's MTU first and returns netlink's error as it is
        # (CNI code 999, no link name)
        assert {dict(lbls)["reason"] for lbls in reasons} == {"999: Link not found"}
        # every failed operation counts once as an error and once with result=error
        assert failed.delta(before, OPS, result="error", **ours) == failed.delta(
            before, ERRORS, **ours)
        assert failed.delta(before, OPS, result="success", **ours) == 0
        assert failed.value(ATTACHMENTS, network=net) == 0
        assert _pod(space, "nomaster")["status"].get("phase") == "Pending"
    finally:
        space.api.request("DELETE", space.pod_path("nomaster"),
                          query={"gracePeriodSeconds": "0"})


# --------------------------------------------------------------------------- metrics stopped


def test_operations_unchanged_with_the_metrics_container_stopped(space: NadSpace,
                                                                 pinned: Node) -> None:
    """The metrics process frozen (SIGSTOP: its socket unread, no scrape answered): a pod's
    ADD and DEL succeed with the same result as with metrics running, and what the shim
    recorded meanwhile is counted once the process continues. Both pods run on one node,
    whose node plugin is the one frozen."""
    net = "np-fixed"
    space.create_nad(net, _macvlan(net, "np-fixunder0", {"type": "static"},
                                   {"ips": True, "mac": True}))
    sel = [{"name": net, "interface": "net1", "ips": ["198.51.100.150/24"],
            "mac": "02:00:c6:33:64:96"}]
    ours = {"network": net, "plugin": "macvlan"}

    def attach_and_detach(name: str) -> tuple[dict[str, Any], tuple[str, set[str]]]:
        space.create_pod(name, sel, **_on(pinned))
        pod = _running(space, name)
        entry = _status_entry(pod)
        inside = link_state(space.nodes.pod_netns(NS, name, pod["metadata"]["uid"]), "net1")
        _delete(space, name)
        return entry, inside

    def scrape() -> nm.Samples:
        return nm.scrape(pinned)

    start = scrape()  # (the node's counters outlive a test run: deltas from here)
    with_metrics = attach_and_detach("fixed-a")
    counted = _settled(scrape, lambda s: s.delta(start, OPS, op="DEL", **ours) == 1,
                       "fixed-a's DEL counted")
    pids = nm.node_plugin_pids(pinned, "metrics")  # the pods' node's
    assert len(pids) == 1, pids
    started = time.monotonic()
    with nm.frozen(pids):
        with pytest.raises(OSError):
            nm.scrape(pinned, timeout=1)
        without_metrics = attach_and_detach("fixed-b")
        took = time.monotonic() - started
    assert without_metrics == with_metrics
    assert with_metrics[1] == ("02:00:c6:33:64:96", {"198.51.100.150/24"})
    print(f"pod create, Running, delete, gone with the metrics process stopped: {took:.1f}s")
    after = _settled(scrape, lambda s: s.delta(start, OPS, op="DEL", **ours) == 2,
                     "fixed-b's operations counted after the metrics process continued")
    assert after.delta(counted, OPS, op="ADD", result="success", **ours) == 1
    assert after.delta(counted, OPS, op="DEL", result="success", **ours) == 1
    assert after.value("netplumb_node_spool_dropped_total") == counted.value(
        "netplumb_node_spool_dropped_total")


# --------------------------------------------------------------------------- dhcp


DHCP_NETNS = "np-dhcpsrv"
DHCP_BRIDGE = "np-dhcpbr0"
DHCP_VETH = "np-dhcpv0"
DHCP_SERVER = "198.51.100.161"
DHCP_RANGE = ("198.51.100.170", "198.51.100.180")


@pytest.fixture
def dhcp_server(space: NadSpace) -> Iterator[Path]:
    """dnsmasq serving DHCP in a network namespace of its own on the host, reachable from
    pods on the bridge ``np-dhcpbr0`` of every node: the nodes' bridges are joined by the
    host bridge of that name (:mod:`harness.segments`), and the server's veth pair is a port
    of that host bridge. Everything removed afterwards."""
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(dnsmasq):
        pytest.skip("Debian's dnsmasq is not installed (apt-get install dnsmasq-base; "
                    ".ci/run does it)")
    if DHCP_NETNS in underlay.netns_names():
        raise AssertionError(f"netns {DHCP_NETNS} exists already: left by someone else")
    made: list[str] = []
    host_made: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="np-dnsmasq-"))
    leases = tmp / "leases"
    proc: subprocess.Popen[bytes] | None = None
    log = open(tmp / "dnsmasq.log", "wb")
    try:
        made += space.nodes.ensure_underlay([underlay.Link(DHCP_BRIDGE, "bridge")])
        underlay.ip("netns", "add", DHCP_NETNS)
        peer = "np-dhcpv1"
        underlay.ip("link", "add", DHCP_VETH, "type", "veth", "peer", "name", peer)
        host_made.append(DHCP_VETH)
        underlay.ip("link", "set", peer, "netns", DHCP_NETNS)
        underlay.ip("link", "set", DHCP_VETH, "master", DHCP_BRIDGE, "up")
        underlay.ip("addr", "add", f"{DHCP_SERVER}/27", "dev", peer, netns=DHCP_NETNS)
        underlay.ip("link", "set", peer, "up", netns=DHCP_NETNS)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", DHCP_NETNS, dnsmasq, "--keep-in-foreground",
             "--conf-file=/dev/null", "--port=0", f"--interface={peer}", "--bind-interfaces",
             f"--dhcp-range={DHCP_RANGE[0]},{DHCP_RANGE[1]},255.255.255.224,10m",
             f"--dhcp-leasefile={leases}", f"--pid-file={tmp / 'pid'}", "--user=root",
             "--group=root", "--log-dhcp", "--log-facility=-", "--dhcp-authoritative"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for("dnsmasq listening", lambda: (tmp / "pid").exists() or proc.poll() is not None,
                 timeout=10)
        assert proc.poll() is None, (tmp / "dnsmasq.log").read_text()
        yield leases
    finally:
        if proc is not None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.close()
        print((tmp / "dnsmasq.log").read_text()[-3000:])
        underlay.ip("netns", "del", DHCP_NETNS, check=False)
        underlay.remove_underlay(host_made)
        space.nodes.remove_underlay(made)
        shutil.rmtree(tmp, ignore_errors=True)


def test_dhcp_ipam_through_the_node_plugins_daemon(space: NadSpace, dhcp_server: Path,
                                                   pinned: Node) -> None:
    """The client pod pinned to one node: that node's dhcp daemon leases for it, that node's
    node plugin counts its operations."""
    net = "np-dhcp"
    config = BridgeNetworkArgs.parse({"bridge": DHCP_BRIDGE, "isGateway": False,
                                      "ipam": {"type": "dhcp"}}).cni_config(net)
    space.create_nad(net, config)
    assert pinned.path("/run/cni/dhcp.sock").exists(), (
        f"the node plugin's dhcp daemon on {pinned.name} has no socket")
    before = nm.scrape(pinned)

    def scrape() -> nm.Samples:
        return nm.scrape(pinned)

    space.create_pod("dhcp-client", [{"name": net, "interface": "net1"}], **_on(pinned))
    pod = _running(space, "dhcp-client", timeout=120)
    mac, addrs = link_state(space.nodes.pod_netns(NS, "dhcp-client", pod["metadata"]["uid"]),
                            "net1")
    [addr] = addrs
    ip, prefix = addr.split("/")
    assert prefix == "27"
    first, last = (int(x.rsplit(".", 1)[1]) for x in DHCP_RANGE)
    assert ip.startswith("198.51.100.") and first <= int(ip.rsplit(".", 1)[1]) <= last, addr
    assert _status_entry(pod)["ips"] == [ip]
    leases = dhcp_server.read_text()
    assert any(line.split()[1:3] == [mac, ip] for line in leases.splitlines()), leases
    counted = _settled(scrape, lambda s: s.delta(before, OPS, network=net, plugin="dhcp",
                                                      op="ADD") >= 1, "the dhcp ADD counted")
    assert counted.delta(before, OPS, network=net, plugin="dhcp", op="ADD",
                         result="success") == 1
    assert counted.delta(before, OPS, network=net, plugin="bridge", op="ADD",
                         result="success") == 1
    _delete(space, "dhcp-client")
    # DEL succeeds through the daemon. (Its DHCPRELEASE is not checked: the daemon v1.9.1
    # sends it from the lease's goroutine after answering, while the bridge plugin already
    # removes the pod's interface, so dnsmasq usually never sees it; the lease expires.)
    deleted = _settled(scrape, lambda s: s.delta(counted, OPS, network=net, plugin="dhcp",
                                                      op="DEL") >= 1, "the dhcp DEL counted")
    for plugin in ("dhcp", "bridge"):
        assert deleted.delta(counted, OPS, network=net, plugin=plugin, op="DEL",
                             result="success") == 1, plugin
        assert deleted.delta(counted, OPS, network=net, plugin=plugin, result="error") == 0


RECONCILE_NETWORK = "np-reconcile"
RECONCILE_INTERVAL_S, RECONCILE_GRACE_S = 20.0, 60.0
"""The platform stack's ``node_plugin.reconcile`` (stacks/Pulumi.platform.yaml)."""
RECONCILE_OTHER_DIR, RECONCILE_OTHER_NETWORK = "/var/lib/cni/np-pools", "np-reconcile-pools"
"""A host-local dataDir the platform stack's node plugin reads besides the default one."""


def test_the_node_plugin_frees_what_no_sandbox_holds(pod_network: NetworkHandle,
                                                    figure: Callable[[str], None]) -> None:
    """On the first node, in a host-local network directory of the test's own: a reservation
    of a sandbox the runtime never had, aged past the grace, and a Multus cache entry of the
    same sandbox are freed within one interval, and counted; a reservation of a running
    sandbox and one younger than the grace stay. A leak in a network directory under the
    platform's other host-local dataDir (``node_plugin.host_local_dirs``) is freed too."""
    import secrets

    from netplumb.hostpaths import HOST_LOCAL_DIR, MULTUS_STATE_DIR

    platform = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.platform.yaml").read_text())
    other_dirs = platform["config"]["netplumb:spec"]["multus"]["node_plugin"][
        "host_local_dirs"]
    assert RECONCILE_OTHER_DIR in other_dirs, other_dirs
    node = pod_network.node.nodes[0]
    held = next(s.id for s in cri.sandboxes(node.ns) if s.ready and not s.host_network)
    gone = secrets.token_hex(32)
    net = node.path(f"{HOST_LOCAL_DIR}/{RECONCILE_NETWORK}")
    other = node.path(f"{RECONCILE_OTHER_DIR}/{RECONCILE_OTHER_NETWORK}")
    cache = node.path(f"{MULTUS_STATE_DIR}/{gone}")
    old = time.time() - RECONCILE_GRACE_S - 60
    files = {"gone": (net / "192.0.2.201", f"{gone}\r\nnet1", old),
             "held": (net / "192.0.2.202", f"{held}\r\nnet1", old),
             "young": (net / "192.0.2.203", f"{gone}\r\nnet1", time.time()),
             "cache": (cache, "{}", old),
             "other": (other / "198.51.100.201", f"{gone}\r\nnet2", old)}
    before = nm.scrape(node)
    net.mkdir(parents=True, exist_ok=True)
    other.mkdir(parents=True, exist_ok=True)
    try:
        for path, body, when in files.values():
            path.write_text(body)
            os.utime(path, (when, when))
        written = time.monotonic()
        wait_for("the node plugin to free the reservations and the cache entry no sandbox "
                 "holds", lambda: not any(files[k][0].exists() for k in ("gone", "other"))
                 and not cache.exists(), timeout=RECONCILE_INTERVAL_S + 40, interval=1)
        took = time.monotonic() - written
        assert files["held"][0].exists(), "a running sandbox's reservation was freed"
        if took < RECONCILE_GRACE_S - 5:
            assert files["young"][0].exists(), "a reservation younger than the grace was freed"
        after = nm.scrape(node)
        freed = after.delta(before, "netplumb_node_reconcile_freed_total", kind="host-local",
                            network=RECONCILE_NETWORK)
        assert freed == 1, freed
        assert after.delta(before, "netplumb_node_reconcile_freed_total", kind="host-local",
                           network=RECONCILE_OTHER_NETWORK) == 1
        assert after.delta(before, "netplumb_node_reconcile_freed_total",
                           kind="multus-cache") >= 1
        assert after.delta(before, "netplumb_node_reconcile_runs_total", result="error") == 0
        figure(f"reconcile: a reservation in {HOST_LOCAL_DIR}, one in {RECONCILE_OTHER_DIR} "
               f"and a Multus cache entry no sandbox holds freed {took:.1f}s after they were "
               f"written (interval {RECONCILE_INTERVAL_S:.0f}s), a running sandbox's and a "
               "young one kept")
    finally:
        for path, _, _ in files.values():
            path.unlink(missing_ok=True)
        shutil.rmtree(net, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)
