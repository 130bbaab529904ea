"""``netplumb graph``: a stack's topology, as Graphviz DOT or a Mermaid flowchart (pure).

The picture, left to right: the pods (and workloads) with an edge per attachment, labelled
with its interface and addresses; the networks (NAD, plugin type, subnets and ranges, IPAM,
pool use); the underlays their interfaces hang off (the master, bridge or device link).

* **Offline** (:func:`from_objects` of the plan's rendered NADs, pods and workloads): what the
  plan asks, requested addresses on the edges; networks a selection names that the stack
  does not declare are drawn dashed (external).
* **Live** (:func:`with_live`): the cluster's nodes as boxes holding the pods that run there,
  each attachment as the pod's ``k8s.v1.cni.cncf.io/network-status`` reports it (interface,
  addresses, MAC), the default network's address on the pod, and the pool use ``netplumb
  doctor`` computes. A planned pod or workload with no pod running stays, marked so, with its
  planned attachments dashed.

:func:`compare` marks what changed against another revision's topology (networks added,
changed or removed; attachments added or removed), and :func:`networks_changed` says whether
anything did: the pull-request comment carries the Mermaid picture only then.

Laying out is Graphviz's job (``dot``; :func:`to_dot` only writes its input), and GitHub's
for Mermaid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..args.nad import RESOURCE_NAME_ANNOTATION
from ..cni.config import CniConfig, parse_cni_config
from ..cni.ipam import ipam_facts
from ..errors import PlanError
from ..planned import DEFAULT_ROUTE_LINK, HOSTNAME_LABEL
from ..render.nad import NAD_KIND
from .adopt import Selected, pod_template, read_selections
from .attachments import network_status
from .doctor import parse_nads, pool_use
from .owners import PodOwner

Obj = Mapping[str, Any]
Status = Literal["", "added", "changed", "removed"]
HOLDER_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet")
"""Objects drawn as pods: bare pods and the workloads whose template selects networks."""


@dataclass(frozen=True)
class Network:
    """A network (one NAD) as drawn."""

    key: str
    type: str = "external"
    link: str | None = None
    """The underlay its interfaces hang off (master, bridge, device)."""
    link_role: str = ""
    """``master``, ``bridge``, ``device`` (the edge's label)."""
    mode: str | None = None
    ipam: str | None = None
    subnets: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    external: bool = False
    """Selected but not declared by the stack (``external_networks``, or simply absent)."""
    digest: str = ""
    """The CNI config (any change to it is a change to the network)."""
    pool_use: tuple[str, ...] = ()
    status: Status = ""

    def lines(self) -> list[str]:
        if self.external:
            return [self.key, "external (not managed by this stack)"]
        kind = self.type + (f" ({self.mode})" if self.mode else "")
        out = [self.key, kind]
        if self.ipam:
            out.append(f"{self.ipam} " + ", ".join(self.subnets) if self.subnets
                       else self.ipam)
        else:
            out.append("no IPAM")
        out += [f"range {r}" for r in self.ranges]
        out += [f"pool {u}" for u in self.pool_use]
        if self.status:
            out.append(f"({self.status})")
        return out

    def signature(self) -> tuple[Any, ...]:
        return (self.type, self.link, self.mode, self.ipam, self.subnets, self.ranges,
                self.external, self.digest)


@dataclass(frozen=True)
class Holder(PodOwner):
    """A pod, or a workload whose pods select networks."""

    replicas: int | None = 1
    """Pods it runs (``None``: one per node, a DaemonSet)."""
    node: str | None = None
    """The cluster node the pod runs on (live)."""
    address: str | None = None
    """The default network's address (live)."""
    note: str = ""
    """``of Deployment web``, ``no pod running``."""
    match_labels: tuple[tuple[str, str], ...] = ()
    """How a workload's pods are found (its selector)."""

    def lines(self) -> list[str]:
        head = self.id
        if self.kind != "Pod":
            head += " (per node)" if self.replicas is None else f" ×{self.replicas}"
        out = [head]
        if self.address:
            out.append(f"eth0 {self.address}")
        if self.note:
            out.append(self.note)
        return out


@dataclass(frozen=True)
class Edge:
    """One attachment: a pod's interface from a network."""

    holder: str
    """:attr:`Holder.id`."""
    network: str
    interface: str
    addresses: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """``mac …``, ``default route via …``."""
    planned_only: bool = False
    """Live: planned, but no pod reports it."""
    status: Status = ""

    def lines(self) -> list[str]:
        return [self.interface, *self.addresses, *self.notes,
                *([f"({self.status})"] if self.status else [])]

    def signature(self) -> tuple[str, str, str, tuple[str, ...]]:
        return (self.holder, self.network, self.interface, self.addresses)


@dataclass
class Topology:
    title: str
    networks: dict[str, Network] = field(default_factory=dict)
    holders: dict[str, Holder] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    """The cluster's nodes (live)."""
    live: bool = False

    def underlays(self) -> list[str]:
        return sorted({n.link for n in self.networks.values() if n.link})

    def interfaces(self) -> list[tuple[str, str, str]]:
        """(holder, interface, network) of every attachment."""
        return [(e.holder, e.interface, e.network) for e in self.edges]


# --------------------------------------------------------------------------- building


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def network_of(key: str, config: CniConfig, resource_name: str | None = None) -> Network:
    """How a network with ``config`` is drawn (``resource_name``: its NAD's device pool, the
    underlay of an SR-IOV network)."""
    main = config.main
    link = main.master_link()
    role = {"bridge": "bridge", "host-device": "device"}.get(main.type, "master")
    if link is None and main.type in ("macvlan", "ipvlan"):
        link = DEFAULT_ROUTE_LINK
    if link is None and resource_name:
        link, role = resource_name, "VF from"
    ipam = getattr(main, "ipam", None)
    try:
        facts = ipam_facts(ipam)
        subnets = tuple(dict.fromkeys(str(s) for s in facts.subnets))
    except (PlanError, ValueError):
        subnets = ()
    ranges = tuple(f"{p.first}-{p.last}" for p in config.pools())
    kind = main.type if not config.is_list else (
        main.type + " + " + ", ".join(p.type for p in config.plugins[1:]))
    mode = getattr(main, "mode", None)
    vlan = getattr(main, "vlan_id", None) or getattr(main, "vlan", None)
    if vlan:
        mode = f"{mode}, vlan {vlan}" if mode else f"vlan {vlan}"
    return Network(key, kind, link, role, mode if isinstance(mode, str) else None,
                   config.ipam_type(), subnets, ranges,
                   digest=json.dumps(config.to_dict(), sort_keys=True))


def _edge_notes(raw: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(requested addresses, other requests) of a selection as written."""
    if not isinstance(raw, Mapping):
        return (), ()
    ips = tuple(str(i) for i in raw.get("ips") or [] if isinstance(i, str))
    notes: list[str] = []
    if isinstance(raw.get("mac"), str):
        notes.append(f"mac {raw['mac']}")
    gws = [str(g) for g in raw.get("default-route") or []]
    if gws:
        notes.append("default route via " + ", ".join(gws))
    return ips, tuple(notes)


def _edges(holder: str, sels: Sequence[Selected], *, planned_only: bool = False) -> list[Edge]:
    out = []
    for s in sels:
        ips, notes = _edge_notes(s.raw)
        out.append(Edge(holder, s.key, s.interface, ips, notes, planned_only))
    return out


def from_objects(objects: Iterable[Obj], title: str, *, external: Iterable[str] = ()
                 ) -> Topology:
    """The topology of rendered objects (a plan's NADs, pods and workloads; other kinds are
    left out). ``external``: ``ns/name`` of networks the stack uses but does not declare."""
    topo = Topology(title)
    for obj in objects:
        kind = str(obj.get("kind"))
        meta = _meta(obj)
        ns, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
        if kind == NAD_KIND:
            key = f"{ns}/{name}"
            try:
                config = parse_cni_config(str((obj.get("spec") or {}).get("config") or ""))
            except PlanError:
                topo.networks[key] = Network(key, "unparsable config")
                continue
            resource = (meta.get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
            topo.networks[key] = network_of(key, config, resource)
        elif kind in HOLDER_KINDS:
            if kind == "Pod":
                notes = meta.get("annotations")
                replicas: int | None = 1
                match: tuple[tuple[str, str], ...] = ()
                pod_spec = obj.get("spec") or {}
            else:
                notes = _meta(pod_template(obj)).get("annotations")
                spec = obj.get("spec") or {}
                pod_spec = pod_template(obj).get("spec") or {}
                n = spec.get("replicas")
                replicas = None if kind == "DaemonSet" else (n if isinstance(n, int) else 1)
                labels = (spec.get("selector") or {}).get("matchLabels") or {}
                match = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
            sels, _ = read_selections(notes, ns)
            if not sels:
                continue
            pinned = (pod_spec.get("nodeSelector") or {}).get(HOSTNAME_LABEL)
            holder = Holder(kind, ns, name, replicas, match_labels=match,
                            note=f"pinned to {pinned}" if pinned else "")
            topo.holders[holder.id] = holder
            topo.edges += _edges(holder.id, sels)
    for key in [*external, *(e.network for e in topo.edges)]:
        if key not in topo.networks:
            topo.networks[key] = Network(key, external=True)
    return topo


# --------------------------------------------------------------------------- live


def _labels_match(pod: Obj, match: Sequence[tuple[str, str]]) -> bool:
    labels = _meta(pod).get("labels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match)


def _entry_network(entry: Mapping[str, Any], namespace: str) -> str:
    name = str(entry.get("name") or "")
    return name if "/" in name else f"{namespace}/{name}"


def with_live(topo: Topology, nodes: Sequence[Obj], pods: Sequence[Obj],
              nads: Sequence[Obj]) -> Topology:
    """``topo`` (offline) with the cluster's view: its nodes, the pods that run each planned
    pod or workload placed on their node with the attachments their network-status reports,
    and the pools' use (``nads``: the live NADs; ``pods``: every pod of the namespaces, which
    all count in the pools)."""
    out = Topology(topo.title, dict(topo.networks), {}, [], sorted(
        str(_meta(n).get("name")) for n in nodes), live=True)
    by_key = {f"{_meta(p).get('namespace')}/{_meta(p).get('name')}": p for p in pods}
    for holder in topo.holders.values():
        planned = [e for e in topo.edges if e.holder == holder.id]
        if holder.kind == "Pod":
            found = [by_key[k] for k in [f"{holder.namespace}/{holder.name}"] if k in by_key]
        else:
            found = sorted((p for p in pods if _meta(p).get("namespace") == holder.namespace
                            and _labels_match(p, holder.match_labels)),
                           key=lambda p: str(_meta(p).get("name")))
        if not found:
            gone = replace(holder, note="no pod running")
            out.holders[gone.id] = gone
            out.edges += [replace(e, planned_only=True) for e in planned]
            continue
        for pod in found:
            meta = _meta(pod)
            ns = str(meta.get("namespace") or "default")
            entries = network_status(pod)
            default = next((e for e in entries or [] if e.get("default")), None)
            address = ", ".join(str(i) for i in (default or {}).get("ips") or []) or None
            node = str((pod.get("spec") or {}).get("nodeName") or "") or None
            note = "" if holder.kind == "Pod" else f"of {holder.kind} {holder.name}"
            if entries is None:
                note = (note + "; " if note else "") + "no network-status yet"
            live = Holder("Pod", ns, str(meta.get("name")), 1, node, address, note)
            out.holders[live.id] = live
            if entries is None:
                out.edges += [replace(e, holder=live.id, planned_only=True) for e in planned]
                continue
            for e in entries:
                if e.get("default"):
                    continue
                net = _entry_network(e, ns)
                notes = (f"mac {e['mac']}",) if e.get("mac") else ()
                out.edges.append(Edge(live.id, net, str(e.get("interface") or "?"),
                                      tuple(str(i) for i in e.get("ips") or []), notes))
                if net not in out.networks:
                    out.networks[net] = Network(net, external=True)
    uses: dict[str, list[str]] = {}
    for u in pool_use(parse_nads(nads), pods, None):
        uses.setdefault(u.network, []).append(f"{u.used}/{u.size} ({u.scope})")
    for key, shown in uses.items():
        if key in out.networks:
            out.networks[key] = replace(out.networks[key], pool_use=tuple(shown))
    return out


# --------------------------------------------------------------------------- changes


def compare(base: Topology | None, head: Topology) -> Topology:
    """``head`` with what changed since ``base`` marked: networks added, changed (any change
    to the config) or removed (drawn again, marked), attachments added or removed."""
    if base is None:
        base = Topology(head.title)
    out = Topology(head.title, {}, dict(head.holders), [], list(head.nodes), head.live)
    for key, net in head.networks.items():
        old = base.networks.get(key)
        status: Status = ("added" if old is None else
                          "changed" if old.signature() != net.signature() else "")
        out.networks[key] = replace(net, status=status)
    for key, old in base.networks.items():
        if key not in head.networks:
            out.networks[key] = replace(old, status="removed", pool_use=())
    before = {e.signature() for e in base.edges}
    after = {e.signature() for e in head.edges}
    out.edges = [replace(e, status="" if e.signature() in before else "added")
                 for e in head.edges]
    for e in base.edges:
        if e.signature() in after or e.holder not in (out.holders.keys() | base.holders.keys()):
            continue
        out.edges.append(replace(e, status="removed"))
        out.holders.setdefault(e.holder, base.holders[e.holder])
    return out


def networks_changed(base: Topology | None, head: Topology) -> bool:
    """Whether the networks or the attachments differ between ``base`` and ``head``."""
    marked = compare(base, head)
    return (any(n.status for n in marked.networks.values())
            or any(e.status for e in marked.edges))


# --------------------------------------------------------------------------- DOT

_COLORS: dict[str, tuple[str, str]] = {
    "": ("#dbeafe", "#1d4ed8"), "added": ("#dcfce7", "#15803d"),
    "changed": ("#ffedd5", "#c2410c"), "removed": ("#fee2e2", "#b91c1c")}


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _label(lines: Sequence[str]) -> str:
    """A DOT label of several centred lines."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"')
                            .replace("\n", " ") for line in lines) + '"'


def _net_id(key: str) -> str:
    return f"net:{key}"


def _link_id(link: str) -> str:
    return f"link:{link}"


def _holder_id(hid: str) -> str:
    return f"pod:{hid}"


def to_dot(topo: Topology) -> str:
    """The Graphviz input (``dot -Tsvg`` lays it out): pods left, networks, underlays right;
    live, each cluster node a box holding its pods."""
    mode = "live" if topo.live else "plan"
    out = [f"digraph {_q('netplumb ' + topo.title)} {{",
           f"  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, "
           f"nodesep=0.25, ranksep=1.1, label={_q(f'{topo.title} ({mode})')}];",
           "  node [fontname=\"Helvetica\", fontsize=10];",
           "  edge [fontname=\"Helvetica\", fontsize=9];"]
    for link in topo.underlays():
        out.append(f"  {_q(_link_id(link))} [shape=box3d, style=filled, fillcolor=\"#f3f4f6\","
                   f" label={_label([link, 'underlay'])}];")
    for key, net in sorted(topo.networks.items()):
        fill, line = _COLORS[net.status]
        style = "rounded,filled" + (",dashed" if net.external or net.status == "removed"
                                    else "")
        out.append(f"  {_q(_net_id(key))} [shape=box, style={_q(style)}, "
                   f"fillcolor={_q(fill if not net.external else '#ffffff')}, "
                   f"color={_q(line)}, label={_label(net.lines())}];")
        if net.link:
            out.append(f"  {_q(_net_id(key))} -> {_q(_link_id(net.link))} "
                       f"[arrowhead=none, style=dashed, color=\"#6b7280\", "
                       f"label={_q(net.link_role)}];")
    by_node: dict[str | None, list[Holder]] = {}
    for h in topo.holders.values():
        by_node.setdefault(h.node if topo.live else None, []).append(h)
    groups: list[tuple[str | None, list[Holder]]] = [
        (n, by_node.get(n, [])) for n in topo.nodes] + [
        (n, hs) for n, hs in by_node.items() if n not in topo.nodes]
    for i, (node, holders) in enumerate(groups):
        indent = "  "
        if node is not None:
            out.append(f"  subgraph {_q(f'cluster_node_{i}')} {{")
            out.append(f"    label={_q('node ' + node)}; style=rounded; color=\"#9ca3af\";")
            out.append(f"    {_q('node:' + node)} [shape=point, style=invis];")
            indent = "    "
        for h in sorted(holders, key=lambda h: h.id):
            style = "filled" + (",dashed" if h.note == "no pod running" else "")
            out.append(f"{indent}{_q(_holder_id(h.id))} [shape=box, style={_q(style)}, "
                       f"fillcolor=\"#fef9c3\", label={_label(h.lines())}];")
        if node is not None:
            out.append("  }")
    for e in topo.edges:
        _, line = _COLORS[e.status]
        style = "dashed" if e.planned_only or e.status == "removed" else "solid"
        out.append(f"  {_q(_holder_id(e.holder))} -> {_q(_net_id(e.network))} "
                   f"[label={_label(e.lines())}, style={style}, color={_q(line)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Mermaid

def _m(text: str) -> str:
    """Text safe inside a Mermaid quoted label (its entity codes for the special characters)."""
    return (text.replace("#", "#35;").replace('"', "#quot;").replace("|", "#124;")
            .replace("<", "#lt;").replace(">", "#gt;").replace("\n", " "))


def _mlabel(lines: Sequence[str]) -> str:
    return '"' + "<br/>".join(_m(x) for x in lines) + '"'


def to_mermaid(topo: Topology) -> str:
    """A Mermaid flowchart of the same nodes and edges as :func:`to_dot` (GitHub renders it in
    pull-request comments and Markdown)."""
    ids: dict[str, str] = {}

    def ident(kind: str, key: str) -> str:
        full = f"{kind}:{key}"
        if full not in ids:
            ids[full] = f"{kind[0]}{len(ids)}"
        return ids[full]

    mode = "live" if topo.live else "plan"
    out = ["flowchart LR", f"  %% netplumb graph: {_m(topo.title)} ({mode})"]
    for link in topo.underlays():
        out.append(f"  {ident('link', link)}[[{_mlabel([link, 'underlay'])}]]")
    classes: dict[str, list[str]] = {}
    for key, net in sorted(topo.networks.items()):
        nid = ident("net", key)
        out.append(f"  {nid}{{{{{_mlabel(net.lines())}}}}}")
        if net.external:
            classes.setdefault("external", []).append(nid)
        if net.status:
            classes.setdefault(net.status, []).append(nid)
        if net.link:
            out.append(f"  {nid} -.->|{_mlabel([net.link_role])}| {ident('link', net.link)}")
    by_node: dict[str | None, list[Holder]] = {}
    for h in topo.holders.values():
        by_node.setdefault(h.node if topo.live else None, []).append(h)
    for node, holders in sorted(by_node.items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        indent = "  "
        if node is not None:
            out.append(f"  subgraph {ident('node', node)}[{_mlabel(['node ' + node])}]")
            indent = "    "
        for h in sorted(holders, key=lambda h: h.id):
            hid = ident("pod", h.id)
            out.append(f"{indent}{hid}[{_mlabel(h.lines())}]")
            if h.note == "no pod running":
                classes.setdefault("missing", []).append(hid)
        if node is not None:
            out.append("  end")
    for node in topo.nodes:
        if node not in by_node:
            out.append(f"  subgraph {ident('node', node)}[{_mlabel(['node ' + node])}]")
            out.append("  end")
    for e in topo.edges:
        arrow = "-.->" if e.planned_only or e.status == "removed" else "-->"
        out.append(f"  {ident('pod', e.holder)} {arrow}|{_mlabel(e.lines())}| "
                   f"{ident('net', e.network)}")
    styles = {"external": "stroke-dasharray: 4 3,fill:#ffffff",
              "added": "fill:#dcfce7,stroke:#15803d", "changed": "fill:#ffedd5,stroke:#c2410c",
              "removed": "fill:#fee2e2,stroke:#b91c1c,stroke-dasharray: 4 3",
              "missing": "stroke-dasharray: 4 3"}
    for name, members in classes.items():
        out.append(f"  classDef {name} {styles[name]}")
        out.append(f"  class {','.join(members)} {name}")
    return "\n".join(out) + "\n"
