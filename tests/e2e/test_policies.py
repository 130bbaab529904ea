"""Issue P on two real nodes: policies, quotas, network RBAC and the SR-IOV device plugin, each
deployed through the engine from a small team stack, against the enforcers the ``platform``
stack installs (kube-router's firewall for NetworkPolicies on eth0 beside Flannel,
multi-networkpolicy-iptables for MultiNetworkPolicies on macvlan networks).

Every policy test computes what the policies mean (:class:`tests.e2e.policyspace.Meaning`,
from the policies as the stack file spells them, never from the enforcers) for every client,
server, network and port, opens all those connections from inside the pods (servers spread
over both nodes, so traffic within a node and across the nodes is filtered), and asserts the
whole matrix equal:

* the seed's NetworkPolicy (prod's guardrails, in a namespace of its own): from ``app:
  allowed`` TCP 80 to ``app: multus-app`` connects and from any other pod (also an ``app:
  allowed`` of another namespace) it does not; from ``app: multus-app`` egress to ``app:
  database`` on 5432 connects and to anything else does not; destroying the stack restores
  every denied connection, within a bound measured and asserted here;
* MultiNetworkPolicies on a macvlan network (static addresses, so ip blocks match): the
  seed's matrix on net1 while eth0 stays open, ``ip_block`` with ``except``,
  ``namespace_selector``, a port range (``end_port``), protocol-only ports (TCP and UDP), two
  stacked policies (their union allows); a policy for another NAD (net2) does not touch net1;
  removing the policies restores every connection;
* quotas: the seed's quota (prod's) refuses pods past cpu, memory, limits and
  ``intel.com/sriov`` with the apiserver's "exceeded quota", and ``netplumb check`` and the
  engine's preview had said so for a stack whose workloads exceed it;
* RBAC: the guardrails' network roles, acted on through impersonation: a tenant may read
  NADs and run a pod selecting one in its namespace, and is refused (403) creating, changing
  or deleting one; a network admin may;
* the SR-IOV device plugin parses netplumb's pool ConfigMap on the labelled node only and finds
  zero devices there (this host has no SR-IOV NIC), and a ConfigMap it rejects shows as a
  crash-looping plugin with its reason in the log.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cluster.api import Api, ApiError, pod_ready, wait_for
from harness.node.images import TOOLBOX_IMAGE
from harness.nodens import PodNetns
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import NetworkHandle, NodeHandle
from netplumb.kube import Kube, KubeError
from tests.e2e.policyspace import (
    NS_NAME_LABEL,
    Eth0,
    Meaning,
    Member,
    Probe,
    TeamStack,
    differences,
    matrix,
    namespaces,
    network_status,
    probe,
    run_pods,
    server_pod,
    settle,
    team_stack,
    types_of,
    udp_echo,
)

pytestmark = pytest.mark.e2e

PROD = REPO_ROOT / "stacks" / "Pulumi.prod.yaml"
NETPLUMB = REPO_ROOT / ".venv" / "bin" / "netplumb"

RESTORE_BOUND = 30.0
"""Seconds within which every denied connection connects again once a policy is deleted
(measured from the moment ``pulumi destroy``/``up`` returns, the policy gone from the API)."""
SETTLE = 90.0
"""Seconds the enforcers get to apply what a ``pulumi up`` changed."""


def _prod_guardrails() -> dict[str, Any]:
    doc = yaml.safe_load(PROD.read_text())
    return dict(doc["config"]["netplumb:spec"]["guardrails"])


def _check(stack_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NETPLUMB), "check", str(stack_file)], capture_output=True,
                          text=True, timeout=120, check=False)


def _ds_ready(api: Api, namespace: str, name: str, want: int) -> bool:
    ds = api.get_or_none(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
    st = (ds or {}).get("status") or {}
    return bool(ds) and st.get("desiredNumberScheduled") == want == st.get("numberReady") == (
        st.get("updatedNumberScheduled"))


@pytest.fixture(scope="module")
def nodes(pod_network: NetworkHandle) -> NodeHandle:
    """Both nodes, with the platform's two enforcers running on each."""
    handle = pod_network.node
    if len(handle.nodes) < 2:
        pytest.fail(f"two nodes needed, the cluster has {handle.names} (NETPLUMB_NODES)")
    api = handle.cluster.api()
    for name in ("kube-router", "multi-networkpolicy"):
        wait_for(f"the platform's {name} DaemonSet ready on every node", functools.partial(
            _ds_ready, api, "kube-system", name, len(handle.nodes)), timeout=180, interval=1)
    return handle


def _members(pods: Mapping[str, Any], labels: Mapping[str, Mapping[str, str]],
             interfaces: Mapping[str, str]) -> dict[str, Member]:
    """The running pods as :class:`Member` s: their eth0 address and those Multus reports for
    ``interfaces`` (interface → network)."""
    out = {}
    for key, pod in pods.items():
        status = network_status(pod)
        addresses = {Eth0: str(pod["status"]["podIP"])}
        addresses |= {net: status[iface] for iface, net in interfaces.items()
                      if iface in status}
        out[key] = Member(key, key.split("/")[0], labels[key], str(pod["spec"]["nodeName"]),
                          addresses)
    return out


def _sub(expected: Mapping[Probe, bool], got: Mapping[Probe, bool],
         keep: Any) -> tuple[dict[Probe, bool], dict[Probe, bool]]:
    chosen = {p: v for p, v in expected.items() if keep(p)}
    return chosen, {p: got[p] for p in chosen}


def _assert_matrix(expected: Mapping[Probe, bool], got: Mapping[Probe, bool],
                   what: str) -> None:
    wrong = differences(expected, got)
    assert not wrong, (f"{what}: {len(wrong)} of {len(expected)} connection(s) differ from "
                       "the policies' meaning:\n  " + "\n  ".join(wrong))


def _both_kinds(expected: Mapping[Probe, bool], what: str) -> None:
    """A matrix worth asserting has connections the policies allow and ones they deny."""
    assert any(expected.values()) and not all(expected.values()), (what, expected)


# =============================================================================================
# the seed's NetworkPolicy on eth0 (kube-router's firewall)
# =============================================================================================

SEED_NS = "np-pol-seed"
SEED_FAR = "np-pol-far"
SEED_PORTS = [("TCP", 80), ("TCP", 5432), ("TCP", 8080)]


def _seed_policy(namespace: str) -> dict[str, Any]:
    """The seed guide's NetworkPolicy as prod's guardrails declare it, in ``namespace``."""
    [policy] = [p for p in _prod_guardrails()["network_policies"]
                if p["name"] == "multus-network-policy"]
    return {**copy.deepcopy(policy), "namespace": namespace}


def test_the_seeds_network_policy_filters_eth0_and_its_removal_restores_it(
        nodes: NodeHandle, tmp_path: Path, figure: Any) -> None:
    w1, w2 = nodes.names[:2]
    api = nodes.cluster.api()
    s, far = f"{SEED_NS}/", f"{SEED_FAR}/"
    layout: dict[str, tuple[dict[str, str], str]] = {
        s + "multus-app": ({"app": "multus-app"}, w1),
        s + "allowed-1": ({"app": "allowed"}, w1),
        s + "allowed-2": ({"app": "allowed"}, w2),
        s + "database-1": ({"app": "database"}, w1),
        s + "database-2": ({"app": "database"}, w2),
        s + "other": ({"app": "other"}, w2),
        far + "allowed": ({"app": "allowed"}, w2),
        far + "database": ({"app": "database"}, w1),
    }
    policy = _seed_policy(SEED_NS)
    spec = {"guardrails": {"rbac": None, "network_policies": [policy]}}
    with namespaces(api, {SEED_NS: {}, SEED_FAR: {}}) as ns_labels, \
            team_stack("npseed", tmp_path, nodes) as stack:
        bodies = {k: server_pod(k.split("/")[1], labels, node, [p for _, p in SEED_PORTS],
                                marker=k) for k, (labels, node) in layout.items()}
        pods, netns = run_pods(api, nodes, bodies)
        members = _members(pods, {k: v[0] for k, v in layout.items()}, {})
        everything_open = matrix(Meaning([], [], ns_labels), members, [Eth0], SEED_PORTS)
        got, _, _ = settle(everything_open, members, netns, timeout=60)
        _assert_matrix(everything_open, got, "before any policy")

        checked = _check(stack.write(spec))
        assert checked.returncode == 0, checked.stderr
        stack.up(spec)
        meaning = Meaning([policy], [], ns_labels)
        expected = matrix(meaning, members, [Eth0], SEED_PORTS)
        # the acceptance in the issue's words, as the meaning computes it
        acceptance = {
            Probe(s + "allowed-1", s + "multus-app", Eth0, "TCP", 80): True,
            Probe(s + "allowed-2", s + "multus-app", Eth0, "TCP", 80): True,
            Probe(s + "allowed-1", s + "multus-app", Eth0, "TCP", 8080): False,
            Probe(s + "other", s + "multus-app", Eth0, "TCP", 80): False,
            Probe(s + "database-2", s + "multus-app", Eth0, "TCP", 80): False,
            Probe(far + "allowed", s + "multus-app", Eth0, "TCP", 80): False,
            Probe(s + "multus-app", s + "database-1", Eth0, "TCP", 5432): True,
            Probe(s + "multus-app", s + "database-2", Eth0, "TCP", 5432): True,
            Probe(s + "multus-app", s + "database-2", Eth0, "TCP", 80): False,
            Probe(s + "multus-app", s + "other", Eth0, "TCP", 5432): False,
            Probe(s + "multus-app", far + "database", Eth0, "TCP", 5432): False,
            Probe(s + "other", s + "database-2", Eth0, "TCP", 5432): True,
        }
        assert {p: expected[p] for p in acceptance} == acceptance
        got, took, passes = settle(expected, members, netns, timeout=SETTLE)
        _assert_matrix(expected, got, "the seed's NetworkPolicy on eth0")
        denied = sorted(p for p, ok in expected.items() if not ok)

        started = time.monotonic()
        destroyed = stack.destroy()  # returns once the NetworkPolicy is gone from the API
        after = _until_all_connect(denied, members, netns, RESTORE_BOUND + 30)
        restored = time.monotonic() - started
        figure(f"seed NetworkPolicy (kube-router): {len(expected)} connections over 2 nodes "
               f"as the policy means {took:.1f}s after pulumi up ({passes} passes), "
               f"{len(denied)} denied; every denied one connected again {restored:.1f}s "
               f"after pulumi destroy began ({destroyed:.1f}s destroy + {after:.1f}s; bound "
               f"{RESTORE_BOUND:.0f}s)")
        assert restored <= RESTORE_BOUND, (destroyed, after)
        got, _, _ = settle(everything_open, members, netns, timeout=30)
        _assert_matrix(everything_open, got, "after the policy was removed")


def _until_all_connect(probes: list[Probe], members: Mapping[str, Member],
                       netns: Mapping[str, PodNetns], timeout: float) -> float:
    """Seconds until every probe connects (polled with a 1 s connect timeout)."""
    t0 = time.monotonic()
    left = list(probes)
    while left:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{len(left)} connection(s) still refused {timeout:.0f}s "
                                 "after the policy was deleted:\n  "
                                 + "\n  ".join(map(str, left)))
        got = probe(left, members, netns, timeout=1.0)
        left = [p for p in left if not got[p]]
        if left:
            time.sleep(0.2)
    return time.monotonic() - t0


# =============================================================================================
# MultiNetworkPolicies on macvlan (multi-networkpolicy-iptables)
# =============================================================================================

M_NS = "np-mpol"
M_PEER = "np-mpol-peer"
M_FAR = "np-mpol-far"
PEER_LABEL = "policies.netplumb.test/peer"
NET_A, NET_B = f"{M_NS}/mpol-a", f"{M_NS}/mpol-b"
UDP_PORT = 6666
M_PORTS = [("TCP", 80), ("TCP", 5432), ("TCP", 6100), ("TCP", 6200), ("UDP", UDP_PORT)]


def _nad(name: str, master: str) -> dict[str, Any]:
    return {"name": name, "namespace": M_NS, "type": "macvlan", "master": master,
            "mode": "bridge", "capabilities": {"ips": True}, "ipam": {"type": "static"}}


def _in_ns(*peers: dict[str, Any]) -> list[dict[str, Any]]:
    """Pod peers with the policy's namespace named: multi-networkpolicy-iptables matches a
    ``pod_selector`` alone against every namespace's pods (``netplumb check`` says so), so
    these policies name it, as the check asks."""
    return [{**p, "namespace_selector": {NS_NAME_LABEL: M_NS}} for p in peers]


def _seed_on_net1() -> dict[str, Any]:
    """The seed's policy on net1 (mpol-a): its selectors, types and ports, its peers kept in
    its namespace."""
    seed = _seed_policy(M_NS)
    out = {**seed, "name": "seed-on-net1", "policy_for": ["mpol-a"]}
    for direction in ("ingress", "egress"):
        out[direction] = [{**rule, "peers": _in_ns(*rule["peers"])} for rule in seed[direction]]
    return out


def _mnp(name: str, app: str, nad: str = "mpol-a", **rules: Any) -> dict[str, Any]:
    return {"name": name, "namespace": M_NS, "policy_for": [nad],
            "pod_selector": {"app": app}, **rules}


FEATURES: list[dict[str, Any]] = [
    _seed_on_net1(),
    # ip_block with except: 198.19.71.0-31 less .12-.15
    _mnp("ip-block", "ipblock-srv", ingress=[{"peers": [{"ip_block": {
        "cidr": "198.19.71.0/27", "except": ["198.19.71.12/30"]}}]}]),
    # peers: every pod of the namespaces labelled PEER_LABEL=yes
    _mnp("namespaces", "ns-srv", ingress=[{"peers": [{"namespace_selector": {
        PEER_LABEL: "yes"}}]}]),
    # a port range: TCP 6000-6150, from anyone
    _mnp("port-range", "range-srv", ingress=[{"ports": [{"protocol": "TCP", "port": 6000,
                                                          "end_port": 6150}]}]),
    # protocol-only ports (upstream's case): UDP in on any port, TCP out to any port
    _mnp("protocol-only", "proto-srv", policy_types=["Ingress", "Egress"],
         ingress=[{"ports": [{"protocol": "UDP"}]}], egress=[{"ports": [{"protocol": "TCP"}]}]),
    # two stacked policies: each allows one app in; together both
    _mnp("stacked-1", "stacked-srv",
         ingress=[{"peers": _in_ns({"pod_selector": {"app": "allowed"}})}]),
    _mnp("stacked-2", "stacked-srv",
         ingress=[{"peers": _in_ns({"pod_selector": {"app": "other"}})}]),
]
SECOND: dict[str, Any] = _mnp("other-on-net2", "other", nad="mpol-b", ingress=[
    {"peers": _in_ns({"pod_selector": {"app": "allowed"}})}])
"""A policy for the other NAD (net2): only ``app: allowed`` reaches ``other`` there."""

VERSIONS = {"v1": FEATURES, "v2": [*FEATURES, SECOND], "none": []}


def _mnp_spec(policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {"networks": [_nad("mpol-a", "np-mpola0"), _nad("mpol-b", "np-mpolb0")],
            "guardrails": {"rbac": None, "multi_network_policies": policies}}


@dataclass
class MultiWorld:
    """The pods of the MultiNetworkPolicy tests and the team stack, with what each policy
    version was observed to do."""

    members: dict[str, Member]
    netns: dict[str, PodNetns]
    stack: TeamStack
    ns_labels: dict[str, dict[str, str]]
    seen: dict[str, tuple[dict[Probe, bool], dict[Probe, bool], float, int]] = field(
        default_factory=dict)
    current: str | None = None

    def meaning(self, version: str) -> Meaning:
        return Meaning([], VERSIONS[version], self.ns_labels)

    def expected(self, version: str) -> dict[Probe, bool]:
        """net1 and net2 between every two pods on every port, and eth0 for what net1
        denies: the policies act on the secondary networks only."""
        meaning = self.meaning(version)
        out = matrix(meaning, self.members, [NET_A, NET_B], M_PORTS)
        out |= {Probe(p.client, p.server, Eth0, p.proto, p.port): meaning.allows(
                    self.members[p.client], self.members[p.server], Eth0, p.proto, p.port)
                for p, ok in list(out.items()) if p.network == NET_A and not ok}
        return out

    def at(self, version: str) -> tuple[dict[Probe, bool], dict[Probe, bool]]:
        """The stack at ``version`` and the matrix it settles to: (expected, observed)."""
        if version not in self.seen:
            if self.current != version:
                self.stack.up(_mnp_spec(VERSIONS[version]))
                self.current = version
            expected = self.expected(version)
            got, took, passes = settle(expected, self.members, self.netns, timeout=SETTLE)
            self.seen[version] = (expected, got, took, passes)
        expected, got, _, _ = self.seen[version]
        return expected, got


M_LAYOUT: dict[str, tuple[dict[str, str], int, int]] = {
    # key: (labels, node index, host part of its addresses on net1 and net2)
    f"{M_NS}/multus-app": ({"app": "multus-app"}, 0, 10),
    f"{M_NS}/allowed-1": ({"app": "allowed"}, 0, 11),
    f"{M_NS}/allowed-2": ({"app": "allowed"}, 1, 12),
    f"{M_NS}/database": ({"app": "database"}, 1, 13),
    f"{M_NS}/other": ({"app": "other"}, 0, 14),
    f"{M_NS}/ipblock-srv": ({"app": "ipblock-srv"}, 1, 20),
    f"{M_NS}/range-srv": ({"app": "range-srv"}, 0, 21),
    f"{M_NS}/proto-srv": ({"app": "proto-srv"}, 1, 22),
    f"{M_NS}/stacked-srv": ({"app": "stacked-srv"}, 0, 23),
    f"{M_NS}/ns-srv": ({"app": "ns-srv"}, 1, 24),
    f"{M_PEER}/allowed": ({"app": "allowed"}, 1, 30),
    f"{M_FAR}/database": ({"app": "database"}, 0, 40),
}


@pytest.fixture(scope="module")
def multi(nodes: NodeHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiWorld]:
    api = nodes.cluster.api()
    tmp = tmp_path_factory.mktemp("mnp")
    with namespaces(api, {M_NS: {}, M_PEER: {PEER_LABEL: "yes"}, M_FAR: {}}) as ns_labels, \
            team_stack("npmulti", tmp, nodes) as stack:
        stack.up(_mnp_spec([]))  # the networks first, then the pods on them
        bodies = {}
        for key, (labels, node, host) in M_LAYOUT.items():
            selections = [{"name": "mpol-a", "namespace": M_NS, "interface": "net1",
                           "ips": [f"198.19.71.{host}/24"]},
                          {"name": "mpol-b", "namespace": M_NS, "interface": "net2",
                           "ips": [f"198.19.72.{host}/24"]}]
            bodies[key] = server_pod(key.split("/")[1], labels, nodes.names[node],
                                     [p for proto, p in M_PORTS if proto == "TCP"],
                                     selections, marker=key)
        pods, netns = run_pods(api, nodes, bodies, {"net1": NET_A, "net2": NET_B})
        members = _members(pods, {k: v[0] for k, v in M_LAYOUT.items()},
                           {"net1": NET_A, "net2": NET_B})
        for key, (_, _, host) in M_LAYOUT.items():
            assert members[key].addresses[NET_A] == f"198.19.71.{host}", members[key]
            assert members[key].addresses[NET_B] == f"198.19.72.{host}", members[key]
        world = MultiWorld(members, netns, stack, ns_labels, current="none")
        with udp_echo(netns, UDP_PORT):
            expected = world.expected("none")
            assert all(expected.values())
            got, _, _ = settle(expected, members, netns, timeout=60)
            _assert_matrix(expected, got, "before any MultiNetworkPolicy")
            world.seen["none"] = (expected, got, 0.0, 1)
            yield world


def test_the_whole_matrix_on_net1_net2_and_eth0_is_the_policies_meaning(
        multi: MultiWorld, figure: Any) -> None:
    expected, got = multi.at("v1")
    _, _, took, passes = multi.seen["v1"]
    figure(f"MultiNetworkPolicies (multi-networkpolicy-iptables, 7 policies on net1): "
           f"{len(expected)} connections over 2 nodes ({sum(expected.values())} allowed) "
           f"as the policies mean {took:.1f}s after pulumi up ({passes} passes)")
    _assert_matrix(expected, got, "7 MultiNetworkPolicies for mpol-a")


def _server_is(name: str, network: str = NET_A) -> Any:
    return lambda p: p.server == name and p.network == network


def test_the_seeds_matrix_on_net1_while_eth0_stays_open(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    app = f"{M_NS}/multus-app"
    on_net1 = _sub(expected, got, lambda p: p.network == NET_A and app in (p.client, p.server))
    _both_kinds(on_net1[0], "seed on net1")
    allowed = {p for p, ok in on_net1[0].items() if ok}
    # the issue's words: only app: allowed in, on TCP 80; only to app: database on 5432 out
    assert {(p.client, p.server, p.proto, p.port) for p in allowed} == {
        (f"{M_NS}/allowed-1", app, "TCP", 80), (f"{M_NS}/allowed-2", app, "TCP", 80),
        (app, f"{M_NS}/database", "TCP", 5432)}
    _assert_matrix(*on_net1, "the seed's policy on net1")
    denied = [p for p, ok in on_net1[0].items() if not ok]
    eth0 = _sub(expected, got, lambda p: p.network == Eth0 and (
        Probe(p.client, p.server, NET_A, p.proto, p.port) in denied))
    assert len(eth0[0]) == len(denied) and all(eth0[0].values())
    _assert_matrix(*eth0, "eth0 for the connections net1 denies")


def test_ip_block_with_except(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    sub = _sub(expected, got, _server_is(f"{M_NS}/ipblock-srv"))
    _both_kinds(sub[0], "ip_block")
    _assert_matrix(*sub, "ip_block 198.19.71.0/27 except 198.19.71.12/30")


def test_namespace_selector(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    sub = _sub(expected, got, _server_is(f"{M_NS}/ns-srv"))
    _both_kinds(sub[0], "namespace_selector")
    assert {p.client for p, ok in sub[0].items() if ok} == {f"{M_PEER}/allowed"}
    _assert_matrix(*sub, f"namespace_selector {PEER_LABEL}: yes")


def test_port_range(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    sub = _sub(expected, got, _server_is(f"{M_NS}/range-srv"))
    _both_kinds(sub[0], "port range")
    assert {p.port for p, ok in sub[0].items() if ok} == {6100}
    _assert_matrix(*sub, "TCP 6000-6150 (end_port)")


def test_protocol_only_ports(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    srv = f"{M_NS}/proto-srv"
    sub = _sub(expected, got, lambda p: p.network == NET_A and srv in (p.client, p.server))
    _both_kinds(sub[0], "protocol-only ports")
    assert {p.proto for p, ok in sub[0].items() if ok and p.server == srv} == {"UDP"}
    assert {p.proto for p, ok in sub[0].items() if ok and p.client == srv} == {"TCP"}
    _assert_matrix(*sub, "ingress UDP on any port, egress TCP to any port")


def test_two_stacked_policies_allow_their_union(multi: MultiWorld) -> None:
    expected, got = multi.at("v1")
    sub = _sub(expected, got, _server_is(f"{M_NS}/stacked-srv"))
    assert {p.client for p, ok in sub[0].items() if ok} == {
        f"{M_NS}/allowed-1", f"{M_NS}/allowed-2", f"{M_NS}/other"}
    _assert_matrix(*sub, "two policies selecting stacked-srv")


def _selected(version: str, direction: str) -> set[str]:
    """The pods of ``M_NS`` some MultiNetworkPolicy of ``version`` selects in ``direction``."""
    out = set()
    for policy in VERSIONS[version]:
        if direction in types_of(policy):
            app = policy["pod_selector"]["app"]
            out |= {k for k, (labels, _, _) in M_LAYOUT.items()
                    if k.startswith(f"{M_NS}/") and labels["app"] == app}
    return out


def test_policies_for_net1_isolate_their_pods_on_net2_and_leave_the_others(
        multi: MultiWorld) -> None:
    """multi-networkpolicy-iptables isolates a pod a policy selects on every secondary
    network (its code: one chain per direction for all the pod's interfaces, ending in a
    DROP), while the rules allow on the policy's ``policy_for`` networks only: net2, which no
    policy names, is closed to the pods the net1 policies select and open between the rest."""
    expected, got = multi.at("v1")
    ingress, egress = _selected("v1", "Ingress"), _selected("v1", "Egress")
    sub = _sub(expected, got, lambda p: p.network == NET_B)
    for pr, ok in sub[0].items():
        assert ok is (pr.server not in ingress and pr.client not in egress), pr
    _both_kinds(sub[0], "net2")
    _assert_matrix(*sub, "net2, for which no policy exists")


def test_a_second_policy_for_another_nad_does_not_touch_the_first(
        multi: MultiWorld) -> None:
    """The policy for net2 selects ``other``: net1 and eth0 stay as they were for every
    other pod; ``other`` itself is isolated on net1 too (the enforcer's rule above), where no
    rule of a policy for net1 lets anyone in."""
    first, _ = multi.at("v1")
    expected, got = multi.at("v2")
    other = f"{M_NS}/other"
    net1 = _sub(expected, got, lambda p: p.network in (NET_A, Eth0))
    assert {p: v for p, v in net1[0].items() if p.server != other} == {
        p: v for p, v in first.items() if p.network in (NET_A, Eth0) and p.server != other}
    assert not [p for p, ok in net1[0].items()
                if p.server == other and p.network == NET_A and ok]
    _assert_matrix(*net1, "net1 and eth0 with a second policy, for mpol-b")
    net2 = _sub(expected, got, lambda p: p.network == NET_B)
    _both_kinds(net2[0], "net2")
    assert {p.client for p, ok in net2[0].items() if not ok and p.server == other
            } == {k for k in multi.members if k not in (
                f"{M_NS}/allowed-1", f"{M_NS}/allowed-2", other)}
    _assert_matrix(*net2, "net2 under its own policy")


def test_removing_the_policies_restores_every_connection(multi: MultiWorld,
                                                         figure: Any) -> None:
    expected, _ = multi.at("v2")
    denied = sorted(p for p, ok in expected.items() if not ok)
    assert denied
    started = time.monotonic()
    upped = multi.stack.up(_mnp_spec([]))  # returns once the policies are gone from the API
    multi.current = "none"
    after = _until_all_connect(denied, multi.members, multi.netns, RESTORE_BOUND + 30)
    restored = time.monotonic() - started
    figure(f"MultiNetworkPolicies removed (pulumi up without them): the {len(denied)} denied "
           f"connections on net1 and net2 connected again {restored:.1f}s after the up "
           f"began ({upped:.1f}s up + {after:.1f}s; bound {RESTORE_BOUND:.0f}s)")
    assert restored <= RESTORE_BOUND, (upped, after)
    everything, _ = multi.at("none")
    got, _, _ = settle(everything, multi.members, multi.netns, timeout=30)
    _assert_matrix(everything, got, "without policies")


# =============================================================================================
# quotas
# =============================================================================================

Q_NS = "np-quota"


def _quota() -> dict[str, Any]:
    """The seed's quota as prod's guardrails declare it, in the test's namespace."""
    [quota] = [q for q in _prod_guardrails()["quotas"] if q["name"] == "multus-quota"]
    return {**copy.deepcopy(quota), "namespace": Q_NS}


def _quota_pod(name: str, requests: dict[str, str], limits: dict[str, str] | None = None
               ) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": TOOLBOX_IMAGE,
                                 "command": ["sleep", "86400"]}
    if requests or limits:
        container["resources"] = {"requests": requests, "limits": limits or requests}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 0,
                     "automountServiceAccountToken": False}}


def _refused(api: Api, body: dict[str, Any]) -> str:
    try:
        api.request("POST", f"/api/v1/namespaces/{Q_NS}/pods", body)
    except ApiError as e:
        assert e.status == 403, e
        return e.message
    raise AssertionError(f"pod {body['metadata']['name']} was admitted past the quota")


def test_pods_past_the_seeds_quota_are_refused_as_check_said_at_preview(
        nodes: NodeHandle, tmp_path: Path) -> None:
    from pulumi import automation as auto

    api = nodes.cluster.api()
    quota = _quota()
    over = {
        "networks": [{"name": "q-vf", "namespace": Q_NS, "type": "sriov",
                      "resource_name": "intel.com/sriov", "ipam": {"type": "static"}}],
        "guardrails": {"rbac": None, "quotas": [quota]},
        "workloads": [{"kind": "Deployment", "name": "q-app", "namespace": Q_NS,
                       "image": TOOLBOX_IMAGE, "command": ["sleep", "86400"], "replicas": 5,
                       "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                     "limits": {"cpu": "2", "memory": "4Gi"}},
                       "networks": [{"name": "q-vf"}]}]}
    at = "config.netplumb:spec.guardrails.quotas[0]"
    keys = ["requests_cpu", "requests_memory", "limits_cpu", "limits_memory",
            "devices.intel.com/sriov"]
    with namespaces(api, {Q_NS: {}}), team_stack("npquota", tmp_path, nodes) as stack:
        checked = _check(stack.write(over))
        assert checked.returncode == 1, checked
        said = [line for line in checked.stderr.splitlines() if "exceeded quota" in line]
        assert sorted(line.split(": ", 2)[1] for line in said) == sorted(
            f"{at}.{k}" for k in keys), checked.stderr
        with pytest.raises(auto.CommandError) as refused:
            stack.preview(over)
        assert f"{at}.requests_cpu" in str(refused.value) and "exceeded quota" in str(
            refused.value)

        stack.up({"guardrails": {"rbac": None, "quotas": [quota]}})
        path = f"/api/v1/namespaces/{Q_NS}/resourcequotas/multus-quota"
        hard = wait_for("the quota's status (admission needs it)",
                        lambda: (api.get(path).get("status") or {}).get("hard"), timeout=60)
        assert hard == {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8",
                        "limits.memory": "16Gi", "requests.intel.com/sriov": "4"}
        pods = f"/api/v1/namespaces/{Q_NS}/pods"
        # within the quota: admitted (they stay Pending: no node has intel.com/sriov)
        api.request("POST", pods, _quota_pod(
            "q-base", {"cpu": "3", "memory": "6Gi", "intel.com/sriov": "2"},
            {"cpu": "4", "memory": "8Gi", "intel.com/sriov": "2"}))
        small = {"cpu": "100m", "memory": "100Mi"}
        # past it, one resource at a time: refused by the apiserver with its quota message
        for name, requests, limits, resource, used, limited in [
                ("q-cpu", {"cpu": "2", "memory": "1Gi"}, None, "requests.cpu", "3", "4"),
                ("q-memory", {"cpu": "100m", "memory": "3Gi"}, None, "requests.memory",
                 "6Gi", "8Gi"),
                ("q-limits", small, {"cpu": "5", "memory": "100Mi"}, "limits.cpu", "4", "8"),
                ("q-sriov", {**small, "intel.com/sriov": "3"}, None,
                 "requests.intel.com/sriov", "2", "4")]:
            message = _refused(api, _quota_pod(name, requests, limits))
            assert "exceeded quota: multus-quota" in message, message
            assert f"used: {resource}={used}" in message, message
            assert f"limited: {resource}={limited}" in message, message
        # up to it: admitted
        api.request("POST", pods, _quota_pod("q-last", {**small, "intel.com/sriov": "2"}))
        # no resources at all: refused, as check warns ("must specify")
        message = _refused(api, _quota_pod("q-bare", {}))
        assert "must specify" in message and "requests.cpu" in message, message
        used = wait_for("the quota's usage", lambda: (
            u if (u := (api.get(path).get("status") or {}).get("used", {})).get(
                "requests.intel.com/sriov") == "4" else None), timeout=60)
        # what was admitted is what counts: q-base and q-last
        assert used["requests.cpu"] == "3100m" and used["limits.cpu"] == "4100m", used


# =============================================================================================
# network RBAC
# =============================================================================================

R_NS = "np-rbac"
R_OTHER = "np-rbac-other"
ADMINS, TENANTS = "np-test-network-admins", "np-test-tenants"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions"


MERGE_PATCH = "application/merge-patch+json"


def _as(nodes: NodeHandle, user: str, group: str) -> Kube:
    """A client acting as ``user`` of ``group`` (impersonation through the admin
    kubeconfig)."""
    return Api(nodes.cluster.kubeconfig, impersonate=(user, [group])).kube


def _status(kube: Kube, method: str, path: str, body: Any = None,
            content_type: str = "application/json") -> int:
    """The HTTP status of one call (of its refusal, such as 403)."""
    try:
        return kube.request_with_status(method, path, body=body, content_type=content_type)[0]
    except KubeError as e:
        return e.status


def _nad_body(name: str, subnet: str) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name}, "spec": {"config": json.dumps({
                "cniVersion": "0.3.1", "name": name, "type": "macvlan",
                "master": "np-prbac0", "mode": "bridge",
                "ipam": {"type": "host-local", "subnet": subnet}})}}


def test_tenants_select_networks_and_only_network_admins_write_them(
        nodes: NodeHandle, tmp_path: Path) -> None:
    api = nodes.cluster.api()
    w1 = nodes.names[0]
    spec = {
        "networks": [{"name": "rbac-net", "namespace": R_NS, "type": "macvlan",
                      "master": "np-prbac0", "mode": "bridge",
                      "ipam": {"type": "host-local", "subnet": "198.19.79.0/24"}}],
        "guardrails": {"rbac": {
            "admin_role": "np-test-network-admin", "viewer_role": "np-test-network-viewer",
            "bindings": [
                {"role": "admin", "subjects": [{"kind": "Group", "name": ADMINS}]},
                {"role": "viewer", "namespace": R_NS,
                 "subjects": [{"kind": "Group", "name": TENANTS}]}]}},
        # the ClusterRoles and the cluster binding go with the stack
        "cluster_objects": {"on_destroy": "delete"}}
    nads, rbac_net = NAD_PATH.format(ns=R_NS), NAD_PATH.format(ns=R_NS) + "/rbac-net"
    with namespaces(api, {R_NS: {}, R_OTHER: {}}), \
            team_stack("nprbac", tmp_path, nodes) as stack:
        stack.up(spec)
        # tenants run workloads in their namespace (Kubernetes' edit role, which has no NAD
        # rights); the network roles are netplumb's
        api.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{R_NS}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "tenants-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": TENANTS}]})
        tenant = _as(nodes, "tenant-1", TENANTS)

        def rbac_ok() -> bool:  # RBAC reads bindings from an informer: a moment after up
            return _status(tenant, "GET", rbac_net) == 200

        wait_for("the tenant reads NADs of its namespace", rbac_ok, timeout=30)
        assert _status(tenant, "GET", NAD_PATH.format(ns=R_OTHER)) == 403
        assert _status(tenant, "POST", nads,
                       _nad_body("tenant-net", "198.19.80.0/24")) == 403
        assert _status(tenant, "PATCH", rbac_net,
                       {"metadata": {"labels": {"changed": "by-tenant"}}}, MERGE_PATCH) == 403
        assert _status(tenant, "DELETE", rbac_net) == 403
        assert "changed" not in (api.get(rbac_net)["metadata"].get("labels") or {})

        # selecting the existing NAD from a pod in its namespace works
        body = server_pod("tenant-pod", {"app": "tenant-pod"}, w1, [80],
                          [{"name": "rbac-net", "interface": "net1"}])
        assert _status(tenant, "POST", f"/api/v1/namespaces/{R_NS}/pods", body) == 201
        pod = wait_for("the tenant's pod running with net1", lambda: (
            p if pod_ready(p := api.get(f"/api/v1/namespaces/{R_NS}/pods/tenant-pod"))
            and "net1" in network_status(p) else None), timeout=120, interval=0.5)
        assert network_status(pod)["net1"].startswith("198.19.79."), network_status(pod)
        # ... and only in the namespaces the tenant is given
        other = server_pod("tenant-pod", {"app": "tenant-pod"}, w1, [80])
        assert _status(tenant, "POST", f"/api/v1/namespaces/{R_OTHER}/pods", other) == 403

        # a network admin writes NADs
        admin = _as(nodes, "netadmin-1", ADMINS)
        assert _status(admin, "POST", nads, _nad_body("admin-net", "198.19.81.0/24")) == 201
        assert _status(admin, "PATCH", nads + "/admin-net",
                       {"metadata": {"labels": {"changed": "by-admin"}}}, MERGE_PATCH) == 200
        assert api.get(nads + "/admin-net")["metadata"]["labels"]["changed"] == "by-admin"
        assert _status(admin, "DELETE", nads + "/admin-net") == 200


# =============================================================================================
# the SR-IOV device plugin
# =============================================================================================

S_NS = "np-sriov"
SRIOV_LABEL = "feature.node.kubernetes.io/network-sriov.capable"
POOLS = ["intel_vfs", "pf_vfs"]
DS_PATH = f"/apis/apps/v1/namespaces/{S_NS}/daemonsets/kube-sriov-device-plugin"


def _plugin_pods(api: Api) -> list[Any]:
    return [p for p in api.get(f"/api/v1/namespaces/{S_NS}/pods")["items"]
            if any(o.get("name") == "kube-sriov-device-plugin"
                   for o in p["metadata"].get("ownerReferences") or [])
            and not p["metadata"].get("deletionTimestamp")]


def test_the_device_plugin_parses_the_pool_config_on_the_labelled_node(
        nodes: NodeHandle, tmp_path: Path) -> None:
    api = nodes.cluster.api()
    w1, w2 = nodes.names[:2]
    spec = {"sriov": {
        "namespace": S_NS, "resource_prefix": "netplumb.test",
        # sriov-cni's image cannot be built here (docs/embedded-cluster.md)
        "install_sriov_cni": False,
        "node_selector": {SRIOV_LABEL: "true"},
        "pools": [{"resource_name": "intel_vfs",
                   "selectors": {"vendors": ["8086"], "drivers": ["iavf"]}},
                  {"resource_name": "pf_vfs", "selectors": {"pfNames": ["np-nopf0#0-3"]}}]},
        "cluster_objects": {"on_destroy": "delete"}}
    api.merge_patch(f"/api/v1/nodes/{w2}", {"metadata": {"labels": {SRIOV_LABEL: "true"}}})
    try:
        with namespaces(api, {S_NS: {}}), team_stack("npsriov", tmp_path, nodes) as stack:
            stack.up(spec)
            ds = api.get(DS_PATH)
            assert ds["status"]["desiredNumberScheduled"] == 1, ds["status"]
            [pod] = wait_for("the device plugin Ready on the labelled node", lambda: (
                found if len(found := _plugin_pods(api)) == 1 and pod_ready(found[0])
                else None), timeout=120, interval=1)
            assert pod["spec"]["nodeName"] == w2
            name = pod["metadata"]["name"]
            log = wait_for("the plugin's start in its log", lambda: (
                text if "All servers started." in (
                    text := api.kube.pod_log(S_NS, name)) else None), timeout=60)
            # it read netplumb's ConfigMap: both pools, and the selectors it parsed
            assert "raw ResourceList: " in log and '"pfNames"' in log, log[-3000:]
            # this host has no SR-IOV NIC: the plugin finds zero devices for every pool and
            # creates no resource server, so it registers nothing with the kubelet ...
            for pool in POOLS:
                assert f"Creating new ResourcePool: {pool}" in log, log[-3000:]
                assert (f"no devices in device pool, skipping creating resource server for "
                        f"{pool}") in log, log[-3000:]
            assert "will register 0 devices" in log and "will register 1" not in log
            # ... so the resources are absent from the nodes (not 0): nothing advertised them
            for node in (w1, w2):
                status = api.get(f"/api/v1/nodes/{node}")["status"]
                advertised = [k for k in {**status.get("capacity", {}),
                                          **status.get("allocatable", {})}
                              if k.startswith("netplumb.test/")]
                assert advertised == [], (node, advertised)
            sockets = nodes.by_name(w2).path("/var/lib/kubelet/device-plugins")
            assert not [s for s in sockets.iterdir() if "netplumb.test" in s.name]
            restarts = pod["status"]["containerStatuses"][0]["restartCount"]
            assert restarts == 0, pod["status"]

            # a ConfigMap it rejects (a resource name with a space and a '!'): the plugin
            # exits (glog v1.2.5's Fatalf: status 2) and crash-loops, saying why
            bad = {"resourceList": [{"resourceName": "bad name!",
                                     "selectors": {"vendors": ["8086"]}}]}
            api.merge_patch(f"/api/v1/namespaces/{S_NS}/configmaps/sriovdp-config",
                            {"data": {"config.json": json.dumps(bad)}})
            api.delete(f"/api/v1/namespaces/{S_NS}/pods/{name}", {"gracePeriodSeconds": "0"})

            def crashed() -> Any:
                pods = [p for p in _plugin_pods(api) if p["metadata"]["name"] != name]
                if len(pods) != 1:
                    return None
                [status] = pods[0]["status"].get("containerStatuses") or [None]
                last = ((status or {}).get("lastState") or {}).get("terminated")
                return pods[0] if last and status["restartCount"] >= 1 else None

            broken = wait_for("the plugin crash-looping on the rejected ConfigMap", crashed,
                              timeout=120, interval=1)
            [status] = broken["status"]["containerStatuses"]
            assert status["lastState"]["terminated"]["exitCode"] == 2, status
            # it keeps crashing: restarted again (with the kubelet's back-off) and failing
            # the same way, not recovering
            looping = wait_for("the plugin restarted a second time", lambda: next((
                p for p in _plugin_pods(api) if p["metadata"]["name"] == broken["metadata"][
                    "name"] and (p["status"].get("containerStatuses") or [{}])[0].get(
                        "restartCount", 0) >= 2), None), timeout=180, interval=1)
            [again] = looping["status"]["containerStatuses"]
            assert again["lastState"]["terminated"]["exitCode"] == 2, again
            def previous_log() -> str | None:
                # the last crashed container's log; between a crash and the next start the
                # kubelet may be swapping which container is "previous"
                # (or the current one, which crashed the same way once it has run)
                for query in ({"previous": "true"}, {}):
                    try:
                        text = api.kube.request_text(
                            f"/api/v1/namespaces/{S_NS}/pods/{broken['metadata']['name']}"
                            f"/log", query=query)
                    except KubeError:  # retried; the timeout names what it waited for
                        continue
                    if "Exiting.." in text:
                        return text
                return None
            said = wait_for("the crashed plugin's log", previous_log, timeout=60, interval=1)
            assert 'resource name "bad name!" contains invalid characters' in said, said
            assert "Exiting.. one or more invalid configuration(s) given" in said, said
    finally:
        api.merge_patch(f"/api/v1/nodes/{w2}", {"metadata": {"labels": {SRIOV_LABEL: None}}})
