"""Probe pods: their manifests, the pinger's report and how it is judged (pure)."""

from __future__ import annotations

import json

from netplumb.cni.selection import NetworkSelection
from netplumb.ops.probes import (
    PROBE_LABEL,
    ProbeSpec,
    Target,
    judge,
    parse_report,
    peer_pod,
    pinger_pod,
    probe_name,
)

REPORT = "\n".join([
    "## link 7: net1@if6: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue "
    "\\    link/ether 0a:58:c0:00:02:65 brd ff:ff:ff:ff:ff:ff",
    "## addr 7: net1    inet 192.0.2.101/24 brd 192.0.2.255 scope global net1\\       "
    "valid_lft forever preferred_lft forever",
    "## addr 7: net1    inet6 fe80::858:c0ff:fe00:265/64 scope link \\       "
    "valid_lft forever preferred_lft forever",
    "## route4 default via 192.0.2.1 dev net1",
    "## ping 192.0.2.102 ok",
    "## ping 192.0.2.103 fail 2 packets transmitted, 0 packets received, 100% packet loss",
    "## end", ""])


def _spec(**kw: object) -> ProbeSpec:
    sel = NetworkSelection.model_validate({"name": "storage", "namespace": "team-a",
                                           "interface": "net1", **kw},
                                          context={"typed": True})
    return ProbeSpec("team-a/storage", sel)


def test_report_parsed() -> None:
    rep = parse_report(REPORT)
    assert rep.complete and rep.mac == "0a:58:c0:00:02:65"
    assert rep.addresses == ["192.0.2.101/24"]
    assert rep.routes == {4: ["default via 192.0.2.1 dev net1"], 6: []}
    assert rep.pings["192.0.2.102"] == (True, "")
    assert rep.pings["192.0.2.103"][0] is False


def test_judged_against_network_status_and_requests() -> None:
    targets = [Target("192.0.2.102", "probe peer"), Target("192.0.2.103", "team-a/db-0")]
    problems, notes = judge(parse_report(REPORT), targets, ["192.0.2.101"],
                            "0A:58:C0:00:02:65", ["192.0.2.1"])
    assert problems == ["no answer from 192.0.2.103 (team-a/db-0): 2 packets transmitted, 0 "
                        "packets received, 100% packet loss"]
    assert notes == ["default route via 192.0.2.1 on net1 is in place"]
    problems, _ = judge(parse_report(REPORT.replace("route4 default via 192.0.2.1 dev net1",
                                                    "route4 default via 198.51.100.1 dev eth0")),
                        targets[:1], ["192.0.2.109"], "0a:58:c0:00:02:66", ["192.0.2.1"])
    assert problems == [
        "net1 has MAC 0a:58:c0:00:02:65, network-status says 0a:58:c0:00:02:66",
        "network-status lists 192.0.2.109, not on net1 inside the pod",
        "default route via 192.0.2.1 on net1 requested; the pod has default via 198.51.100.1 "
        "dev eth0 (Multus releases built with netlink v1.3.1 drop default-route requests: "
        "multus-cni #1552)"]
    problems, _ = judge(parse_report(REPORT.replace("## end\n", "")), targets[:1], [], "", [])
    assert problems == ["the pinger's report is incomplete (it did not run to the end)"]


def test_pods_select_the_network_like_the_plan() -> None:
    spec = _spec(**{"default-route": ["192.0.2.1"]})
    peer = peer_pod(spec, "abc123", "busybox:1.36")
    ping = pinger_pod(spec, "abc123", "busybox:1.36", ["192.0.2.7", "192.0.2.8"])
    for pod in (peer, ping):
        assert pod["metadata"]["namespace"] == "team-a"
        assert pod["metadata"]["labels"][PROBE_LABEL] == "abc123"
        [sel] = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
        assert sel == {"name": "storage", "namespace": "team-a", "interface": "net1",
                       "default-route": ["192.0.2.1"]}
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["activeDeadlineSeconds"] > 0
    assert peer["spec"]["containers"][0]["command"][0] == "sleep"
    script = ping["spec"]["containers"][0]["command"][2]
    assert "for t in 192.0.2.7 192.0.2.8; do" in script and "/dev/termination-log" in script
    assert peer["metadata"]["name"] != ping["metadata"]["name"]


def test_devices_and_static_addresses() -> None:
    sel = NetworkSelection.model_validate({"name": "fixed", "namespace": "x",
                                           "interface": "net1"}, context={"typed": True})
    spec = ProbeSpec("x/fixed", sel, "intel.com/sriov", {"sriov": "true"},
                     ("192.0.2.240/24", "192.0.2.241/24"))
    peer, ping = peer_pod(spec, "r", "img"), pinger_pod(spec, "r", "img", ["192.0.2.240"])
    assert json.loads(peer["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[0][
        "ips"] == ["192.0.2.240/24"]
    assert json.loads(ping["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[0][
        "ips"] == ["192.0.2.241/24"]
    res = peer["spec"]["containers"][0]["resources"]
    assert res["limits"]["intel.com/sriov"] == "1" == res["requests"]["intel.com/sriov"]
    assert peer["spec"]["nodeSelector"] == {"sriov": "true"}
    # probe pods may go to any node the selector allows (only spread apart by anti-affinity)
    assert "nodeAffinity" not in peer["spec"]["affinity"]


def test_names_fit() -> None:
    spec = ProbeSpec("ns/" + "n" * 60, _spec().selection)
    name = probe_name("abcdef", spec, "peer")
    assert len(name) <= 63 and name.endswith("-peer")


def test_the_mtu_is_read_inside_the_pod_and_compared_with_the_networks() -> None:
    rep = parse_report(REPORT)
    assert rep.mtu == 1500
    problems, notes = judge(rep, [], ["192.0.2.101"], "", [], mtu=9000)
    assert problems == ["net1 has MTU 1500 inside the pod, the network sets 9000"]
    problems, notes = judge(rep, [], ["192.0.2.101"], "", [], mtu=1500)
    assert (problems, notes) == ([], ["net1 has MTU 1500 inside the pod, as the network sets"])
    assert parse_report(REPORT.replace(" mtu 1500", "")).mtu is None
