"""``netplumb doctor``: the hand-run troubleshooting of secondary networks, as findings (pure).

From a :class:`Snapshot` of the cluster (read by :mod:`.live`), each check of the Multus
guide's troubleshooting section becomes findings with a severity and a fix:

* **Multus on every node**: a Multus DaemonSet (found by name or image) has a ready pod on
  every node it should; the ConfigMaps it mounts exist and their JSON parses. Without a
  DaemonSet, pods with network-status show that a node's own Multus works (info); pods asking
  for networks with no Multus anywhere are an error.
* **NADs**: every NAD parses with :func:`netplumb.parse_cni_config` (a bad one is named with
  its field path); every NAD a pod selects exists (close names are suggested).
* **Pods stuck creating**: Pending pods on a node, their sandbox-failure events classified
  (:mod:`.sandbox`) and grouped by cause and NAD: pool exhausted, host link missing, NAD
  missing, plugin binary missing, config invalid, and the rest.
* **Pool use** per network: addresses held by pods (from network-status) against the pool
  size; per node for host-local (each node allocates on its own), cluster-wide for
  whereabouts. 80 % is a warning, a full pool an error.

Severity orders the exit status: 0 nothing to fix, 1 warnings, 2 errors (3: doctor could not
read the cluster).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..cni.config import CniConfig, parse_cni_config
from ..cni.ipam import HostLocalIpam, Pool, WhereaboutsIpam
from ..cni.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from ..errors import PlanError
from ..hostpaths import HOST_LOCAL_DIR
from ..spelling import similar_names
from .sandbox import SANDBOX_REASONS, Cause, classify

Obj = Mapping[str, Any]
Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2}
EXIT_UNKNOWN = 3
"""Exit status when the cluster could not be read."""
POOL_WARN = 0.8
STUCK_AFTER_S = 60.0
"""A Pending pod on a node with no sandbox event counts as stuck after this long."""


@dataclass
class ClusterFinding:
    """One thing doctor found in the cluster, with its fix (a problem of a stack's input is
    :class:`netplumb.errors.Finding`)."""

    severity: Severity
    check: str
    """``multus``, ``nad-config``, ``nad-missing``, ``sandbox:<cause>``, ``pool``, …"""
    subject: str
    """``NetworkAttachmentDefinition ns/name``, ``DaemonSet ns/name``, ``Pod ns/name``."""
    message: str
    fix: str = ""
    pods: list[str] = field(default_factory=list)
    """``namespace/name`` of the pods affected."""
    field: str | None = None
    """The field path inside the subject (``spec.config.ipam.rangeEnd``)."""
    count: int = 0
    """Events behind the finding (sandbox failures)."""

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "check": self.check, "subject": self.subject,
                "message": self.message, "fix": self.fix, "pods": self.pods,
                "field": self.field, "events": self.count}


@dataclass
class PoolUse:
    network: str
    """``namespace/name`` of the NAD."""
    ipam: str
    scope: str
    """``node <name>`` (host-local) or ``cluster`` (whereabouts)."""
    used: int
    size: int
    ranges: str

    @property
    def ratio(self) -> float:
        return self.used / self.size if self.size else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "ipam": self.ipam, "scope": self.scope,
                "used": self.used, "size": self.size, "ranges": self.ranges}


@dataclass
class Snapshot:
    """What doctor reads from the cluster (all plain API objects)."""

    nodes: list[dict[str, Any]]
    daemonsets: list[dict[str, Any]]
    """Multus DaemonSets (see :func:`is_multus_daemonset`) and their pods below."""
    multus_pods: list[dict[str, Any]]
    configmaps: dict[tuple[str, str], dict[str, Any] | None]
    """ConfigMaps the Multus DaemonSets mount: (namespace, name) → object or ``None``."""
    nads: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    events: list[dict[str, Any]]
    """Sandbox-failure events (``FailedCreatePodSandBox``, ``NoNetworkFound``)."""
    now: dt.datetime
    namespaces: frozenset[str] | None = None
    """The namespaces looked at (``None``: all)."""
    unreadable: list[str] = field(default_factory=list)
    """What could not be read (``DaemonSets: 403 Forbidden``): reported, not guessed."""


@dataclass
class Diagnosis:
    findings: list[ClusterFinding]
    pools: list[PoolUse]
    namespaces: frozenset[str] | None = None

    @property
    def worst(self) -> str:
        return max((f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__,
                   default="info")

    @property
    def exit_code(self) -> int:
        return SEVERITY_ORDER[self.worst]

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.exit_code == 0, "summary": self.counts(),
                "namespaces": sorted(self.namespaces) if self.namespaces else None,
                "findings": [f.to_dict() for f in self.findings],
                "pools": [p.to_dict() for p in self.pools]}


# --------------------------------------------------------------------------- helpers


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def key_of(obj: Obj) -> str:
    m = _meta(obj)
    return f"{m.get('namespace')}/{m.get('name')}" if m.get("namespace") else str(m.get("name"))


def is_multus_daemonset(ds: Obj) -> bool:
    """A DaemonSet that runs Multus: by name or by a container image."""
    if "multus" in str(_meta(ds).get("name", "")).lower():
        return True
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    images = [str(c.get("image", "")) for c in (spec.get("containers") or [])
              + (spec.get("initContainers") or [])]
    return any("multus" in i.lower() for i in images)


def selection_refs(pod: Obj) -> tuple[list[tuple[str, str]], str | None]:
    """``(namespace, name)`` of each NAD the pod's networks annotation selects, and a
    problem with the annotation (``None`` when it parses). Both of Multus' forms: a JSON
    list, or ``[namespace/]name[@interface]`` separated by commas."""
    notes = _meta(pod).get("annotations") or {}
    text = str(notes.get(NETWORKS_ANNOTATION) or "").strip()
    ns = str(_meta(pod).get("namespace") or "default")
    if not text:
        return [], None
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            return [], f"the {NETWORKS_ANNOTATION} annotation is not valid JSON: {exc}"
        out: list[tuple[str, str]] = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return out, f"selection [{i}] has no name"
            out.append((str(item.get("namespace") or ns), str(item["name"])))
        return out, None
    out = []
    for part in text.split(","):
        ref = part.strip().split("@", 1)[0]
        if ref:
            space, _, name = ref.rpartition("/")
            out.append((space or ns, name))
    return out, None


def _pending_on_node(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return (status.get("phase") in (None, "Pending") and bool((pod.get("spec") or {})
            .get("nodeName")) and not _meta(pod).get("deletionTimestamp"))


def _age(obj: Obj, now: dt.datetime) -> float:
    stamp = str(_meta(obj).get("creationTimestamp") or "")
    try:
        created = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (now - created).total_seconds()


def _pods_list(pods: Iterable[str], limit: int = 8) -> str:
    names = sorted(set(pods))
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def range_sets(config: CniConfig) -> list[list[Pool]]:
    """Range sets of the config's IPAM: a pod takes one address from each."""
    ipam = getattr(config.main, "ipam", None)
    if isinstance(ipam, HostLocalIpam):
        return ipam.range_sets()
    if isinstance(ipam, WhereaboutsIpam):
        return [[p] for p in ipam.pools()]
    return []


def _ranges(pools: Sequence[Pool]) -> str:
    return ", ".join(f"{p.first}-{p.last}" for p in pools)


# --------------------------------------------------------------------------- checks


def check_multus(snap: Snapshot, requesting: Sequence[Obj]) -> list[ClusterFinding]:
    out: list[ClusterFinding] = []
    ready_nodes = [n for n in snap.nodes if _node_ready(n)]
    if not snap.daemonsets:
        attached_nodes = sorted({str((p.get("spec") or {}).get("nodeName"))
                                 for p in requesting if _has_secondary_status(p)})
        if attached_nodes:
            out.append(ClusterFinding(
                "info", "multus", "Multus",
                f"no Multus DaemonSet; Multus on node(s) {', '.join(attached_nodes)} attaches "
                "networks (pods there have network-status)"))
        elif requesting:
            out.append(ClusterFinding(
                "error", "multus", "Multus",
                "no Multus DaemonSet, and no pod has a network-status: nothing attaches the "
                "networks pods ask for",
                "install Multus (netplumb: `multus:` in the platform stack; thick mode is "
                "Multus' recommended install)",
                pods=[key_of(p) for p in requesting]))
        else:
            out.append(ClusterFinding(
                "info", "multus", "Multus",
                "no Multus DaemonSet, and no pod asks for a secondary network"))
        return out
    for ds in snap.daemonsets:
        out += _check_daemonset(ds, snap, ready_nodes, requesting)
    return out


def check_nodes(snap: Snapshot, in_scope: Sequence[Obj]) -> list[ClusterFinding]:
    """A node that is not Ready, with the pods (in scope) bound to it: they keep their
    addresses (whereabouts allocations, the node's host-local files) until they are deleted,
    and the node's pods get no network until the node is back."""
    out: list[ClusterFinding] = []
    for node in snap.nodes:
        if _node_ready(node):
            continue
        name = str(_meta(node).get("name"))
        conds = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        ready = conds.get("Ready") or {}
        why = str(ready.get("reason") or ready.get("message") or "no Ready condition")
        pods = sorted(key_of(p) for p in in_scope
                      if (p.get("spec") or {}).get("nodeName") == name)
        held = f"; {len(pods)} pod(s) on it: {_pods_list(pods)}" if pods else ""
        out.append(ClusterFinding(
            "error", "node", f"Node {name}",
            f"node {name} is not Ready ({why}){held}",
            "bring the node back (its kubelet and container runtime), or delete its pods so "
            "their workloads move and their whereabouts allocations are freed (`kubectl "
            f"drain {name} --ignore-daemonsets --delete-emptydir-data`, `--force` for bare "
            "pods)",
            pods=pods))
    return out


def _node_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _has_secondary_status(pod: Obj) -> bool:
    text = (_meta(pod).get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
    try:
        return any(not s.get("default") for s in json.loads(text or "[]")
                   if isinstance(s, dict))
    except ValueError:
        return False


def _container_trouble(pod: Obj) -> str:
    """Why a Multus pod is not ready, from its container statuses."""
    status = pod.get("status") or {}
    for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses")
                                                            or []):
        waiting = (c.get("state") or {}).get("waiting") or {}
        last = (c.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            return f"container {c.get('name')} was OOM-killed ({c.get('restartCount', 0)} " \
                   "restarts)"
        if waiting.get("reason"):
            return f"container {c.get('name')}: {waiting.get('reason')}" + (
                f" ({str(waiting.get('message'))[:160]})" if waiting.get("message") else "")
    return f"phase {status.get('phase') or 'Pending'}"


def _check_daemonset(ds: Obj, snap: Snapshot, ready_nodes: Sequence[Obj],
                     requesting: Sequence[Obj]) -> list[ClusterFinding]:
    out: list[ClusterFinding] = []
    subject = f"DaemonSet {key_of(ds)}"
    ns = str(_meta(ds).get("namespace"))
    selector = ((ds.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    mine = [p for p in snap.multus_pods if _meta(p).get("namespace") == ns
            and all((_meta(p).get("labels") or {}).get(k) == v for k, v in selector.items())]
    by_node: dict[str, Obj] = {}
    for p in mine:
        node = str((p.get("spec") or {}).get("nodeName") or "")
        if node:
            by_node[node] = p
    troubled: list[str] = []
    oom = False
    for node, pod in sorted(by_node.items()):
        if not _pod_ready(pod):
            why = _container_trouble(pod)
            oom = oom or "OOM" in why
            troubled.append(f"{node} ({key_of(pod)}: {why})")
    if troubled:
        fix = (f"kubectl -n {ns} logs <pod> -c <container> shows why; "
               + ("OOM kills: raise the daemon's memory limit (netplumb: multus.resources; "
                  "the upstream manifest's 50Mi is too small under pod bursts, multus-cni "
                  "#1346)" if oom else "a pod that never starts often lacks its ConfigMap, "
                                       "image or host paths"))
        out.append(ClusterFinding("error", "multus", subject,
                                  f"Multus is not ready on {len(troubled)} node(s): "
                                  f"{'; '.join(troubled)}", fix))
    status = ds.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    uncovered = [str(_meta(n).get("name")) for n in ready_nodes
                 if str(_meta(n).get("name")) not in by_node]
    wanting = {str((p.get("spec") or {}).get("nodeName")) for p in requesting}
    missing_needed = [n for n in uncovered if n in wanting]
    if missing_needed:
        out.append(ClusterFinding(
            "error", "multus", subject,
            f"no Multus pod on node(s) {', '.join(missing_needed)}, where pods ask for "
            "secondary networks",
            "the DaemonSet's nodeSelector, affinity or tolerations keep it off those nodes: "
            "widen them (Multus must run wherever such pods run)",
            pods=[key_of(p) for p in requesting
                  if str((p.get("spec") or {}).get("nodeName")) in missing_needed]))
    elif uncovered and desired < len(ready_nodes):
        out.append(ClusterFinding(
            "info", "multus", subject,
            f"no Multus pod on node(s) {', '.join(uncovered)} (not targeted by "
            "the DaemonSet; no pod there asks for a secondary network)"))
    out += _check_configmaps(ds, snap)
    return out


def _pod_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


def mounted_configmaps(ds: Obj) -> list[tuple[str, str]]:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    ns = str(_meta(ds).get("namespace"))
    return [(ns, str(v["configMap"]["name"])) for v in spec.get("volumes") or []
            if isinstance(v.get("configMap"), dict) and v["configMap"].get("name")
            and not v["configMap"].get("optional")]


def _check_configmaps(ds: Obj, snap: Snapshot) -> list[ClusterFinding]:
    out = []
    for ref in mounted_configmaps(ds):
        cm = snap.configmaps.get(ref)
        subject = f"ConfigMap {ref[0]}/{ref[1]}"
        if cm is None:
            out.append(ClusterFinding(
                "error", "multus", subject,
                f"DaemonSet {key_of(ds)} mounts it, but it does not exist: its pods cannot start",
                "create it (netplumb's MultusInstall renders it with the DaemonSet)"))
            continue
        for k, text in sorted((cm.get("data") or {}).items()):
            if not (k.endswith(".json") or k.endswith(".conf") or k.endswith(".conflist")):
                continue
            try:
                json.loads(text)
            except ValueError as exc:
                out.append(ClusterFinding("error", "multus", subject,
                                          f"data[{k!r}] is not valid JSON: {exc}",
                                          f"fix data[{k!r}]; Multus reads it at start",
                                          field=f'data["{k}"]'))
    return out


# -- NADs


@dataclass
class NadState:
    obj: Obj
    config: CniConfig | None
    error: PlanError | None
    raw: str

    @property
    def key(self) -> str:
        return key_of(self.obj)


def parse_nads(nads: Iterable[Obj]) -> dict[str, NadState]:
    out = {}
    for n in nads:
        raw = str((n.get("spec") or {}).get("config") or "")
        config = error = None
        if raw:
            try:
                config = parse_cni_config(raw)
            except PlanError as exc:
                error = exc
        out[key_of(n)] = NadState(n, config, error, raw)
    return out


def check_nads(nads: Mapping[str, NadState], users: Mapping[str, list[str]],
               scope: frozenset[str] | None) -> list[ClusterFinding]:
    out = []
    for key, st in sorted(nads.items()):
        if scope is not None and key.partition("/")[0] not in scope:
            continue
        if st.error is None:
            continue
        pods = users.get(key, [])
        f0 = st.error.findings[0]
        where = "spec.config" if f0.path == "<root>" else f"spec.config.{f0.path}"
        more = f" (+{len(st.error.findings) - 1} more)" if len(st.error.findings) > 1 else ""
        out.append(ClusterFinding(
            "error" if pods else "warning", "nad-config", f"NetworkAttachmentDefinition {key}",
            f"{where}: {f0.message}{more}",
            f"correct {where} (`netplumb check` names every problem when the NAD comes "
            "from a stack)" + ("; pods stuck creating start on the kubelet's next retry, "
                               "running pods keep the networks they started with until "
                               "recreated" if pods else ""),
            pods=pods, field=where))
    return out


def check_references(requesting: Sequence[Obj], nads: Mapping[str, NadState]
                     ) -> tuple[list[ClusterFinding], dict[str, list[str]]]:
    """Missing NADs (with close names), unparsable annotations; and NAD → its pods."""
    users: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    out: list[ClusterFinding] = []
    for pod in requesting:
        refs, problem = selection_refs(pod)
        if problem:
            out.append(ClusterFinding("error", "selection", f"Pod {key_of(pod)}", problem,
                                      f"fix the pod's {NETWORKS_ANNOTATION} annotation",
                                      pods=[key_of(pod)],
                                      field=f'metadata.annotations["{NETWORKS_ANNOTATION}"]'))
        for ns, name in refs:
            key = f"{ns}/{name}"
            users.setdefault(key, []).append(key_of(pod))
            if key not in nads:
                missing.setdefault(key, []).append(key_of(pod))
    for key, pods in sorted(missing.items()):
        ns, _, name = key.partition("/")
        near = similar_names(name, [k.partition("/")[2] for k in nads
                                    if k.startswith(f"{ns}/")])
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        out.append(ClusterFinding(
            "error", "nad-missing", f"NetworkAttachmentDefinition {key}",
            f"does not exist; {len(set(pods))} pod(s) select it{hint}",
            f"create NetworkAttachmentDefinition {name} in namespace {ns}, or correct the "
            "pods' selection; the kubelet retries a stuck pod's sandbox, so it starts once "
            "the NAD exists",
            pods=sorted(set(pods))))
    return out, users


# -- stuck pods


def _nad_of_cause(cause: Cause, pod: Obj, nads: Mapping[str, NadState]) -> str | None:
    """The NAD a failure is about: named in the message, or the pod's selected NAD whose
    config name (or NAD name) is the network the message names, or the one that does not
    parse for a config error, or the pod's only NAD."""
    if cause.nad is not None:
        return f"{cause.nad[0]}/{cause.nad[1]}"
    refs, _ = selection_refs(pod)
    keys = [f"{ns}/{n}" for ns, n in refs]
    if cause.network:
        for k in keys:
            st = nads.get(k)
            names = {k.partition("/")[2]}
            if st is not None and st.config is not None and st.config.name:
                names.add(st.config.name)
            elif st is not None and st.raw:
                try:
                    names.add(str(json.loads(st.raw).get("name")))
                except (ValueError, AttributeError):
                    pass
            if cause.network in names:
                return k
    if cause.id == "config-invalid":
        bad = [k for k in keys if k in nads and nads[k].error is not None]
        if len(bad) == 1:
            return bad[0]
    return keys[0] if len(set(keys)) == 1 else None


_POOL_STATE = {
    "host-local": "host-local keeps each node's reservations in files under "
                  f"{HOST_LOCAL_DIR}/<network name> (or its dataDir), where files of pods "
                  "deleted uncleanly hold addresses too",
    "whereabouts": "whereabouts keeps allocations in its IPPool objects; allocations of pods "
                   "deleted uncleanly linger until its reconciler runs",
}

_FIXES: dict[str, str] = {
    "pool-exhausted": "widen the pool ({field}) or remove pods that hold addresses; {state}",
    "master-missing": "create host link {link} on node(s) {nodes}, or set {field} to a link "
                      "that exists there (the plugins look it up in the node's namespace)",
    "nad-missing": "create the NAD, or correct the pods' selection",
    "plugin-missing": "install the {plugin} CNI plugin into the CNI bin directory of node(s) "
                      "{nodes} (e.g. /opt/cni/bin), or correct the config's type",
    "config-invalid": "correct spec.config of the NAD (see the nad-config finding), then "
                      "recreate the pods",
    "mtu-invalid": "lower {field} to at most the master link's MTU, or raise the link's MTU "
                   "on node(s) {nodes}",
    "selection-invalid": "correct the pods' networks annotation",
    "namespace-isolation": "Multus isolates namespaces: create the NAD in the pod's namespace "
                           "or list its namespace in Multus' globalNamespaces",
    "device-unavailable": "the device plugin must advertise the NAD's resource on node(s) "
                          "{nodes}, and the pod must request it",
    "multus-not-ready": "Multus is not running or not ready on node(s) {nodes}: see the "
                        "multus findings and its pods' logs",
    "default-route": "check the default-route request against the network's gateway",
    "other": "read the event message; `kubectl describe pod` shows the full history",
}


def _field_for(cause_id: str, st: NadState | None) -> str:
    if st is None or st.config is None:
        return "spec.config"
    prefix = "spec.config.plugins[0]" if st.config.is_list else "spec.config"
    if cause_id == "pool-exhausted":
        ipam = getattr(st.config.main, "ipam", None)
        if isinstance(ipam, HostLocalIpam):
            return f"{prefix}.ipam.{'ranges' if ipam.ranges else 'rangeStart/rangeEnd'}"
        return f"{prefix}.ipam.range"
    if cause_id == "master-missing":
        key = "device" if st.config.type == "host-device" else "master"
        return f"{prefix}.{key}"
    if cause_id == "mtu-invalid":
        return f"{prefix}.mtu"
    return prefix


@dataclass
class _Group:
    """Sandbox failures of one cause on one NAD."""

    cause: Cause
    pods: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    count: int = 0


def check_stuck(snap: Snapshot, nads: Mapping[str, NadState]) -> list[ClusterFinding]:
    pods = {str(_meta(p).get("uid")): p for p in snap.pods if _pending_on_node(p)}
    by_name = {key_of(p): p for p in pods.values()}
    groups: dict[tuple[str, str | None], _Group] = {}
    seen: set[str] = set()
    for ev in sorted(snap.events, key=lambda e: str(e.get("lastTimestamp") or
                                                     e.get("eventTime") or "")):
        if ev.get("reason") not in SANDBOX_REASONS:
            continue
        inv = ev.get("involvedObject") or {}
        pod = pods.get(str(inv.get("uid"))) or by_name.get(
            f"{inv.get('namespace')}/{inv.get('name')}")
        if pod is None:
            continue  # the pod is gone or has started since
        cause = classify(str(ev.get("message") or ""))
        nad = _nad_of_cause(cause, pod, nads)
        g = groups.setdefault((cause.id, nad), _Group(cause))
        g.cause = cause  # the latest message of the group speaks for it
        g.pods.add(key_of(pod))
        g.count += int(ev.get("count") or 1)
        g.nodes.add(str((pod.get("spec") or {}).get("nodeName")))
        if cause.link:
            g.links.add(cause.link)
        seen.add(key_of(pod))
    out = []
    for (cause_id, nad), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        st = nads.get(nad) if nad else None
        link = ", ".join(sorted(g.links)) or (
            (st.config.main.master_link() if st and st.config else None) or "?")
        ipam = (st.config.ipam_type() if st and st.config else None) or ""
        fix = _FIXES.get(cause_id, _FIXES["other"]).format(
            field=_field_for(cause_id, st), link=link, nodes=", ".join(sorted(g.nodes)),
            plugin=g.cause.plugin or "?",
            state=_POOL_STATE.get(ipam, "the IPAM plugin's own state may hold addresses of "
                                        "deleted pods"))
        subject = f"NetworkAttachmentDefinition {nad}" if nad else "Pods"
        title = g.cause.title + (f" ({link})" if cause_id == "master-missing" else "")
        out.append(ClusterFinding(
            "error", f"sandbox:{cause_id}", subject,
            f"{len(g.pods)} pod(s) stuck creating: {title}: {g.cause.detail}",
            fix, pods=sorted(g.pods), field=_field_for(cause_id, st) if st else None,
            count=g.count))
    quiet = [p for k, p in by_name.items() if k not in seen
             and _age(p, snap.now) > STUCK_AFTER_S and _requests_networks(p)]
    if quiet:
        out.append(ClusterFinding(
            "warning", "sandbox:silent", "Pods",
            f"{len(quiet)} pod(s) Pending on a node for over {STUCK_AFTER_S:.0f}s with no "
            "sandbox-failure event",
            "the node's runtime or kubelet may be stuck; `kubectl describe pod` and the "
            "kubelet's log tell more", pods=sorted(key_of(p) for p in quiet)))
    return out


def _requests_networks(pod: Obj) -> bool:
    return bool((_meta(pod).get("annotations") or {}).get(NETWORKS_ANNOTATION))


# -- pools


def _ips_on(pod: Obj, nad_key: str) -> list[str]:
    text = (_meta(pod).get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        return []
    name = nad_key.partition("/")[2]
    ns = str(_meta(pod).get("namespace"))
    out = []
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and (e.get("name") == nad_key
                                    or (e.get("name") == name and nad_key.startswith(f"{ns}/"))):
            out += [str(i) for i in e.get("ips") or []]
    return out


def pool_use(nads: Mapping[str, NadState], pods: Sequence[Obj],
             scope: frozenset[str] | None) -> list[PoolUse]:
    out = []
    for key, st in sorted(nads.items()):
        if st.config is None or (scope is not None and key.partition("/")[0] not in scope):
            continue
        sets = range_sets(st.config)
        if not sets:
            continue
        ipam = st.config.ipam_type() or "?"
        per_node = ipam == "host-local"
        held: dict[str, set[str]] = {}
        for p in pods:
            ips = _ips_on(p, key)
            if ips:
                scope_key = (f"node {(p.get('spec') or {}).get('nodeName')}" if per_node
                             else "cluster")
                held.setdefault(scope_key, set()).update(ips)
        if not held:
            held = {"no pods": set()}
        for where, held_ips in sorted(held.items()):
            worst: PoolUse | None = None
            for rs in sets:
                size = sum(p.size for p in rs)
                used = 0
                for ip in held_ips:
                    try:
                        addr = ipaddress.ip_address(ip.split("/")[0])
                    except ValueError:
                        continue
                    if any(p.contains(addr) for p in rs):
                        used += 1
                use = PoolUse(key, ipam, where, used, size, _ranges(rs))
                if worst is None or use.ratio > worst.ratio:
                    worst = use
            if worst is not None:
                out.append(worst)
    return out


def check_pools(uses: Sequence[PoolUse], exhausted: set[str]) -> list[ClusterFinding]:
    out = []
    for u in uses:
        if u.network in exhausted:
            continue  # the stuck pods' finding says it, with the pods
        if u.used >= u.size:
            out.append(ClusterFinding("error", "pool", f"NetworkAttachmentDefinition {u.network}",
                                      f"pool {u.ranges} full on {u.scope}: {u.used}/{u.size} "
                                      "addresses held", "widen the pool before another pod needs "
                                      "an address there"))
        elif u.ratio >= POOL_WARN:
            out.append(ClusterFinding("warning", "pool", f"NetworkAttachmentDefinition {u.network}",
                                      f"pool {u.ranges} {u.ratio:.0%} used on {u.scope}: "
                                      f"{u.used}/{u.size} addresses", "widen the pool"))
    return out


# --------------------------------------------------------------------------- all together


_SAME_AS = {"sandbox:config-invalid": "nad-config", "sandbox:nad-missing": "nad-missing"}


def _fold(stuck: list[ClusterFinding], found: list[ClusterFinding]) -> list[ClusterFinding]:
    """Stuck pods whose cause another finding already names (a NAD that does not parse or
    does not exist) are added to that finding instead of repeating it."""
    out = []
    for f in stuck:
        same = next((g for g in found if g.check == _SAME_AS.get(f.check)
                     and g.subject == f.subject), None)
        if same is None:
            out.append(f)
            continue
        same.pods = sorted(set(same.pods) | set(f.pods))
        same.count += f.count
        same.message += (f"; {len(f.pods)} pod(s) stuck creating ({f.count} sandbox "
                         "failures)")
    return out


def diagnose(snap: Snapshot) -> Diagnosis:
    scope = snap.namespaces
    in_scope = [p for p in snap.pods
                if scope is None or str(_meta(p).get("namespace")) in scope]
    requesting = [p for p in in_scope if _requests_networks(p)
                  and not _meta(p).get("deletionTimestamp")]
    nads = parse_nads(snap.nads)
    findings: list[ClusterFinding] = [
        ClusterFinding("warning", "access", "netplumb doctor", f"could not read {what}",
                       "run doctor with a kubeconfig that may read it (list/get)")
        for what in snap.unreadable]
    findings += check_nodes(snap, in_scope)
    findings += check_multus(snap, requesting)
    refs, users = check_references(requesting, nads)
    findings += check_nads(nads, users, scope)
    findings += refs
    stuck = check_stuck(replace(snap, pods=in_scope), nads)
    findings += _fold(stuck, findings)
    uses = pool_use(nads, snap.pods, scope)
    exhausted = {f.subject.removeprefix("NetworkAttachmentDefinition ")
                 for f in stuck if f.check == "sandbox:pool-exhausted"}
    findings += check_pools(uses, exhausted)
    for f in findings:
        if f.check == "sandbox:pool-exhausted":
            key = f.subject.removeprefix("NetworkAttachmentDefinition ")
            held = [u for u in uses if u.network == key]
            if held:
                f.message += "; held: " + "; ".join(f"{u.used}/{u.size} on {u.scope}"
                                                    for u in held)
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.check, f.subject))
    return Diagnosis(findings, uses, scope)


# --------------------------------------------------------------------------- output


def format_text(d: Diagnosis) -> str:
    lines = []
    for f in d.findings:
        lines.append(f"{f.severity.upper():7} {f.subject}: {f.message}")
        if f.pods:
            lines.append(f"        pods: {_pods_list(f.pods)}")
        if f.fix:
            lines.append(f"        fix:  {f.fix}")
    if d.pools:
        lines.append("pool use:")
        width = max(len(u.network) for u in d.pools)
        for u in d.pools:
            lines.append(f"  {u.network:<{width}}  {u.ipam:<11} {u.scope:<22} "
                         f"{u.used:>5}/{u.size:<6} {u.ratio:5.0%}  {u.ranges}")
    c = d.counts()
    where = f" in namespace(s) {', '.join(sorted(d.namespaces))}" if d.namespaces else ""
    verdict = ("nothing to fix" if d.exit_code == 0 else
               f"{c['error']} error(s), {c['warning']} warning(s)")
    lines.append(f"netplumb doctor{where}: {verdict}")
    return "\n".join(lines) + "\n"


def format_json(d: Diagnosis) -> str:
    return json.dumps(d.to_dict(), indent=2) + "\n"
