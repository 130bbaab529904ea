"""``verify``'s run of probe pods against a scripted API (no cluster).

The fake answers only the calls verify makes (create, get, list, delete) and plays a node that
runs containers: a created probe pod is Running at once with a network-status for ``net1``,
a pinger ends with the report its command would print, answering every target but one. The
probe run itself (what is created, which addresses are pinged, how results are read, that every
probe pod is removed) is what is under test; the shell program is tested in
``tests/dataplane/test_probe_script.py`` and on clusters whose nodes run containers.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from netplumb.args.stack import StackSpec
from netplumb.ops.probes import PROBE_LABEL
from netplumb.ops.progress import Progress
from netplumb.ops.verify import VerifyOptions, format_text, problems, verify
from netplumb.plan import build_plan

SPEC = {
    "networks": [
        {"name": "storage", "type": "macvlan", "master": "ens2f0",
         "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                  "rangeStart": "192.0.2.100", "rangeEnd": "192.0.2.150",
                  "gateway": "192.0.2.1"}},
        {"name": "fixed", "type": "macvlan", "master": "ens2f0",
         "capabilities": {"ips": True}, "ipam": {"type": "static"}},
    ],
    "pods": [
        {"name": "app", "networks": [{"name": "storage", "interface": "net1"}]},
        {"name": "gw", "networks": [{"name": "storage", "interface": "net1",
                                     "default-route": ["192.0.2.1"]}]},
    ],
}
DEAD = "192.0.2.102"
"""The address that does not answer (``gw``'s)."""


def _status(iface: str, nad: str, ip: str, mac: str) -> str:
    return json.dumps([{"name": "cluster", "interface": "eth0", "ips": ["198.51.100.9"],
                        "default": True},
                       {"name": nad, "interface": iface, "ips": [ip], "mac": mac}])


class FakeCluster:
    def __init__(self, *, unschedulable: bool = False) -> None:
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str]] = []
        self.next_ip = 120
        self.nodes = [{"metadata": {"name": "w1"},
                       "spec": {"unschedulable": True} if unschedulable else {},
                       "status": {"nodeInfo": {"containerRuntimeVersion": "containerd://2.4.2"}}}]
        for name, ip in (("app", "192.0.2.101"), ("gw", DEAD)):
            self.pods[("default", name)] = {
                "metadata": {"name": name, "namespace": "default", "annotations": {
                    "k8s.v1.cni.cncf.io/network-status": _status("net1", "default/storage", ip,
                                                                 "0a:00:00:00:00:01")}},
                "spec": {"nodeName": "w1"}, "status": {"phase": "Running"}}

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        pod: dict[str, Any] = json.loads(json.dumps(manifest))
        meta = pod["metadata"]
        [sel] = json.loads(meta["annotations"]["k8s.v1.cni.cncf.io/networks"])
        ip = f"192.0.2.{self.next_ip}"
        self.next_ip += 1
        mac = f"0a:00:00:00:01:{self.next_ip:02x}"
        meta["annotations"]["k8s.v1.cni.cncf.io/network-status"] = _status(
            "net1", f"{sel['namespace']}/{sel['name']}", ip, mac)
        pod["spec"]["nodeName"] = "w1"
        command = pod["spec"]["containers"][0]["command"]
        if command[0] == "sleep":
            pod["status"] = {"phase": "Running"}
        else:
            targets = re.search(r"for t in ([^;]*); do", command[2])
            assert targets is not None
            lines = [f"## link 3: net1: <UP> mtu 1500 \\    link/ether {mac} brd "
                     "ff:ff:ff:ff:ff:ff", f"## addr 3: net1    inet {ip}/24 scope global net1"]
            gw = sel.get("default-route")
            lines.append(f"## route4 default via {gw[0]} dev net1" if gw else
                         "## route4 default via 198.51.100.1 dev eth0")
            lines += [f"## ping {t} {'fail 100% packet loss' if t == DEAD else 'ok'}"
                      for t in targets.group(1).split()]
            lines.append("## end")
            pod["status"] = {"phase": "Failed", "containerStatuses": [{"name": "probe", "state": {
                "terminated": {"exitCode": 1, "message": "\n".join(lines) + "\n"}}}]}
        self.pods[(meta["namespace"], meta["name"])] = pod
        self.created.append(pod)
        return pod

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        return self.pods.get((str(namespace), name))

    def list(self, api_version: str, kind: str, **kw: Any) -> list[dict[str, Any]]:
        if kind == "Node":
            return self.nodes
        if kind == "Event":
            return []
        return [p for p in self.pods.values() if p["metadata"]["namespace"] ==
                kw.get("namespace", p["metadata"]["namespace"])]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               **kw: Any) -> bool:
        self.deleted.append((str(namespace), name))
        return self.pods.pop((str(namespace), name), None) is not None

    def pod_log(self, namespace: str, name: str, **kw: Any) -> str:
        raise AssertionError("the termination message carries the report")


def test_probes_ping_peers_and_the_plans_pods_then_leave_nothing() -> None:
    fake = FakeCluster()
    plan = build_plan(StackSpec.parse(SPEC))
    stream = io.StringIO()
    report = verify(fake, "t", plan, VerifyOptions(timeout=5),  # type: ignore[arg-type]
                    Progress(True, stream))
    probes = {n.network: n.probe for n in report.networks}
    storage = probes["default/storage"]
    assert storage is not None and storage.state == "failed"
    assert [t.owner for t in storage.targets] == ["probe peer", "default/app", "default/gw"]
    assert storage.problems == [f"no answer from {DEAD} (default/gw): 100% packet loss"]
    assert storage.notes == ["default route via 192.0.2.1 on net1 is in place"]
    fixed = probes["default/fixed"]
    assert fixed is not None and fixed.state == "skipped" and "--probe-address" in fixed.reason
    # the probes asked for the plan's default route, and every probe pod is gone again
    [pinger] = [p for p in fake.created if p["metadata"]["name"].endswith("-ping")]
    assert json.loads(pinger["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[0][
        "default-route"] == ["192.0.2.1"]
    assert all(PROBE_LABEL not in p["metadata"].get("labels", {}) for p in fake.pods.values())
    assert sorted(fake.deleted) == sorted((p["metadata"]["namespace"], p["metadata"]["name"])
                                          for p in fake.created)
    assert list(problems(report)) == [f"probe default/storage: no answer from {DEAD} "
                                      "(default/gw): 100% packet loss"]
    assert "starting probe pods on 1 networks" in stream.getvalue()
    assert "FAIL: no answer from" in format_text(report)


def test_static_network_probed_with_given_addresses_and_cordoned_nodes_skipped() -> None:
    fake = FakeCluster()
    plan = build_plan(StackSpec.parse(SPEC))
    options = VerifyOptions(timeout=5, networks=frozenset({"fixed"}),
                            probe_addresses={"fixed": ("192.0.2.240/24", "192.0.2.241/24")})
    report = verify(fake, "t", plan, options)  # type: ignore[arg-type]
    [net] = report.networks
    assert net.probe is not None and net.probe.state == "ok", net.probe
    sels = [json.loads(p["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[0]["ips"]
            for p in fake.created]
    assert sels == [["192.0.2.240/24"], ["192.0.2.241/24"]]

    cordoned = FakeCluster(unschedulable=True)
    report = verify(cordoned, "t", plan)  # type: ignore[arg-type]
    assert {n.probe.reason for n in report.networks if n.probe} == {"no schedulable node"}
    assert cordoned.created == [] and report.ok


def test_progress_only_on_a_terminal_outside_ci(monkeypatch: Any) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert Progress.auto(quiet=False, stream=Tty()).enabled
    assert not Progress.auto(quiet=True, stream=Tty()).enabled
    assert not Progress.auto(quiet=False, stream=io.StringIO()).enabled
    monkeypatch.setenv("CI", "true")
    assert not Progress.auto(quiet=False, stream=Tty()).enabled
