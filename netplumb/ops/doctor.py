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
* **Pods the scheduler cannot place** (no node, ``PodScheduled`` False/``Unschedulable``, or
  ``FailedScheduling`` events), grouped by the cause the scheduler's message gives
  (:mod:`.scheduling`): a device resource no node has free (with the device plugin or the
  stack's SR-IOV pool that must advertise it), a node selection no node matches (the labels
  no node carries), taints the pods do not tolerate, cordoned nodes, too little cpu/memory.
* **whereabouts' own state** (:mod:`.ipam_state`): IPPool allocations whose pod no longer
  exists (leaked: the addresses are lost to new pods until the reconciler runs) or whose
  running pod does not report the address (stale), OverlappingRangeIPReservations without an
  allocation and allocations without their reservation (orphaned); each with what to delete
  and the reconciler's schedule.
* **IPAM that needs a controller**: NADs whose whereabouts IPAM sets ``node_slice_size``
  where the node-slice controller does not run (or left a waiting pod's node without a
  slice), with the pods waiting on them.
* **Pool use** per network: addresses held against the pool size; per node for host-local
  (each node allocates on its own; from the pods' network-status), cluster-wide for
  whereabouts (from its IPPools, so leaked allocations count; per node slice with
  ``node_slice_size``). 80 % is a warning, a full pool an error.

* **host-local's reservations** on each node, as netplumb's node plugin serves them (its
  metrics daemon's ``/host-local``, read through the API server's pod proxy): a reservation
  older than :data:`HOST_LOCAL_GRACE_S` whose address no pod on that node holds is leaked
  (host-local has no reconciler: the address is lost to that node's new pods until its file
  is deleted). A run scoped to namespaces looks only at the networks of their NADs; an
  unscoped run at every network, the cluster network's too.

Severity orders the exit status: 0 nothing to fix, 1 warnings, 2 errors (3: doctor could not
read the cluster).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..args.nad import RESOURCE_NAME_ANNOTATION
from ..cni.config import CniConfig, parse_cni_config
from ..cni.ipam import HostLocalIpam, Pool, WhereaboutsIpam
from ..cni.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from ..errors import PlanError
from ..hostpaths import HOST_LOCAL_DIR
from ..spelling import similar_names
from .ipam_state import CRON_KEY as WHEREABOUTS_CRON_KEY
from .ipam_state import (
    NODE_SLICE_KEY,
    Allocation,
    IpPoolState,
    Reservation,
    mounted_configmap_names,
    node_slice_size,
    parse_ippool,
    parse_reservation,
    pool_belongs,
    reservation_name,
    slice_pool_name,
    slice_size,
    whereabouts_of,
)
from .sandbox import SANDBOX_REASONS, Cause, classify
from .scheduling import (
    FAILED_SCHEDULING,
    SchedulingCause,
    advertised,
    cordoned,
    primary,
    unmatched_selector,
    untolerated_taints,
)
from .scheduling import causes as scheduling_causes

Obj = Mapping[str, Any]
Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "warning": 1, "error": 2}
EXIT_UNKNOWN = 3
"""Exit status when the cluster could not be read."""
POOL_WARN = 0.8
STUCK_AFTER_S = 60.0
HOST_LOCAL_GRACE_S = 120.0
"""A host-local reservation younger than this is not judged: a pod may be between its
sandbox's ADD and its status, or between its DEL and its removal."""
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
    """Sandbox-failure events (``FailedCreatePodSandBox``, ``NoNetworkFound``) and
    ``FailedScheduling`` events."""
    now: dt.datetime
    namespaces: frozenset[str] | None = None
    """The namespaces looked at (``None``: all)."""
    unreadable: list[str] = field(default_factory=list)
    """What could not be read (``DaemonSets: 403 Forbidden``): reported, not guessed."""
    ippools: list[dict[str, Any]] | None = None
    """whereabouts IPPools of every namespace (``None``: the cluster serves none, or they
    could not be read: pool use then counts network-status)."""
    reservations: list[dict[str, Any]] | None = None
    """whereabouts OverlappingRangeIPReservations (``None``: not served or not read)."""
    node_slice_pools: list[dict[str, Any]] | None = None
    """whereabouts NodeSlicePools (``None``: not served or not read)."""
    node_slice_controllers: list[dict[str, Any]] | None = None
    """Deployments that run whereabouts' node-slice controller (``None``: not looked for;
    read when a NAD sets ``node_slice_size``)."""
    whereabouts_daemonsets: list[dict[str, Any]] = field(default_factory=list)
    """DaemonSets that run whereabouts' ip-control-loop (its reconciler)."""
    whereabouts_configmaps: dict[tuple[str, str], dict[str, Any] | None] = field(
        default_factory=dict)
    """ConfigMaps those DaemonSets mount (the reconciler's schedule)."""
    device_plugins: list[dict[str, Any]] = field(default_factory=list)
    """DaemonSets that run a device plugin (by name or image)."""
    device_pools: dict[str, str] = field(default_factory=dict)
    """Device resource → where the stack doctor was given gets it from (its SR-IOV pools)."""
    host_local: dict[str, list[dict[str, Any]]] | None = None
    """Node → its host-local networks as the node plugin serves them (``network``, ``dir``,
    ``reservations``: ``ip``, ``containerID``, ``ifName``, ``ageSeconds``); ``None``: no node
    plugin was found to ask."""
    node_pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Node → every pod bound to it, of all namespaces (read for the nodes whose host-local
    reservations need comparing)."""


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
    ready_nodes = [n for n in snap.nodes if node_ready(n)]
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
        if node_ready(node):
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


def node_ready(node: Obj) -> bool:
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
    "macvlan-passthru-taken": "macvlan passthru gives its master to one pod: {link} on node(s) "
                              "{nodes} is held by {holders}; share the master with mode "
                              "bridge, private or vepa ({field}), or give each pod a master "
                              "of its own",
    "macvlan-failed": "read the message: the kernel refused the macvlan on {link} (a master "
                      "in use by a passthru macvlan, or a MAC already on it)",
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
    if cause_id == "macvlan-passthru-taken":
        return f"{prefix}.mode"
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
        if cause.id == "macvlan-failed" and _passthru(nads.get(nad) if nad else None):
            # the kernel's EINVAL for a second passthru macvlan on one lower device
            cause = replace(cause, id="macvlan-passthru-taken",
                            title="macvlan passthru: its master already has a pod")
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
            holders=", ".join(_attached_on(snap, nad, g.nodes)) or "another interface",
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


def _passthru(st: NadState | None) -> bool:
    return bool(st and st.config and st.config.type == "macvlan"
                and getattr(st.config.main, "mode", None) == "passthru")


def _attached_on(snap: Snapshot, nad: str | None, nodes: set[str]) -> list[str]:
    """Running pods on ``nodes`` attached to ``nad`` (its network-status lists it)."""
    if nad is None:
        return []
    return sorted(key_of(p) for p in snap.pods
                  if (p.get("spec") or {}).get("nodeName") in nodes
                  and (p.get("status") or {}).get("phase") == "Running" and _ips_on(p, nad))


def _requests_networks(pod: Obj) -> bool:
    return bool((_meta(pod).get("annotations") or {}).get(NETWORKS_ANNOTATION))


# -- pods the scheduler could not place


def _unscheduled(pod: Obj) -> str | None:
    """The scheduler's last word on a pod it could not place, from its ``PodScheduled``
    condition (``None``: the pod has a node, or the scheduler has not given up on it)."""
    if not _waiting_for_node(pod):
        return None
    for c in (pod.get("status") or {}).get("conditions") or []:
        if (c.get("type") == "PodScheduled" and c.get("status") == "False"
                and c.get("reason") == "Unschedulable"):
            return str(c.get("message") or "")
    return None


def _waiting_for_node(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return (status.get("phase") in (None, "Pending") and not (pod.get("spec") or {})
            .get("nodeName") and not _meta(pod).get("deletionTimestamp"))


@dataclass
class _Unplaced:
    """Pods the scheduler rejected for one cause."""

    cause: SchedulingCause
    detail: list[str]
    pods: dict[str, Obj] = field(default_factory=dict)
    said: dict[str, str] = field(default_factory=dict)
    """Pod → the scheduler's message."""
    count: int = 0


def _scheduling_events(events: Iterable[Obj]) -> dict[str, tuple[str, int]]:
    """Pod → the latest ``FailedScheduling`` message and how many attempts failed."""
    out: dict[str, tuple[str, int]] = {}
    for ev in sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime")
                                                 or "")):
        if ev.get("reason") != FAILED_SCHEDULING:
            continue
        inv = ev.get("involvedObject") or {}
        key = f"{inv.get('namespace')}/{inv.get('name')}"
        seen = out.get(key, ("", 0))[1]
        out[key] = (str(ev.get("message") or ""), seen + int(ev.get("count") or 1))
    return out


def check_unschedulable(snap: Snapshot, in_scope: Sequence[Obj],
                        nads: Mapping[str, NadState]) -> list[ClusterFinding]:
    """Pods without a node that the scheduler gave up on (their ``PodScheduled`` condition,
    else their ``FailedScheduling`` events), grouped by cause: a device resource no node has
    free, a node selection no node matches, taints, cordoned nodes, too little cpu/memory,
    and the rest."""
    events = _scheduling_events(snap.events)
    groups: dict[tuple[str, str], _Unplaced] = {}
    for pod in in_scope:
        key = key_of(pod)
        message = _unscheduled(pod)
        if message is None and key in events and _waiting_for_node(pod):
            message = events[key][0]
        if not message:
            continue
        main = primary(scheduling_causes(message))
        if main is None:
            continue
        detail = unmatched_selector(pod, snap.nodes) if main.id == "selector" else []
        group_key = main.key or ", ".join(detail)
        g = groups.setdefault((main.id, group_key), _Unplaced(main, detail))
        g.pods[key] = pod
        g.said[key] = message
        g.count += events.get(key, ("", 0))[1]
    out = []
    for (cause_id, _), g in sorted(groups.items()):
        subject, message, fix = _unplaced_text(g, snap, nads)
        example = g.said[sorted(g.said)[0]]
        out.append(ClusterFinding(
            "error", f"unschedulable:{cause_id}", subject,
            f"{len(g.pods)} pod(s) cannot be scheduled: {message}; the scheduler: {example}",
            fix, pods=sorted(g.pods), count=g.count))
    return out


def _unplaced_text(g: _Unplaced, snap: Snapshot, nads: Mapping[str, NadState]
                   ) -> tuple[str, str, str]:
    """Subject, message and fix of a group of unschedulable pods."""
    cause = g.cause
    if cause.id == "device":
        return (f"Resource {cause.key}", _device_message(cause.key, snap),
                _device_fix(cause.key, snap, nads))
    if cause.id == "resources":
        what = "room for another pod" if cause.key == "pods" else f"enough free {cause.key}"
        return (f"Resource {cause.key}", f"no node has {what}",
                "lower the pods' requests, free room on the nodes (other pods' requests) or "
                "add nodes")
    if cause.id == "selector":
        labels = [d for d in g.detail if not d.startswith("affinity ")]
        rest = [d.removeprefix("affinity ") for d in g.detail if d.startswith("affinity ")]
        if g.detail:
            parts = ([f"label {', '.join(labels)}"] if labels else []) + (
                [f"node affinity {'; '.join(rest)}"] if rest else [])
            message = f"no node has {' nor '.join(parts)}"
        else:
            message = "no node matches their node selector and node affinity together"
        first = labels[0] if labels else "<key>=<value>"
        return (f"Node selection {', '.join(g.detail) or '(combined)'}", message,
                f"label the node(s) meant for them (`kubectl label node <node> {first}`), "
                "or correct the pods' nodeSelector/affinity (a workload's pod template)")
    if cause.id == "taints":
        taints: dict[str, set[str]] = {}
        for pod in g.pods.values():
            for node, found in untolerated_taints(pod, snap.nodes).items():
                taints.setdefault(node, set()).update(found)
        listed = "; ".join(f"{n}: {', '.join(sorted(t))}" for n, t in sorted(taints.items()))
        return ("Node taints",
                "node(s) carry taints they do not tolerate" + (f" ({listed})" if listed
                                                               else ""),
                "give the pods tolerations for those taints, or remove a taint that should "
                "not be there (`kubectl taint node <node> <key>:<effect>-`); "
                "node.kubernetes.io/not-ready or unreachable means the node is down (see the "
                "node findings)")
    if cause.id == "cordoned":
        nodes = cordoned(snap.nodes)
        return ("Nodes cordoned", f"node(s) {', '.join(nodes) or '?'} are cordoned",
                f"`kubectl uncordon {' '.join(nodes) or '<node>'}` once their maintenance "
                "is over, or add nodes")
    return ("Pods", cause.key,
            "`kubectl describe pod` shows the scheduler's whole message and the pod's events")


def _device_message(resource: str, snap: Snapshot) -> str:
    have = advertised(resource, snap.nodes)
    if not have:
        return f"they request {resource}, which no node advertises"
    listed = ", ".join(f"{n}: {a}" for n, a in sorted(have.items()))
    return (f"they request {resource}, which {len(have)} node(s) advertise ({listed}), none "
            "with one free for them (or those nodes are excluded for other reasons)")


def _device_fix(resource: str, snap: Snapshot, nads: Mapping[str, NadState]) -> str:
    prefix, _, name = resource.partition("/")
    planned = snap.device_pools.get(resource)
    parts = [
        f"{resource} is {planned}: the device plugin advertises it on the nodes where the "
        "pool's selectors find devices (VFs created on the PFs they name), so create the VFs "
        "there or correct the selectors" if planned else
        f"a device plugin must advertise {resource} on the nodes meant for these pods: for "
        f"SR-IOV, an entry of the SR-IOV network device plugin's resourceList with "
        f"resourceName {name} and prefix {prefix}, whose selectors find VFs on those nodes "
        "(netplumb: a pool under sriov: in the platform stack)"]
    if not any(u.startswith("DaemonSets") for u in snap.unreadable):
        plugins = [key_of(d) for d in snap.device_plugins]
        parts.append("device plugin DaemonSet(s) in the cluster: " + ", ".join(plugins)
                     if plugins else "no device plugin DaemonSet runs in the cluster")
    users = sorted(k for k, st in nads.items()
                   if (_meta(st.obj).get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
                   == resource)
    if users:
        parts.append(f"NAD(s) {', '.join(users)} name it ({RESOURCE_NAME_ANNOTATION}): pods "
                     "selecting them get the request")
    return "; ".join(parts)


# -- whereabouts' own state


def _reconciler(snap: Snapshot) -> str:
    """Who frees whereabouts allocations whose pod is gone, as a clause of a fix."""
    if not snap.whereabouts_daemonsets:
        if any(u.startswith("DaemonSets") for u in snap.unreadable):
            return "whereabouts' reconciler (its ip-control-loop) frees them on its schedule"
        return ("no DaemonSet runs whereabouts' ip-control-loop (its reconciler), so nothing "
                "frees them")
    ds = snap.whereabouts_daemonsets[0]
    when = "on its schedule"
    for ref in mounted_configmap_names(ds):
        cm = snap.whereabouts_configmaps.get(ref)
        cron = ((cm or {}).get("data") or {}).get(WHEREABOUTS_CRON_KEY)
        if cron:
            when = (f"on its schedule {str(cron).strip()!r} (ConfigMap {ref[0]}/{ref[1]}, key "
                    f"{WHEREABOUTS_CRON_KEY})")
    text = (f"whereabouts' reconciler (the ip-control-loop of DaemonSet {key_of(ds)}) frees "
            f"them {when}")
    if not int((ds.get("status") or {}).get("numberReady") or 0):
        text += ", but the DaemonSet has no ready pod, so nothing frees them now"
    return text


def _status_ips(pod: Obj) -> set[str] | None:
    """Every address of the pod's network-status (``None``: it has none to compare with)."""
    text = (_meta(pod).get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
    try:
        entries = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(entries, list) or not entries:
        return None
    return {str(ip).split("/")[0] for e in entries if isinstance(e, dict)
            for ip in e.get("ips") or []}


def host_local_networks(nads: Mapping[str, NadState]) -> set[str]:
    """The network names (host-local's directory names) of the NADs whose IPAM is
    host-local: a config's ``name``, else the NAD's own name."""
    out = set()
    for st in nads.values():
        if st.config is not None and isinstance(getattr(st.config.main, "ipam", None),
                                                HostLocalIpam):
            out.add(st.config.name or str(_meta(st.obj).get("name")))
    return out


def held_addresses(pods: Iterable[Obj]) -> set[str]:
    """Addresses the pods hold: their pod IPs and every network-status address (pods that
    finished hold none: their sandboxes are stopped)."""
    out: set[str] = set()
    for p in pods:
        status = p.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            continue
        out |= {str(i.get("ip")) for i in status.get("podIPs") or [] if i.get("ip")}
        out |= _status_ips(p) or set()
    return out


def leaked_host_local(snap: Snapshot, networks: set[str] | None
                      ) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(node, network, its leaked reservations) for the ``networks`` (``None``: all): older
    than :data:`HOST_LOCAL_GRACE_S`, and held by no pod on that node."""
    out = []
    for node, served in sorted((snap.host_local or {}).items()):
        if node not in snap.node_pods:
            continue  # its pods could not be read: nothing to compare with
        held = held_addresses(snap.node_pods[node])
        for net in served:
            if networks is not None and net.get("network") not in networks:
                continue
            left = [r for r in net.get("reservations") or []
                    if float(r.get("ageSeconds") or 0) >= HOST_LOCAL_GRACE_S
                    and str(r.get("ip")) not in held]
            if left:
                out.append((node, net, left))
    return out


def check_host_local(snap: Snapshot, nads: Mapping[str, NadState]) -> list[ClusterFinding]:
    """host-local reservations on each node that no pod there holds (see the module doc)."""
    networks = None if snap.namespaces is None else host_local_networks(
        {k: st for k, st in nads.items()
         if str(_meta(st.obj).get("namespace")) in snap.namespaces})
    findings = []
    for node, net, left in leaked_host_local(snap, networks):
        shown = ", ".join(f"{r.get('ip')} (container {str(r.get('containerID'))[:12] or '?'})"
                          for r in left[:6]) + (f" and {len(left) - 6} more"
                                                 if len(left) > 6 else "")
        where = str(net.get("dir") or f"{HOST_LOCAL_DIR}/{net.get('network')}")
        findings.append(ClusterFinding(
            "warning", "host-local:leaked", f"Node {node}",
            f"{len(left)} host-local reservation(s) of network {net.get('network')} that no "
            f"pod on the node holds, older than {HOST_LOCAL_GRACE_S:.0f}s: {shown}; the "
            f"node's new pods cannot get these addresses",
            f"on node {node}, delete each address's file in {where} once its container "
            f"(the sandbox the file names) no longer needs it (host-local has no "
            f"reconciler; netplumb's node plugin frees on its own only reservations whose "
            f"sandbox is gone or stopped: node_plugin.reconcile)", field=where,
            count=len(left)))
    return findings


def _addresses(found: Sequence[Allocation], limit: int = 6) -> str:
    shown = [f"{a.ip} (pod {a.podref or '?'}"
             + (f", container {a.container_id[:12]}" if a.container_id else "")
             + (f", {a.ifname}" if a.ifname else "") + ")" for a in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return "; ".join(shown) + more


def check_whereabouts(snap: Snapshot, nads: Mapping[str, NadState]
                      ) -> tuple[list[ClusterFinding], list[IpPoolState]]:
    """whereabouts' IPPools and OverlappingRangeIPReservations against the pods that exist:
    allocations of pods that are gone (leaked), allocations a running pod no longer reports
    (stale), and reservations and allocations without each other (orphaned). Also the pools
    read, for pool use."""
    if snap.ippools is None:
        return [], []
    scope = snap.namespaces
    nodes = [str(_meta(n).get("name")) for n in snap.nodes]
    pools = [p for p in (parse_ippool(o, nodes) for o in snap.ippools) if p is not None]
    existing = {key_of(p): p for p in snap.pods}

    def mine(podref: str) -> bool:
        return bool(podref) and (scope is None or podref.partition("/")[0] in scope)

    reservations = {(r.namespace, r.name): r
                    for r in (parse_reservation(o) for o in snap.reservations or [])}
    expected: set[tuple[str, str]] = set()
    for pool in pools:
        expected |= {(pool.namespace, reservation_name(a.ip, pool.network_name))
                     for a in pool.allocations}
    reconciler = _reconciler(snap)
    out: list[ClusterFinding] = []
    for pool in sorted(pools, key=lambda p: p.key):
        kind = f"ippools.whereabouts.cni.cncf.io {pool.name}"
        leaked = [a for a in pool.allocations if mine(a.podref) and a.podref not in existing]
        if leaked:
            held = [reservations[k] for a in leaked
                    if (k := (pool.namespace, reservation_name(a.ip, pool.network_name)))
                    in reservations]
            also = (f", and delete OverlappingRangeIPReservation(s) "
                    f"{', '.join(r.name for r in held)} in {pool.namespace}" if held else "")
            out.append(ClusterFinding(
                "warning", "whereabouts:leaked", f"IPPool {pool.key}",
                f"{len(leaked)} allocation(s) of {pool.range} belong to pods that no longer "
                f"exist, so their addresses are lost to new pods: {_addresses(leaked)}",
                f"{reconciler}; to free them now, remove offset(s) "
                f"{', '.join(a.offset for a in leaked)} from spec.allocations (`kubectl -n "
                f"{pool.namespace} edit {kind}`){also}",
                pods=sorted({a.podref for a in leaked})))
        stale = []
        for a in pool.allocations:
            pod = existing.get(a.podref) if mine(a.podref) else None
            if pod is None or (pod.get("status") or {}).get("phase") != "Running":
                continue
            ips = _status_ips(pod)
            if ips is not None and str(a.ip) not in ips:
                stale.append(a)
        if stale:
            out.append(ClusterFinding(
                "warning", "whereabouts:stale", f"IPPool {pool.key}",
                f"{len(stale)} allocation(s) of {pool.range} name running pods whose "
                f"network-status does not carry the address (held for an earlier sandbox of "
                f"a pod of that name): {_addresses(stale)}",
                f"{reconciler}; to free them now, remove offset(s) "
                f"{', '.join(a.offset for a in stale)} from spec.allocations (`kubectl -n "
                f"{pool.namespace} edit {kind}`)",
                pods=sorted({a.podref for a in stale})))
        out += _unreserved(pool, nads, existing, reservations, mine, snap.reservations)
    orphans: dict[str, list[Reservation]] = {}
    for (ns, name), r in sorted(reservations.items()):
        if (ns, name) not in expected and (mine(r.podref) or not r.podref):
            orphans.setdefault(ns, []).append(r)
    for ns, found in sorted(orphans.items()):
        gone = [r for r in found if r.podref not in existing]
        listed = "; ".join(f"{r.name} (pod {r.podref or '?'}"
                           + ("" if r.podref in existing else ", gone") + ")"
                           for r in found[:6]) + (f" and {len(found) - 6} more"
                                                  if len(found) > 6 else "")
        out.append(ClusterFinding(
            "warning", "whereabouts:orphaned", f"OverlappingRangeIPReservations in {ns}",
            f"{len(found)} reservation(s) with no IPPool allocation keep their addresses from "
            f"every whereabouts range containing them: {listed}",
            f"delete them (`kubectl -n {ns} delete overlappingrangeipreservations."
            f"whereabouts.cni.cncf.io {' '.join(r.name for r in found)}`)"
            + (f"; for those whose pod is gone, {reconciler}" if gone else ""),
            pods=sorted({r.podref for r in found if r.podref})))
    return out, pools


def _unreserved(pool: IpPoolState, nads: Mapping[str, NadState], existing: Mapping[str, Obj],
                reservations: Mapping[tuple[str, str], Reservation],
                mine: Callable[[str], bool], read: list[dict[str, Any]] | None
                ) -> list[ClusterFinding]:
    """Allocations of running pods without their OverlappingRangeIPReservation, on networks
    whose whereabouts checks overlapping ranges (its default)."""
    if read is None:
        return []
    configs = [st for st in nads.values() if st.config is not None
               and pool_belongs(pool, st.config)]
    if not configs or any(getattr(whereabouts_of(st.config), "enable_overlapping_ranges",
                                  None) is False for st in configs):
        return []
    # a pod still being set up may have its allocation and not yet its reservation (one
    # ADD writes both, one after the other): only running pods are judged
    missing = [a for a in pool.allocations if mine(a.podref) and a.podref in existing
               and (existing[a.podref].get("status") or {}).get("phase") == "Running"
               and (pool.namespace, reservation_name(a.ip, pool.network_name))
               not in reservations]
    if not missing:
        return []
    return [ClusterFinding(
        "warning", "whereabouts:orphaned", f"IPPool {pool.key}",
        f"{len(missing)} allocation(s) of {pool.range} have no OverlappingRangeIPReservation, "
        f"so another whereabouts range containing the address can hand it out again: "
        f"{_addresses(missing)}",
        "recreate those pods (whereabouts reserves the address again on ADD), after checking "
        "no other pod reports the same address. A pod whose ADD ran while whereabouts' "
        "reconciler was running can lose its reservation that way (v0.9 lists the IPPools "
        "before the reservations and judges a reservation by the pods the IPPools named); "
        "its ip-control-loop logs 'removed stale overlappingIP allocation' for it",
        pods=sorted({a.podref for a in missing}))]


# -- IPAM that needs a controller


def check_node_slices(snap: Snapshot, nads: Mapping[str, NadState],
                      users: Mapping[str, list[str]]) -> list[ClusterFinding]:
    """NADs whose whereabouts IPAM sets ``node_slice_size`` where the node-slice controller
    does not run (or has no slice for a waiting pod's node), with the pods waiting on them."""
    if snap.node_slice_controllers is None:
        return []
    by_key = {key_of(p): p for p in snap.pods}
    out = []
    for key, st in sorted(nads.items()):
        size = node_slice_size(st.config)
        if (size is None or st.config is None
                or (snap.namespaces is not None and key.partition("/")[0] not in snap.namespaces)):
            continue
        waiting = sorted({k for k in users.get(key, []) if k in by_key and (
            by_key[k].get("status") or {}).get("phase") in (None, "Pending")})
        slice_name = slice_pool_name(st.config)
        controllers = snap.node_slice_controllers
        ready = [d for d in controllers
                 if int((d.get("status") or {}).get("readyReplicas") or 0) > 0]
        field_path = (("spec.config.plugins[0]" if st.config.is_list else "spec.config")
                      + f".ipam.{NODE_SLICE_KEY}")
        run_it = ("run the node-slice controller (netplumb: `whereabouts: "
                  "{node_slice_controller: true}` in the platform stack; it makes one "
                  "NodeSlicePool per network and hands each node a slice), or remove "
                  f"{NODE_SLICE_KEY} from {field_path.rsplit('.', 1)[0]} to allocate from the "
                  "whole range; the kubelet retries the waiting pods' sandboxes")
        if not controllers:
            problem = ("no node-slice controller runs in the cluster (no Deployment runs "
                       "/node-slice-controller)")
            fix = run_it
        elif not ready:
            problem = (f"the node-slice controller ({', '.join(key_of(d) for d in controllers)}"
                       ") has no ready replica")
            fix = run_it.replace("run the node-slice controller", "get the node-slice "
                                 "controller ready (its pod's events and log say why)", 1)
        else:
            found = [p for p in snap.node_slice_pools or []
                     if str(_meta(p).get("name")) == slice_name]
            if snap.node_slice_pools is None:
                continue
            if not found:
                problem = (f"the node-slice controller runs but has made no NodeSlicePool "
                           f"{slice_name}")
                fix = ("read the node-slice controller's log: it makes the NodeSlicePool when "
                       "it sees the NAD (a range it cannot cut by the slice size is refused)")
            else:
                sliced = {str(a.get("nodeName")) for a in ((found[0].get("status") or {})
                                                           .get("allocations") or [])
                          if a.get("nodeName")}
                lacking = sorted({str((by_key[k].get("spec") or {}).get("nodeName"))
                                  for k in waiting if (by_key[k].get("spec") or {})
                                  .get("nodeName")} - sliced)
                if not lacking:
                    continue
                problem = (f"NodeSlicePool {key_of(found[0])} has no slice for node(s) "
                           f"{', '.join(lacking)} (every slice of the range is taken)")
                fix = (f"widen the range or shrink {NODE_SLICE_KEY} ({field_path}) so every "
                       "node gets a slice")
        out.append(ClusterFinding(
            "error" if waiting else "warning", "ipam-controller",
            f"NetworkAttachmentDefinition {key}",
            f"its whereabouts IPAM sets {NODE_SLICE_KEY} {size}: whereabouts then allocates "
            f"only from the node's slice of the range, which the node-slice controller records "
            f"in NodeSlicePool {slice_name}; {problem}, so every attachment to this network "
            "fails" + (f"; {len(waiting)} pod(s) wait on it" if waiting else ""),
            fix, pods=waiting, field=field_path))
    return out


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
             scope: frozenset[str] | None,
             ippools: Sequence[IpPoolState] | None = None) -> list[PoolUse]:
    """Addresses held per network: whereabouts' from its IPPools when ``ippools`` were read
    (every allocation, also those of pods that are gone; per node slice with
    ``node_slice_size``), otherwise and for host-local from the pods' network-status."""
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
        if ipam == "whereabouts" and ippools is not None:
            config = st.config
            belong = [p for p in ippools if pool_belongs(p, config)]
            if node_slice_size(config) is not None:
                out += [PoolUse(key, ipam, f"node {p.node}", len(p.allocations),
                                slice_size(p.network), str(p.network))
                        for p in sorted(belong, key=lambda p: str(p.node)) if p.node]
                continue
            held["cluster"] = {str(a.ip) for p in belong for a in p.allocations}
        else:
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
    does not exist, or whose IPAM's controller does not run) are added to that finding
    instead of repeating it."""
    out = []
    for f in stuck:
        same = next((g for g in found if g.subject == f.subject and (
            g.check == _SAME_AS.get(f.check)
            or (g.check == "ipam-controller" and f.check == "sandbox:other"))), None)
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
    findings += check_unschedulable(snap, in_scope, nads)
    findings += check_node_slices(snap, nads, users)
    leaks, ippools = check_whereabouts(snap, nads)
    findings += leaks
    findings += check_host_local(snap, nads)
    stuck = check_stuck(replace(snap, pods=in_scope), nads)
    findings += _fold(stuck, findings)
    uses = pool_use(nads, snap.pods, scope, ippools if snap.ippools is not None else None)
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
