"""netplumb graph: the topology of stacks/Pulumi.dev.yaml as DOT, SVG (Graphviz) and Mermaid
holds every network, pod and interface of the plan; --live adds the nodes, the pods'
addresses and pool use; changes against another revision are marked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.paths import REPO_ROOT
from netplumb.args.stack import load_stack_file
from netplumb.cli import graph as graph_cli
from netplumb.cli.main import main
from netplumb.ops.graph import (
    Topology,
    compare,
    from_objects,
    networks_changed,
    to_dot,
    to_mermaid,
    with_live,
)
from netplumb.plan import Plan, build_plan

DEV = REPO_ROOT / "stacks" / "Pulumi.dev.yaml"
HAVE_DOT = shutil.which("dot") is not None
NO_DOT = "Graphviz's dot is not on PATH (Debian package graphviz): the SVG is not laid out here"


def dev_plan() -> Plan:
    return build_plan(load_stack_file(DEV))


def dev_topology() -> Topology:
    return graph_cli.offline(dev_plan(), "stack dev")


def expected(plan: Plan) -> tuple[set[str], set[str], set[tuple[str, str, str]]]:
    """Networks (ns/name), pods (``Pod ns/name``) and (pod, interface, network) of the plan,
    read from the plan itself, not from the picture."""
    networks = {net.key for net, _ in plan.networks}
    pods = {f"Pod {p.namespace}/{name}" for name, p in plan.pods}
    pods |= {f"{w.kind} {w.namespace}/{name}" for name, w in plan.workloads}
    attachments = set()
    for name, p in plan.pods:
        for i, sel in enumerate(p.networks):
            attachments.add((f"Pod {p.namespace}/{name}", sel.interface or f"net{i + 1}",
                             sel.key(p.namespace)))
    return networks, pods, attachments


_DOT_EDGE = re.compile(r'^\s*"pod:([^"]+)" -> "net:([^"]+)" \[label="([^"]*)"', re.M)


def test_dot_has_every_network_pod_and_interface_of_the_dev_plan() -> None:
    plan = dev_plan()
    networks, pods, attachments = expected(plan)
    assert networks and pods and attachments
    dot = to_dot(dev_topology())
    assert dot.startswith('digraph "netplumb stack dev" {') and dot.rstrip().endswith("}")
    for key in networks:
        assert f'"net:{key}" [' in dot
    for pod in pods:
        assert f'"pod:{pod}" [' in dot
    edges = {(h, label.split("\\n")[0], n) for h, n, label in _DOT_EDGE.findall(dot)}
    assert edges == attachments
    # the underlays, and what each network says of itself
    assert '"link:np-under0"' in dot and '"link:np-br-dev"' in dot
    assert "host-local 192.0.2.0/24" in dot and "whereabouts 198.51.100.0/24" in dot
    assert "192.0.2.245/24" in dot  # the static pod's requested address on its edge


def svg_texts(svg: bytes) -> tuple[set[str], dict[str, list[str]]]:
    """Every text of the SVG, and the texts of each edge by its title (``a->b``)."""
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    texts = {(t.text or "").strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}
    edges: dict[str, list[str]] = {}
    for g in root.iterfind(".//s:g[@class='edge']", ns):
        title = g.find("s:title", ns)
        assert title is not None and title.text
        edges[title.text] = [(t.text or "").strip() for t in g.iterfind(".//s:text", ns)]
    return texts, edges


@pytest.mark.skipif(not HAVE_DOT, reason=NO_DOT)
def test_svg_of_the_dev_plan_holds_every_network_pod_and_interface(
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["graph", str(DEV)]) == 0  # svg is the default, on stdout
    svg = capsysbinary.readouterr().out
    texts, edges = svg_texts(svg)
    networks, pods, attachments = expected(dev_plan())
    assert networks <= texts and pods <= texts
    for pod, iface, net in attachments:
        assert iface in edges[f"pod:{pod}->net:{net}"]


@pytest.mark.skipif(not HAVE_DOT, reason=NO_DOT)
def test_png_and_svg_to_files(tmp_path: Path) -> None:
    assert main(["graph", str(DEV), "--out", str(tmp_path / "dev.png")]) == 0
    assert (tmp_path / "dev.png").read_bytes().startswith(b"\x89PNG")
    assert main(["graph", str(DEV), "--format", "svg", "--out", str(tmp_path / "x")]) == 0
    assert b"<svg" in (tmp_path / "x").read_bytes()


_MERMAID_NODE = re.compile(r'^\s+([A-Za-z][A-Za-z0-9_]*)(\[\[|\{\{|\[)"(.*)"(\]\]|\}\}|\])$')
_MERMAID_EDGE = re.compile(r'^\s+(\w+) (-->|-\.->)\|"([^"]*)"\| (\w+)$')


def parse_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]], list[str]]:
    """(node id → label, edges (from, label, to), subgraph labels); fails on a line it does not
    know, so the output stays in the small Mermaid subset this reads."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    groups: list[str] = []
    depth = 0
    for line in lines[1:]:
        s = line.strip()
        if s.startswith("%%") or s.startswith(("classDef ", "class ")):
            continue
        if s.startswith("subgraph "):
            m = re.match(r'^subgraph (\w+)\["(.*)"\]$', s)
            assert m, line
            groups.append(m.group(2))
            depth += 1
            continue
        if s == "end":
            depth -= 1
            continue
        if m := _MERMAID_NODE.match(line):
            assert '"' not in m.group(3), line
            nodes[m.group(1)] = m.group(3)
            continue
        m = _MERMAID_EDGE.match(line)
        assert m, f"not a node or edge: {line!r}"
        edges.append((m.group(1), m.group(3), m.group(4)))
    assert depth == 0
    for a, _, b in edges:
        assert a in nodes and b in nodes
    return nodes, edges, groups


def test_mermaid_has_the_same_nodes_and_edges() -> None:
    topo = dev_topology()
    nodes, edges, _ = parse_mermaid(to_mermaid(topo))
    networks, pods, attachments = expected(dev_plan())
    first = {i: label.split("<br/>")[0] for i, label in nodes.items()}
    assert networks <= set(first.values()) and pods <= set(first.values())
    found = {(first[a], label.split("<br/>")[0], first[b]) for a, label, b in edges
             if first[a] in pods}
    assert found == attachments
    # networks hang off their underlays, as in the DOT picture
    assert ("default/macvlan-conf", "master", "np-under0") in {
        (first[a], label, first[b]) for a, label, b in edges}


def test_mermaid_escapes_what_would_end_a_label() -> None:
    objects = [{"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ns", "annotations": {
                    "k8s.v1.cni.cncf.io/networks": json.dumps(
                        [{"name": "n", "interface": "a|b\"c", "ips": ["10.0.0.1/24"]}])}}}]
    nodes, edges, _ = parse_mermaid(to_mermaid(from_objects(objects, "odd # <x>")))
    [(_, label, _)] = edges
    assert "#124;" in label and "#quot;" in label
    assert any("external" in v for v in nodes.values())


# -- live ---------------------------------------------------------------------------------------


def status(*entries: dict[str, Any]) -> str:
    return json.dumps([{"name": "cbr0", "interface": "eth0", "ips": ["10.244.1.5"],
                        "default": True}, *entries])


def live_pod(name: str, node: str, *entries: dict[str, Any], labels: dict[str, str] | None = None
             ) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": labels or {},
                         "annotations": {"k8s.v1.cni.cncf.io/network-status": status(*entries)}},
            "spec": {"nodeName": node}}


def dev_live() -> Topology:
    plan = dev_plan()
    nads = [m for m in graph_cli.plan_objects(plan) if m["kind"] == "NetworkAttachmentDefinition"]
    pods = [
        live_pod("multus-pod-1", "worker-1", {"name": "default/macvlan-conf",
                                              "interface": "net1", "ips": ["192.0.2.100"],
                                              "mac": "02:00:00:00:00:01"}),
        live_pod("multus-pod-2", "worker-1",
                 {"name": "default/macvlan-conf", "interface": "net1", "ips": ["192.0.2.101"]},
                 {"name": "default/bridge-conf", "interface": "net2", "ips": ["203.0.113.10"]}),
        live_pod("wb-pod-1", "worker-2", {"name": "default/whereabouts-conf",
                                          "interface": "net1", "ips": ["198.51.100.64"]}),
    ]
    nodes = [{"metadata": {"name": n}} for n in ("worker-1", "worker-2", "control-plane")]
    return with_live(graph_cli.offline(plan, "stack dev"), nodes, pods, nads)


def test_live_adds_nodes_addresses_and_pool_use() -> None:
    topo = dev_live()
    assert topo.live and topo.nodes == ["control-plane", "worker-1", "worker-2"]
    dot = to_dot(topo)
    for node in topo.nodes:
        assert f'label="node {node}"' in dot
    assert '"pod:Pod default/multus-pod-1" -> "net:default/macvlan-conf" ' \
           '[label="net1\\n192.0.2.100\\nmac 02:00:00:00:00:01"' in dot
    assert "eth0 10.244.1.5" in dot
    assert "pool 2/51 (node worker-1)" in dot and "pool 1/32 (cluster)" in dot
    holders = topo.holders
    assert holders["Pod default/multus-pod-1"].node == "worker-1"
    assert holders["Pod default/static-ip-pod"].note == "no pod running"
    missing = [e for e in topo.edges if e.holder == "Pod default/static-ip-pod"]
    assert [(e.interface, e.planned_only) for e in missing] == [("net1", True)]
    _, _, groups = parse_mermaid(to_mermaid(topo))
    assert groups == ["node worker-1", "node worker-2", "node control-plane"]


@pytest.mark.skipif(not HAVE_DOT, reason=NO_DOT)
def test_live_svg_holds_the_nodes_and_the_addresses() -> None:
    texts, edges = svg_texts(subprocess.run(["dot", "-Tsvg"], input=to_dot(dev_live()).encode(),
                                            capture_output=True, check=True).stdout)
    assert {"node worker-1", "node worker-2", "node control-plane"} <= texts
    assert "192.0.2.101" in edges["pod:Pod default/multus-pod-2->net:default/macvlan-conf"]
    assert "203.0.113.10" in edges["pod:Pod default/multus-pod-2->net:default/bridge-conf"]


def test_a_workloads_pods_are_found_by_its_selector() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"annotations": {
                               "k8s.v1.cni.cncf.io/networks": "br@net1"}}}}}
    offline = from_objects([deployment], "t")
    assert offline.holders["Deployment default/web"].lines() == ["Deployment default/web ×2"]
    pods = [live_pod("web-1", "w1", {"name": "default/br", "interface": "net1",
                                     "ips": ["10.0.0.2"]}, labels={"app": "web"}),
            live_pod("other", "w1", labels={"app": "db"})]
    topo = with_live(offline, [{"metadata": {"name": "w1"}}], pods, [])
    assert list(topo.holders) == ["Pod default/web-1"]
    assert topo.holders["Pod default/web-1"].note == "of Deployment web"
    assert [(e.network, e.addresses) for e in topo.edges] == [("default/br", ("10.0.0.2",))]


# -- changes ------------------------------------------------------------------------------------


def _nad(name: str, **config: Any) -> dict[str, Any]:
    body = {"cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": "br0", **config}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"config": json.dumps(body)}}


def _pod(*nets: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "namespace": "default",
        "annotations": {"k8s.v1.cni.cncf.io/networks": ",".join(nets)}}}


def test_changes_are_marked_and_detected() -> None:
    base = from_objects([_nad("a"), _nad("b"), _pod("a", "b")], "t")
    same = from_objects([_nad("a"), _nad("b"), _pod("a", "b")], "t")
    assert not networks_changed(base, same)
    assert networks_changed(None, same)
    head = from_objects([_nad("a", mtu=9000), _nad("c"), _pod("a", "c")], "t")
    assert networks_changed(base, head)
    marked = compare(base, head)
    assert {k: n.status for k, n in marked.networks.items()} == {
        "default/a": "changed", "default/b": "removed", "default/c": "added"}
    assert sorted((e.network, e.interface, e.status) for e in marked.edges) == [
        ("default/a", "net1", ""), ("default/b", "net2", "removed"),
        ("default/c", "net2", "added")]
    mermaid = to_mermaid(marked)
    parse_mermaid(mermaid)
    assert "class " in mermaid and "classDef removed" in mermaid and "(added)" in mermaid
    # a pod moving between interfaces of the same network is a change of attachments
    moved = from_objects([_nad("a"), _nad("b"), _pod("b", "a")], "t")
    assert networks_changed(base, moved)


# -- the command --------------------------------------------------------------------------------


def test_formats_from_the_suffix_and_text_formats_need_no_renderer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["graph", str(DEV), "--out", str(tmp_path / "dev.mmd")]) == 0
    assert (tmp_path / "dev.mmd").read_text().startswith("flowchart LR")
    assert main(["graph", str(DEV), "--out", str(tmp_path / "dev.gv")]) == 0
    assert (tmp_path / "dev.gv").read_text().startswith("digraph")
    capsys.readouterr()
    assert main(["graph", str(DEV), "--format", "svg"]) == 2
    err = capsys.readouterr().err
    assert "Graphviz" in err and "graphviz" in err and "--format mermaid" in err


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        "PATH": "/usr/bin:/bin", "HOME": str(repo)})


def test_changed_since_writes_only_when_the_networks_changed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "Pulumi.yaml").write_text("name: t\nruntime: python\n")
    stack = repo / "stacks" / "Pulumi.t.yaml"
    net: dict[str, Any] = {"name": "n", "type": "bridge", "bridge": "br0"}
    pod = {"name": "p", "networks": [{"name": "n"}]}
    stack.write_text(json.dumps({"config": {"netplumb:spec": {"networks": [net],
                                                              "pods": [pod]}}}))
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    out = tmp_path / "graph.mmd"
    args = ["graph", str(stack), "--format", "mermaid", "--changed-since", "HEAD",
            "--out", str(out)]
    assert main(args) == 0 and not out.exists()
    assert "nothing written" in capsys.readouterr().err
    net["mtu"] = 9000
    stack.write_text(json.dumps({"config": {"netplumb:spec": {"networks": [net],
                                                              "pods": [pod]}}}))
    assert main(args) == 0
    text = out.read_text()
    parse_mermaid(text)
    assert "(changed)" in text and "classDef changed" in text
    assert main([*args[:-4], "--changed-since", "no-such-ref"]) == 2


class _LiveKube:
    """Lists nodes, pods and NADs of a made-up cluster running part of the dev stack."""

    def __init__(self) -> None:
        plan = dev_plan()
        self.objects: dict[str, list[dict[str, Any]]] = {
            "Node": [{"metadata": {"name": "worker-1"}}],
            "Pod": [live_pod("wb-pod-1", "worker-1", {"name": "default/whereabouts-conf",
                                                      "interface": "net1",
                                                      "ips": ["198.51.100.70"]})],
            "NetworkAttachmentDefinition": [
                m for m in graph_cli.plan_objects(plan)
                if m["kind"] == "NetworkAttachmentDefinition"]}
        self.calls: list[tuple[str, str | None]] = []

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             **_: Any) -> list[dict[str, Any]]:
        self.calls.append((kind, namespace))
        return self.objects.get(kind, [])


def test_live_from_the_command(monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    kube = _LiveKube()
    monkeypatch.setattr(graph_cli, "connect", lambda args, prog: kube)
    assert main(["graph", str(DEV), "--live", "--format", "mermaid"]) == 0
    nodes, edges, groups = parse_mermaid(capsys.readouterr().out)
    assert groups == ["node worker-1"]
    assert any(label.startswith("net1<br/>198.51.100.70") for _, label, _ in edges)
    assert any("pool 1/32 (cluster)" in label for label in nodes.values())
    assert ("Pod", "default") in kube.calls and ("Node", None) in kube.calls
