"""The whole-plan checks a network engineer relies on: one test (or table) per check, each
with a stack that must pass beside the one that must not.

Every finding names the key path of the offending value; a collision names the other
object's path in its message.
"""

from __future__ import annotations

from typing import Any

import pytest

from netplumb import Finding, PlanError
from netplumb.args.nad import MacvlanNetworkArgs
from netplumb.args.stack import StackSpec
from netplumb.args.workload import WorkloadArgs
from netplumb.components import MacvlanNetwork, MultiHomedWorkload
from netplumb.plan import build_plan

from .pulumi_mocks import RecordingMocks, run_program

J = dict[str, Any]
S = "config.netplumb:spec"
AT = ("config", "netplumb:spec")


def findings(spec: J) -> list[Finding]:
    """Errors (when the plan is refused) or warnings (when it is not)."""
    try:
        plan = build_plan(StackSpec.parse(spec, at=AT))
    except PlanError as exc:
        return exc.findings
    return plan.findings


def only(spec: J, path: str, *words: str) -> Finding:
    """The one finding at ``path``; its message carries every word."""
    found = findings(spec)
    at = [f for f in found if f.path == path]
    assert len(at) == 1, (path, [str(f) for f in found])
    for word in words:
        assert word in at[0].message, (word, at[0].message)
    return at[0]


def clean(spec: J) -> None:
    assert findings(spec) == [], [str(f) for f in findings(spec)]


def mv(name: str, master: str = "ens1", **fields: Any) -> J:
    return {"type": "macvlan", "name": name, "master": master, **fields}


def hl(subnet: str = "192.0.2.0/24", **fields: Any) -> J:
    return {"type": "host-local", "subnet": subnet, **fields}


STATIC: J = {"type": "static"}
CAPS: J = {"ips": True}


def pod(name: str, *selections: J, **fields: Any) -> J:
    return {"name": name, "networks": list(selections), **fields}


def workload(name: str, *selections: J, **fields: Any) -> J:
    return {"name": name, "image": "busybox:1.36", "networks": list(selections), **fields}


# -- duplicate names --------------------------------------------------------------------------


def test_two_pods_with_one_name_in_one_namespace() -> None:
    spec = {"pods": [pod("a"), pod("b"), pod("a")]}
    f = only(spec, f"{S}.pods[2].name", "pod default/a", f"also at {S}.pods[0]")
    assert f.value == "a"
    clean({"pods": [pod("a"), pod("a", namespace="other")]})


def test_two_workloads_of_one_kind_with_one_name() -> None:
    spec = {"workloads": [workload("w"), workload("w", kind="StatefulSet"), workload("w")]}
    only(spec, f"{S}.workloads[2].name", "Deployment default/w", f"also at {S}.workloads[0]")
    assert [f.path for f in findings(spec)] == [f"{S}.workloads[2].name"]


# -- static addresses and MACs on a segment ----------------------------------------------------


def test_one_static_address_for_two_pods_on_one_segment() -> None:
    nets = [mv("a", capabilities=CAPS, ipam=STATIC), mv("b", capabilities=CAPS, ipam=STATIC)]
    spec = {"networks": nets, "pods": [
        pod("p", {"name": "a", "ips": ["192.0.2.10/24"]}),
        pod("q", {"name": "b", "ips": ["192.0.2.10/24"]})]}
    only(spec, f"{S}.pods[1].networks[0].ips[0]", "192.0.2.10", f"{S}.pods[0].networks[0]",
         "link 'ens1'")
    # another link, or another VLAN of the link, is another segment
    clean({**spec, "networks": [nets[0], mv("b", master="ens2", capabilities=CAPS,
                                            ipam=STATIC)]})


def test_static_address_of_a_workload_with_replicas() -> None:
    spec = {"networks": [mv("a", capabilities=CAPS, ipam=STATIC)], "workloads": [
        workload("w", {"name": "a", "ips": ["192.0.2.10/24"]}, replicas=3)]}
    only(spec, f"{S}.workloads[0].networks[0].ips[0]", "runs 3 pods")
    clean({**spec, "workloads": [workload("w", {"name": "a", "ips": ["192.0.2.10/24"]})]})


def test_fixed_static_ipam_address_taken_by_every_selecting_pod() -> None:
    net = mv("a", ipam={"type": "static", "addresses": [{"address": "192.0.2.7/24"}]})
    spec = {"networks": [net], "pods": [pod("p", {"name": "a"}), pod("q", {"name": "a"})]}
    only(spec, f"{S}.pods[1].networks[0].name", f"{S}.networks[0].ipam.addresses[0].address",
         f"{S}.pods[0].networks[0]")
    clean({**spec, "pods": [pod("p", {"name": "a"})]})


def test_static_ipam_without_addresses_or_the_ips_capability_gives_no_address() -> None:
    # the hand-run guide's second macvlan NAD: `"ipam": {"type": "static"}` and nothing else
    spec = {"networks": [mv("a", ipam=STATIC)]}
    f = only(spec, f"{S}.networks[0].ipam.addresses", "default/a", "capabilities.ips",
             "cni-args", "missing IP config")
    assert f.severity == "warning"
    clean({"networks": [mv("a", capabilities=CAPS, ipam=STATIC)]})
    clean({"networks": [mv("a", ipam={"type": "static",
                                      "addresses": [{"address": "192.0.2.7/24"}]})]})
    # a pod's ips make netplumb add the capability: then the network works as planned
    clean({"networks": [mv("a", ipam=STATIC)],
           "pods": [pod("p", {"name": "a", "ips": ["192.0.2.10/24"]})]})


def test_one_mac_for_two_pods_on_one_bridge() -> None:
    nets = [{"type": "bridge", "name": n, "bridge": "br0", "capabilities": {"mac": True},
             "ipam": hl("198.51.100.0/24") if n == "a" else hl("203.0.113.0/24")}
            for n in ("a", "b")]
    mac = "02:00:5e:00:00:01"
    spec = {"networks": nets, "pods": [pod("p", {"name": "a", "mac": mac}),
                                       pod("q", {"name": "b", "mac": mac.upper()})]}
    only(spec, f"{S}.pods[1].networks[0].mac", "link 'br0'",
         f"{S}.pods[0].networks[0]")
    clean({**spec, "pods": [pod("p", {"name": "a", "mac": mac}),
                            pod("q", {"name": "b", "mac": "02:00:5e:00:00:02"})]})


def test_config_mac_taken_by_every_selecting_pod() -> None:
    spec = {"networks": [mv("a", mac="02:00:5e:00:00:09", ipam=hl())],
            "workloads": [workload("w", {"name": "a"}, replicas=2,
                                   node_selector={"kubernetes.io/hostname": "n1"})]}
    only(spec, f"{S}.workloads[0].networks[0].name", "runs 2 pods", f"{S}.networks[0].mac")


# -- reserved addresses --------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "path", "words"), [
    ({"networks": [mv("a", ipam=hl(rangeStart="192.0.2.0"))]},
     f"{S}.networks[0].ipam.rangeStart", ["network address of 192.0.2.0/24"]),
    ({"networks": [mv("a", ipam={"type": "host-local", "ranges": [
        [{"subnet": "192.0.2.0/24", "rangeEnd": "192.0.2.255"}]]})]},
     f"{S}.networks[0].ipam.ranges[0][0].rangeEnd", ["broadcast address"]),
    ({"networks": [mv("a", capabilities=CAPS, ipam=STATIC)],
      "pods": [pod("p", {"name": "a", "ips": ["192.0.2.255/24"]})]},
     f"{S}.pods[0].networks[0].ips[0]", ["broadcast address"]),
    ({"networks": [mv("a", ipam={"type": "static", "addresses": [
        {"address": "198.51.100.0/24"}]})]},
     f"{S}.networks[0].ipam.addresses[0].address", ["network address"]),
    ({"networks": [mv("a", ipam=hl(gateway="192.0.2.1", rangeStart="192.0.2.100")),
                   mv("s", capabilities=CAPS, ipam=STATIC)],
      "pods": [pod("p", {"name": "s", "ips": ["192.0.2.1/24"]})]},
     f"{S}.pods[0].networks[0].ips[0]", ["gateway declared on link 'ens1'",
                                         f"{S}.networks[0].ipam.gateway"]),
    ({"networks": [mv("a", ipam=hl(rangeStart="192.0.2.100")), mv("s", ipam=hl(
        "198.51.100.0/24", routes=[{"dst": "0.0.0.0/0", "gw": "198.51.100.1"}]))],
      "pods": [pod("p", {"name": "a", "default-route": ["192.0.2.150"]})]},
     f"{S}.networks[0].ipam", ["holds 192.0.2.150", f"{S}.pods[0].networks[0].default-route"]),
    ({"networks": [mv("a", ipam={"type": "whereabouts", "range": "192.0.2.0/24",
                                 "gateway": "192.0.2.1"})]},
     f"{S}.networks[0].ipam", ["holds 192.0.2.1", f"{S}.networks[0].ipam.gateway"]),
])
def test_reserved_addresses(spec: J, path: str, words: list[str]) -> None:
    only(spec, path, *words)


def test_reserved_addresses_left_alone() -> None:
    # a /31 has no network or broadcast address; host-local skips its own gateway;
    # whereabouts' excluded gateway is not handed out; IPv6 has no broadcast
    clean({"networks": [
        mv("a", master="ens4", capabilities=CAPS, ipam=STATIC),
        mv("b", ipam=hl(gateway="192.0.2.1", rangeStart="192.0.2.1", rangeEnd="192.0.2.99")),
        mv("c", master="ens2", ipam={"type": "whereabouts", "range": "198.51.100.0/24",
                                     "gateway": "198.51.100.1",
                                     "exclude": ["198.51.100.0/30"]}),
        mv("d", master="ens3", ipam=hl("2001:db8::/64", rangeStart="2001:db8::")),
    ], "pods": [pod("p", {"name": "a", "ips": ["203.0.113.0/31"]})],
        "whereabouts": {"installed": "external"}})


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
                                 "03-00-00-00-00-00"])
def test_macs_the_kernel_refuses(mac: str) -> None:
    only({"networks": [mv("a", mac=mac)]}, f"{S}.networks[0].mac", mac)
    only({"networks": [mv("a", capabilities={"mac": True})],
          "pods": [pod("p", {"name": "a", "mac": mac})]}, f"{S}.pods[0].networks[0].mac", mac)
    chained = mv("a", chain=[{"type": "tuning", "mac": mac}])
    only({"networks": [chained]}, f"{S}.networks[0].chain[0].mac", "multicast" if mac[1] in
         "13f" else "zeros")


# -- routes ---------------------------------------------------------------------------------


def test_ipam_route_gateway_off_every_subnet() -> None:
    net = mv("a", ipam=hl(routes=[{"dst": "203.0.113.0/24", "gw": "198.51.100.1"}]))
    only({"networks": [net]}, f"{S}.networks[0].ipam.routes[0].gw", "192.0.2.0/24",
         "not on-link")
    ok = mv("a", ipam=hl(rangeEnd="192.0.2.200",
                         routes=[{"dst": "203.0.113.0/24", "gw": "192.0.2.254"},
                                 {"dst": "2001:db8:1::/48", "gw": "fe80::1"}]))
    clean({"networks": [ok]})


def test_static_route_gateway_against_the_selected_addresses() -> None:
    net = mv("a", capabilities=CAPS, ipam={"type": "static", "routes": [
        {"dst": "0.0.0.0/0", "gw": "198.51.100.1"}]})
    only({"networks": [net], "pods": [pod("p", {"name": "a", "ips": ["192.0.2.9/24"]})]},
         f"{S}.networks[0].ipam.routes[0].gw", f"{S}.pods[0].networks[0]")
    clean({"networks": [net], "pods": [pod("p", {"name": "a", "ips": ["198.51.100.9/24"]})]})


def test_ipv6_link_local_default_route_is_on_link() -> None:
    net = mv("a", ipam=hl("2001:db8::/64"))
    clean({"networks": [net], "pods": [pod("p", {"name": "a", "default-route": ["fe80::1"]})]})
    only({"networks": [net], "pods": [pod("p", {"name": "a", "default-route": ["2001:db9::1"]})]},
         f"{S}.pods[0].networks[0].default-route[0]", "on-link")


# -- cluster networks ------------------------------------------------------------------------


def test_secondary_subnet_overlapping_flannels_network_warns() -> None:
    spec = {"install_nad_crd": False,
            "multus": {"flannel": {"network": "198.18.0.0/16"}},
            "networks": [mv("a", ipam=hl("198.18.4.0/24"))]}
    f = only(spec, f"{S}.networks[0].ipam", "Flannel's Network", "198.18.0.0/16")
    assert f.severity == "warning"


def test_secondary_subnet_overlapping_a_declared_service_network_warns() -> None:
    spec = {"cluster_networks": {"services": ["192.0.2.0/25"]},
            "networks": [mv("a", ipam={"type": "host-local", "ranges": [
                [{"subnet": "192.0.2.0/24"}]]})]}
    f = only(spec, f"{S}.networks[0].ipam.ranges[0][0]", "service network 192.0.2.0/25")
    assert f.severity == "warning"
    clean({**spec, "cluster_networks": {"services": ["198.18.0.0/24"],
                                        "pods": ["198.19.0.0/16"]}})
    only({"cluster_networks": {"pods": ["10.0.0.0"]}}, f"{S}.cluster_networks.pods[0]", "CIDR")


# -- Multus namespace isolation --------------------------------------------------------------


def isolated(**multus: Any) -> J:
    return {"install_nad_crd": False,
            "multus": {"default_network": "none", "namespace_isolation": True, **multus},
            "networks": [mv("a", namespace="team-a", ipam=hl()),
                         mv("d", master="ens2", ipam=hl("198.51.100.0/24"))]}


def test_isolation_refuses_a_nad_of_another_namespace() -> None:
    spec = {**isolated(), "pods": [pod("p", {"name": "a", "namespace": "team-a"},
                                       namespace="team-b")]}
    only(spec, f"{S}.pods[0].networks[0].namespace", "team-b", "default")
    # the pod's own namespace, and default (Multus' global namespace when none is set)
    clean({**isolated(), "pods": [pod("p", {"name": "a"}, namespace="team-a"),
                                  pod("q", {"name": "d", "namespace": "default"},
                                      namespace="team-b")]})
    # globalNamespaces replaces default
    spec = {**isolated(global_namespaces=["team-a"]), "pods": [
        pod("q", {"name": "d", "namespace": "default"}, namespace="team-b"),
        pod("r", {"name": "a", "namespace": "team-a"}, namespace="team-b")]}
    assert [f.path for f in findings(spec)] == [f"{S}.pods[0].networks[0].namespace"]
    # without isolation, any namespace
    clean({**spec, "multus": {"default_network": "none"}})


# -- Multus connection limit -----------------------------------------------------------------


def limited(**multus: Any) -> J:
    return {"install_nad_crd": False, "multus": {"default_network": "none", **multus}}


def test_a_connection_limit_that_starves_the_node_max_pods_warns() -> None:
    # 110 pods in waves of 3: the last starts after 36 waves of 8 s, past the 240 s deadline
    found = only(limited(connection_limit=3), f"{S}.multus.connection_limit",
                 "110 pods", "after 36 waves", "about 288 s", "240 s deadline", "at least 4")
    assert found.severity == "warning" and found.value == 3
    # the node's maximum pods is what it is checked against
    only(limited(connection_limit=4, node_max_pods=250), f"{S}.multus.connection_limit",
         "after 62 waves", "at least 9")
    # the default (16), and limits whose last wave starts within the deadline
    clean(limited())
    clean(limited(connection_limit=4))
    clean(limited(connection_limit=1, node_max_pods=20))


def test_no_connection_limit_warns_with_the_measured_burst() -> None:
    found = only(limited(connection_limit=None), f"{S}.multus.connection_limit",
                 "no connection limit", "all 110 pods", "(500Mi)", "OOM-killed")
    assert found.severity == "warning" and found.value is None
    # thin Multus has no daemon to limit
    clean(limited(connection_limit=None, mode="thin"))
    clean(limited(mode="thin"))


# -- components run the same checks ----------------------------------------------------------


def test_network_component_refuses_a_multicast_mac(mocks: RecordingMocks) -> None:
    with pytest.raises(PlanError) as err:
        MacvlanNetwork("storage", MacvlanNetworkArgs(master="ens1", mac="01:00:5e:00:00:01"))
    assert err.value.paths == ["storage.mac"]
    assert mocks.registered == []


def test_workload_component_refuses_a_static_address_for_every_replica() -> None:
    def program() -> None:
        net = MacvlanNetwork("storage", MacvlanNetworkArgs(
            master="ens1", capabilities=CAPS, ipam={"type": "static"}))  # type: ignore[arg-type]
        MultiHomedWorkload("app", WorkloadArgs(image="busybox:1.36", replicas=2, networks=[
            net.selection("net1", ips=["192.0.2.10/24"])]), networks=[net])

    with pytest.raises(PlanError) as err:
        run_program(program)
    assert err.value.paths == ["app.networks[0].ips[0]"]


@pytest.fixture
def mocks() -> RecordingMocks:
    mocks = RecordingMocks()
    import pulumi

    pulumi.runtime.set_mocks(mocks, project="netplumb", stack="test", preview=False)
    return mocks


# -- host-local's own overlap rule --------------------------------------------------------------


def test_host_local_ranges_overlap_by_span_not_by_subnet() -> None:
    """host-local's Range.Overlaps compares rangeStart..rangeEnd: two ranges of one subnet
    with disjoint spans are valid, in one set and across sets."""
    import json

    from netplumb import parse_cni_config

    def conf(*sets: list[J]) -> str:
        return json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "macvlan",
                           "ipam": {"type": "host-local", "ranges": list(sets)}})

    low = {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10", "rangeEnd": "192.0.2.50"}
    high = {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.100", "rangeEnd": "192.0.2.150"}
    assert len(parse_cni_config(conf([low, high])).pools()) == 2
    assert len(parse_cni_config(conf([low], [high])).pools()) == 2
    with pytest.raises(PlanError) as err:
        parse_cni_config(conf([low, {**high, "rangeStart": "192.0.2.50"}]))
    assert err.value.paths == ["ipam.ranges[0][1].subnet"]
    with pytest.raises(PlanError) as err:
        parse_cni_config(conf([low], [{**high, "rangeStart": "192.0.2.20"}]))
    assert err.value.paths == ["ipam.ranges[1][0].subnet"]


# -- what the plan adds itself: device resources -----------------------------------------


def _sriov_stack(**resources: Any) -> J:
    return {"networks": [{"type": "sriov", "name": "vf", "resource_name": "intel.com/sriov"}],
            "pods": [pod("p", {"name": "vf"}, **resources)],
            "workloads": [workload("w", {"name": "vf"}, {"name": "vf"}, **resources)]}


def test_device_resources_are_planned_before_anything_registers() -> None:
    plan = build_plan(StackSpec.parse(_sriov_stack(), at=AT))
    assert plan.resources == {
        "Pod/default/p": {"requests": {"intel.com/sriov": "1"},
                          "limits": {"intel.com/sriov": "1"}},
        "Deployment/default/w": {"requests": {"intel.com/sriov": "2"},
                                 "limits": {"intel.com/sriov": "2"}}}
    too_few = {"resources": {"requests": {"intel.com/sriov": "1"},
                             "limits": {"intel.com/sriov": "1"}}}
    only(_sriov_stack(**too_few), f"{S}.workloads[0].resources.requests.intel.com/sriov",
         "need 2 intel.com/sriov")
    assert [f.path for f in findings(_sriov_stack(**too_few))] == [
        f"{S}.workloads[0].resources.requests.intel.com/sriov"]


@pytest.mark.parametrize("key", ["pods", "workloads"])
def test_networks_given_twice_differently(key: str) -> None:
    one = pod if key == "pods" else workload
    notes = {"k8s.v1.cni.cncf.io/networks": '[{"name": "b"}]'}
    spec = {"networks": [mv("a"), mv("b")], key: [one("x", {"name": "a"}, annotations=notes)]}
    only(spec, f"{S}.{key}[0].annotations.k8s.v1.cni.cncf.io/networks",
         "already select networks")
    same = {"k8s.v1.cni.cncf.io/networks": '[{"name": "a"}]'}
    clean({"networks": [mv("a"), mv("b")], key: [one("x", {"name": "a"}, annotations=same)]})
