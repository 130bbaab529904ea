"""``netplumb adopt``: a cluster's NetworkAttachmentDefinitions as a stack (pure).

Given the NADs, pods and workloads read from a cluster, decide per NAD:

* **adopted as a typed network** (``type: macvlan``, ``bridge``, ``ipvlan``, ``host-device``,
  ``sriov``, ``vlan``, chained plugins under ``chain``) when its config maps onto the typed
  args *and* rendering them gives back the live ``spec.config``: the same JSON value, keys in
  the same order at every depth;
* **adopted as config** (``config:``, :class:`~netplumb.args.nad.CniNetworkArgs`) when it does
  not (a plugin netplumb does not model, keys the typed args refuse, another key order); the
  lossless CNI models give that config back exactly, which is checked the same way;
* **referenced** (``external_networks``: the stack's selections may name it, the stack does
  not manage it) when something else writes it: an owner reference (the SR-IOV network
  operator's ``SriovNetwork``, the NVIDIA network operator's ``MacvlanNetwork``, OpenShift's
  cluster network operator), another netplumb stack, Helm, Argo CD or Flux; or when netplumb
  cannot hold its config (none, or one that does not parse). Each reference says why.

Every adopted NAD is listed in ``cluster_objects.adopt`` (the first ``pulumi up`` takes it
over explicitly) with ``adopted_on_destroy: retain`` (destroy leaves it). The pods and
workloads that select each NAD are listed as its users; they are not adopted.

The advice is what ``netplumb check`` finds in the adopted stack, plus the selection checks
run with the live users as they are (the NADs as found, without the ``capabilities.ips``
netplumb would add for a pod of its own): for the hand-run guide's NADs, the static-IP
capability a pod's ``ips`` need. The stack is written as found; the advice says what to
change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import yaml
from pydantic import TypeAdapter

from ..args.base import PARSED
from ..args.nad import (
    ARGS_BY_TYPE,
    NAD_KEYS,
    RESOURCE_NAME_ANNOTATION,
    CniNetworkArgs,
    NadFields,
    NetworkSpec,
)
from ..args.stack import CLUSTER_KEY, CONFIG_KEY, FILE_KEY, StackSpec
from ..checks.capacity import check_capacity
from ..checks.ipam_scope import check_node_local_ipam
from ..checks.segments import check_segments
from ..checks.selections import check_selections
from ..cni.config import DEFAULT_CNI_VERSION, parse_cni_config
from ..cni.selection import NETWORKS_ANNOTATION, NetworkSelection, refuse_non_multus_keys
from ..errors import Finding, PlanError, format_path
from ..ownership import OWNER_ANNOTATION
from ..plan import build_plan
from ..planned import HOSTNAME_LABEL, PlannedNetwork, Workload
from ..render.manifests import MANAGED_BY
from ..render.nad import NAD_KIND, nad
from ..validation import FieldIssue, validate
from .diff import diff_values
from .owners import PodOwner

Obj = Mapping[str, Any]

SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
"""Annotations a tool keeps for itself: not carried into the stack."""
SKIPPED_PREFIXES = ("netplumb.dev/", "pulumi.com/")
"""Annotation and label prefixes netplumb and the Pulumi provider write themselves."""
NO_USERS = "no pod or workload"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
"""Objects whose pod template may select networks (read by ``netplumb adopt``)."""

_NETWORK = TypeAdapter(NetworkSpec)

# -- who else writes a NAD --------------------------------------------------------------------

KNOWN_OWNERS: dict[tuple[str, str], str] = {
    ("sriovnetwork.openshift.io", "SriovNetwork"):
        "the SR-IOV network operator renders this NAD from it",
    ("sriovnetwork.openshift.io", "SriovIBNetwork"):
        "the SR-IOV network operator renders this NAD from it",
    ("sriovnetwork.openshift.io", "OVSNetwork"):
        "the SR-IOV network operator renders this NAD from it",
    ("mellanox.com", "MacvlanNetwork"):
        "the NVIDIA network operator renders this NAD from it",
    ("mellanox.com", "HostDeviceNetwork"):
        "the NVIDIA network operator renders this NAD from it",
    ("mellanox.com", "IPoIBNetwork"):
        "the NVIDIA network operator renders this NAD from it",
    ("operator.openshift.io", "Network"):
        "OpenShift's cluster network operator renders this NAD from the cluster Network's "
        "additionalNetworks",
}
"""Controllers known to write NADs: (API group, kind) of the owner → what it does."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def key_of(obj: Obj) -> str:
    """``namespace/name`` of a namespaced object."""
    m = _meta(obj)
    return f"{m.get('namespace') or 'default'}/{m.get('name')}"


def foreign_writer(obj: Obj, owner: str | None = None) -> str | None:
    """Why another controller writes ``obj`` (so netplumb must not take it over), if one
    does. ``owner``: ``<project>/<stack>`` of the stack adopting it (its own mark is fine)."""
    meta = _meta(obj)
    refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, Mapping)]
    if refs:
        ref = next((r for r in refs if r.get("controller")), refs[0])
        api = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "?")
        where = f"{meta.get('namespace')}/{ref.get('name')}" if meta.get("namespace") else \
            str(ref.get("name"))
        what = KNOWN_OWNERS.get((api.rpartition("/")[0], kind))
        head = f"owned by {kind} {where} ({api or 'unknown API'})"
        if what:
            return (f"{head}: {what}; change the {kind} instead (netplumb's changes would be "
                    "undone, and the NAD is deleted with its owner)")
        return (f"{head}: its controller writes this NAD and deletes it with its owner; "
                f"change the {kind} instead")
    notes = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    mark = notes.get(OWNER_ANNOTATION)
    if mark and mark != owner:
        return (f"managed by netplumb stack {mark!r}; select it from this stack as it is, or "
                "adopt it after that stack drops it")
    release = notes.get("meta.helm.sh/release-name")
    if release or labels.get("app.kubernetes.io/managed-by") == "Helm":
        rel_ns = notes.get("meta.helm.sh/release-namespace") or meta.get("namespace")
        shown = f" {rel_ns}/{release}" if release else ""
        return (f"installed by Helm release{shown}: the next helm upgrade would undo "
                "netplumb's changes; change the chart's values instead")
    if notes.get("argocd.argoproj.io/tracking-id") or labels.get("argocd.argoproj.io/instance"):
        return ("synced by Argo CD: it would revert netplumb's changes; change the "
                "application's source instead")
    for label in ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name"):
        if labels.get(label):
            return (f"reconciled by Flux ({label}={labels[label]}): it would revert "
                    "netplumb's changes; change the Flux source instead")
    if meta.get("deletionTimestamp"):
        return "being deleted"
    return None


# -- the pods and workloads that select a NAD -------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """One element of a networks annotation, as read (leniently)."""

    index: int
    namespace: str
    name: str
    interface: str
    raw: Any
    """The element as written (a JSON object, or the short ``ns/name@if`` form's text)."""
    selection: NetworkSelection | None
    """Parsed, or ``None`` when it does not parse (the problem says why)."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def read_selections(annotations: Mapping[str, Any] | None, namespace: str
                    ) -> tuple[list[Selected], str | None]:
    """The networks annotation's selections (both of Multus' forms: a JSON list, or
    ``[namespace/]name[@interface]`` separated by commas), and a problem with it."""
    text = str((annotations or {}).get(NETWORKS_ANNOTATION) or "").strip()
    if not text:
        return [], None
    out: list[Selected] = []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            return [], f"the {NETWORKS_ANNOTATION} annotation is not valid JSON: {exc}"
        if not isinstance(items, list):
            return [], f"the {NETWORKS_ANNOTATION} annotation is not a JSON list"
        problem = None
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                problem = problem or f"selection [{i}] has no name"
                continue
            try:
                sel: NetworkSelection | None = NetworkSelection.parse(dict(item))
            except PlanError as exc:
                sel = None
                problem = problem or f"selection [{i}]: {exc.findings[0]}"
            iface = item.get("interface")
            out.append(Selected(i, str(item.get("namespace") or namespace), str(item["name"]),
                                iface if isinstance(iface, str) and iface else f"net{i + 1}",
                                dict(item), sel))
        return out, problem
    for i, part in enumerate(p.strip() for p in text.split(",")):
        ref, _, iface = part.partition("@")
        space, _, name = ref.rpartition("/")
        if not name:
            continue
        try:
            sel = NetworkSelection.parse({"name": name, **({"namespace": space} if space else {}),
                                          **({"interface": iface} if iface else {})})
        except PlanError:
            sel = None
        out.append(Selected(i, space or namespace, name, iface or f"net{i + 1}", part, sel))
    return out, None


def pod_template(obj: Obj) -> Mapping[str, Any]:
    """The pod template of a workload (``{}`` when it has none)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, Mapping) else {}


def _controller(obj: Obj) -> tuple[str, str] | None:
    refs = [r for r in _meta(obj).get("ownerReferences") or [] if isinstance(r, Mapping)]
    ref = next((r for r in refs if r.get("controller")), None)
    return (str(ref.get("kind")), str(ref.get("name"))) if ref is not None else None


@dataclass(frozen=True)
class User(PodOwner):
    """A pod or workload that selects a NAD."""

    interfaces: tuple[str, ...]
    """The interfaces it attaches from this NAD."""
    pods: tuple[str, ...] = ()
    """A workload's pods found attached (names)."""
    of: str | None = None
    """The controller of a pod or workload that was not read (``Rollout web``)."""

    def __str__(self) -> str:
        text = f"{self.id} ({', '.join(self.interfaces)})"
        if self.of:
            text += f" of {self.of}"
        if self.pods:
            shown = ", ".join(self.pods[:5]) + (f" +{len(self.pods) - 5}"
                                                  if len(self.pods) > 5 else "")
            text += f": {len(self.pods)} pod(s) {shown}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name,
                "interfaces": list(self.interfaces), "pods": list(self.pods), "of": self.of}


@dataclass
class _Users:
    """What was read of the pods and workloads: users per NAD, and the workloads as the
    checks see them."""

    by_network: dict[str, list[User]] = field(default_factory=dict)
    workloads: list[tuple[str, Workload | None, list[Selected]]] = field(default_factory=list)
    """(``Kind ns/name``, the workload as the checks read it, its selections as written), of
    those whose annotation reads without a problem (a problem is listed instead)."""
    problems: list[str] = field(default_factory=list)

    def add(self, where: str, namespace: str, sels: list[Selected],
            facts: tuple[int, bool, str | None]) -> None:
        parsed = [s.selection for s in sels if s.selection is not None]
        workload = (Workload(where, namespace, parsed, *facts)
                    if len(parsed) == len(sels) else None)
        self.workloads.append((where, workload, sels))


def _workload_facts(obj: Obj, template: Mapping[str, Any]) -> tuple[int, bool, str | None]:
    """(replicas, spreads over nodes, the node it is pinned to) as the checks read them."""
    spec = obj.get("spec") or {}
    kind = str(obj.get("kind"))
    selector = ((template.get("spec") or {}).get("nodeSelector")) or {}
    pinned = selector.get(HOSTNAME_LABEL)
    if kind == "Pod":
        return 1, False, str(spec.get("nodeName") or pinned or "") or None
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        n = spec.get("replicas")
        replicas = n if isinstance(n, int) else 1
    elif kind == "Job":
        n = spec.get("parallelism")
        replicas = n if isinstance(n, int) else 1
    else:
        replicas = 1
    spreads = (kind == "DaemonSet" or replicas > 1) and pinned is None
    return replicas, spreads, pinned


def find_users(pods: Iterable[Obj], workloads: Iterable[Obj]) -> _Users:
    """Each NAD's users: workloads by their pod template (their pods grouped under them, a
    ReplicaSet's under its Deployment, a Job's under its CronJob), bare pods by their own
    annotation."""
    found = _Users()
    index: dict[tuple[str, str, str], Obj] = {}
    for w in workloads:
        m = _meta(w)
        index[(str(w.get("kind")), str(m.get("namespace") or "default"), str(m.get("name")))] = w

    def top(kind: str, ns: str, name: str) -> tuple[str, str, str]:
        at = (kind, ns, name)
        for _ in range(4):  # Pod → ReplicaSet → Deployment; Pod → Job → CronJob
            ctl = _controller(index[at]) if at in index else None
            if ctl is None or (ctl[0], ns, ctl[1]) not in index:
                return at
            at = (ctl[0], ns, ctl[1])
        return at

    entries: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {}

    def note(net: str, who: tuple[str, str, str], iface: str, pod: str | None,
             of: str | None) -> None:
        slot = entries.setdefault(net, {}).setdefault(
            who, {"interfaces": [], "pods": [], "of": of})
        if iface not in slot["interfaces"]:
            slot["interfaces"].append(iface)
        if pod is not None and pod not in slot["pods"]:
            slot["pods"].append(pod)

    for key, w in index.items():
        if top(*key) != key:
            continue  # covered by its owner (a Deployment's ReplicaSet, a CronJob's Job)
        template = pod_template(w)
        sels, problem = read_selections(_meta(template).get("annotations"), key[1])
        if problem:
            found.problems.append(f"{key[0]} {key[1]}/{key[2]}: {problem}")
        ctl = _controller(w)
        for s in sels:
            note(s.key, key, s.interface, None, f"{ctl[0]} {ctl[1]}" if ctl else None)
        if sels and problem is None:
            found.add(f"{key[0]} {key[1]}/{key[2]}", key[1], sels,
                      _workload_facts(w, template))
    for pod in pods:
        m = _meta(pod)
        ns, name = str(m.get("namespace") or "default"), str(m.get("name"))
        sels, problem = read_selections(m.get("annotations"), ns)
        if not sels and problem is None:
            continue
        ctl = _controller(pod)
        owner = top(ctl[0], ns, ctl[1]) if ctl and (ctl[0], ns, ctl[1]) in index else None
        if owner is None:
            if problem:
                found.problems.append(f"Pod {ns}/{name}: {problem}")
            of = f"{ctl[0]} {ctl[1]}" if ctl else None
            for s in sels:
                note(s.key, ("Pod", ns, name), s.interface, None, of)
            if sels and problem is None:
                found.add(f"Pod {ns}/{name}", ns, sels,
                          _workload_facts(pod, {"spec": pod.get("spec") or {}}))
            continue
        for s in sels:
            note(s.key, owner, s.interface, name, None)
    for net, who in entries.items():
        found.by_network[net] = [
            User(kind, ns, name, tuple(slot["interfaces"]), tuple(slot["pods"]), slot["of"])
            for (kind, ns, name), slot in sorted(who.items(), key=lambda kv: (
                kv[0][0] != "Pod", kv[0][1], kv[0][2], kv[0][0]))]
    return found


# -- one NAD as a network of the stack --------------------------------------------------------


def same_json(a: Any, b: Any) -> bool:
    """Equal JSON values with keys in the same order at every depth."""
    return a == b and json.dumps(a) == json.dumps(b)


def _difference(live: Any, rendered: Any) -> str:
    changes = diff_values(live, rendered)
    if not changes:
        return "the keys come out in another order"
    c = changes[0]
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    return f"{c.path or 'the config'} would differ{more}"


def _metadata_fields(obj: Obj) -> dict[str, Any]:
    """``resource_name``, ``labels``, ``annotations`` of the network args, from the NAD's
    metadata (what netplumb and tools write for themselves left out)."""
    meta = _meta(obj)
    notes = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()
             if k not in SKIPPED_ANNOTATIONS and not str(k).startswith(SKIPPED_PREFIXES)}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()
              if not str(k).startswith(SKIPPED_PREFIXES) and MANAGED_BY.get(str(k)) != v}
    out: dict[str, Any] = {}
    resource = notes.get(RESOURCE_NAME_ANNOTATION)
    if resource is not None and resource.count("/") == 1 and all(resource.split("/")):
        out["resource_name"] = notes.pop(RESOURCE_NAME_ANNOTATION)
    if labels:
        out["labels"] = labels
    if notes:
        out["annotations"] = notes
    return out


def _parse_network(entry: Mapping[str, Any]) -> NadFields:
    args: NadFields = validate(lambda d: _NETWORK.validate_python(d, context=PARSED), entry)
    return args


def rendered_config(args: NadFields, name: str) -> tuple[Any, dict[str, Any]]:
    """The decoded ``spec.config`` and the metadata of the NAD ``args`` render to (the one
    renderer a stack's NADs go through)."""
    manifest = nad(name, args.namespace, args.cni_config(name),
                   resource_name=args.resource_name, labels=args.labels,
                   annotations=args.annotations)
    return json.loads(manifest["spec"]["config"]), manifest["metadata"]


def _typed_entry(name: str, namespace: str, data: Mapping[str, Any],
                 meta: Mapping[str, Any]) -> dict[str, Any] | str:
    """The typed network args for ``data`` (a decoded config), or why there are none."""
    if "plugins" in data:
        if list(data) != ["cniVersion", "name", "plugins"]:
            return ("its conflist has top-level keys other than cniVersion, name, plugins in "
                    "that order, which typed args write")
        plugins = data["plugins"]
        if not isinstance(plugins, list) or not plugins or not isinstance(plugins[0], Mapping):
            return "its conflist has no interface plugin first"
        first, chain = dict(plugins[0]), list(plugins[1:])
    else:
        first = {k: v for k, v in data.items() if k not in ("cniVersion", "name")}
        chain = []
    kind = first.get("type")
    if not isinstance(kind, str) or kind not in ARGS_BY_TYPE:
        return (f"plugin type {kind!r} has no typed network kind (typed: "
                f"{', '.join(ARGS_BY_TYPE)})")
    clash = [k for k in first if k in NAD_KEYS and k != "type"]
    if clash:
        return f"its plugin has keys typed args use for the NAD itself ({', '.join(clash)})"
    entry: dict[str, Any] = {"name": name, "namespace": namespace}
    cni_name = data.get("name")
    if cni_name != name:
        entry["cni_name"] = "" if cni_name is None else cni_name
    if data.get("cniVersion") != DEFAULT_CNI_VERSION:
        entry["cni_version"] = data.get("cniVersion")
    entry["type"] = kind
    entry.update((k, v) for k, v in first.items() if k != "type")
    if chain:
        entry["chain"] = chain
    entry.update(meta)
    return entry


@dataclass(frozen=True)
class AdoptedNetwork:
    """A NAD the stack takes over."""

    key: str
    entry: dict[str, Any]
    """The stack's ``networks[]`` element."""
    given_as: Literal["typed", "config"]
    kind: str
    """The interface plugin's type (``macvlan``), or ``conflist of macvlan, tuning``."""
    why_config: str = ""
    """Why it is kept as ``config:`` (empty when typed)."""
    users: tuple[User, ...] = ()
    ipam: str | None = None
    """Its IPAM type (``whereabouts`` ones need the cluster's whereabouts)."""

    @property
    def ref(self) -> str:
        ns, _, name = self.key.partition("/")
        return f"{NAD_KIND}/{ns}/{name}"

    def describe(self) -> str:
        if self.given_as == "typed":
            return f"adopted as {self.kind}"
        return f"adopted, kept as config ({self.kind}): {self.why_config}"

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.key, "adopted": self.given_as, "type": self.kind,
                "why_config": self.why_config or None, "entry": self.entry,
                "users": [u.to_dict() for u in self.users]}


@dataclass(frozen=True)
class Reference:
    """A NAD the stack uses (``external_networks``) but does not manage, and why."""

    key: str
    reason: str
    users: tuple[User, ...] = ()

    def describe(self) -> str:
        return f"referenced, not adopted: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.key, "referenced": self.reason,
                "users": [u.to_dict() for u in self.users]}


def _kind_of(data: Mapping[str, Any]) -> str:
    if "plugins" in data and isinstance(data["plugins"], list):
        types = [str(p.get("type")) for p in data["plugins"] if isinstance(p, Mapping)]
        return "conflist of " + ", ".join(types)
    return str(data.get("type"))


def adopt_nad(obj: Obj, owner: str | None = None) -> AdoptedNetwork | Reference:
    """One NAD as the stack will hold it (see the module docstring)."""
    key = key_of(obj)
    why = foreign_writer(obj, owner)
    if why is not None:
        return Reference(key, why)
    meta = _meta(obj)
    name, namespace = str(meta.get("name")), str(meta.get("namespace") or "default")
    text = (obj.get("spec") or {}).get("config")
    if not isinstance(text, str) or not text.strip():
        return Reference(key, "it has no spec.config: Multus reads this network's config from "
                              "a file on each node, which netplumb neither sees nor manages")
    try:
        ipam = parse_cni_config(text).ipam_type()
        data = json.loads(text)
    except PlanError as exc:
        return Reference(key, f"its spec.config does not parse, so netplumb cannot hold it: "
                              f"{exc.findings[0]}")
    extra = _metadata_fields(obj)
    kind = _kind_of(data)

    def reproduces(entry: Mapping[str, Any]) -> str | None:
        """``None`` when ``entry`` renders to ``data``; else why not."""
        try:
            args = _parse_network(entry)
            config, rendered_meta = rendered_config(args, name)
        except PlanError as exc:
            first = exc.findings[0]
            return f"{first.path}: {first.message.split(';')[0]}"
        if not same_json(data, config):
            return _difference(data, config)
        notes = rendered_meta.get("annotations") or {}
        wanted = {**extra.get("annotations", {}),
                  **({RESOURCE_NAME_ANNOTATION: extra["resource_name"]}
                     if "resource_name" in extra else {})}
        if notes != wanted:
            return "its annotations would differ"
        return None

    typed = _typed_entry(name, namespace, data, extra)
    if isinstance(typed, dict):
        problem = reproduces(typed)
        if problem is None:
            return AdoptedNetwork(key, typed, "typed", kind, ipam=ipam)
        why_config = f"typed {typed['type']} args do not give it back: {problem}"
    else:
        why_config = typed
    # as JSON text: an inline spec's mappings reach the program with their keys sorted
    entry = {"name": name, "namespace": namespace, "config": json.dumps(data), **extra}
    problem = reproduces(entry)
    if problem is not None:
        return Reference(key, f"netplumb cannot reproduce its spec.config ({problem}); "
                              "manage it by hand")
    return AdoptedNetwork(key, entry, "config", kind, why_config, ipam=ipam)


# -- the whole adoption -----------------------------------------------------------------------


@dataclass
class Adoption:
    """What ``netplumb adopt`` found and decided."""

    networks: list[AdoptedNetwork]
    references: list[Reference]
    advice: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What could not be read of the users (an annotation that does not parse)."""

    @property
    def uses_whereabouts(self) -> bool:
        """An adopted NAD has whereabouts IPAM: the cluster runs whereabouts already (the
        adopted stack must not install it)."""
        return any(n.ipam == "whereabouts" for n in self.networks)

    def spec(self) -> dict[str, Any]:
        """The stack spec (``netplumb:spec``) as a plain mapping."""
        out: dict[str, Any] = {"networks": [n.entry for n in self.networks]}
        if self.references:
            out["external_networks"] = [r.key for r in self.references]
        if self.uses_whereabouts:
            out["whereabouts"] = {"installed": "external"}
        out["cluster_objects"] = {"adopt": [n.ref for n in self.networks],
                                  "adopted_on_destroy": "retain"}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"adopted": [n.to_dict() for n in self.networks],
                "referenced": [r.to_dict() for r in self.references],
                "advice": [{"severity": f.severity, "path": f.path, "message": f.message,
                            "value": f.value} for f in self.advice],
                "problems": self.problems}


def plan_adoption(nads: Sequence[Obj], pods: Sequence[Obj], workloads: Sequence[Obj], *,
                  owner: str | None = None, known: Collection[str] = (),
                  at: tuple[str, ...] = ("config", CONFIG_KEY)) -> Adoption:
    """Decide every NAD of ``nads`` (see the module docstring). ``pods`` and ``workloads``
    (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs) give each its users;
    ``owner`` is the adopting stack's ``<project>/<stack>``; ``known`` lists ``ns/name`` of
    NADs that exist but are not being adopted (left out by a selector), which the advice
    does not call missing; ``at`` is where the spec will be, for the advice's paths."""
    users = find_users(pods, workloads)
    networks: list[AdoptedNetwork] = []
    references: list[Reference] = []
    for obj in sorted(nads, key=key_of):
        decided = adopt_nad(obj, owner)
        found = tuple(users.by_network.get(decided.key, ()))
        if isinstance(decided, Reference):
            references.append(Reference(decided.key, decided.reason, found))
        else:
            networks.append(replace(decided, users=found))
    adoption = Adoption(networks, references, problems=users.problems)
    adoption.advice = advise(adoption, users, known=known, at=at)
    return adoption


def advise(adoption: Adoption, users: _Users, *, known: Collection[str] = (),
           at: tuple[str, ...] = ("config", CONFIG_KEY)) -> list[Finding]:
    """What ``netplumb check`` finds in the adopted stack, then the selection checks with the
    live users against the NADs as found; each finding once."""
    findings: list[Finding] = []
    try:
        spec = StackSpec.parse(adoption.spec(), at=at)
        findings += build_plan(spec, root=at).findings
    except PlanError as exc:
        findings += exc.findings
        spec = None
    nets: list[PlannedNetwork] = []
    if spec is not None:
        for i, args in enumerate(spec.networks):
            if args.name is None:
                continue
            try:
                config = args.cni_config(args.name)
            except PlanError:
                continue
            nets.append(PlannedNetwork(
                args.name, args.namespace, config, format_path((*at, "networks", i)),
                given_as="config" if isinstance(args, CniNetworkArgs) else "args"))
    external = {r.key for r in adoption.references} | set(known)
    live = [w for _, w, _ in users.workloads if w is not None]
    for where, _, sels in users.workloads:
        for s in sels:
            try:
                refuse_non_multus_keys(s.raw)
            except FieldIssue as issue:
                findings.append(Finding(
                    format_path([f"{where}.networks", s.index, *issue.subpath]),
                    issue.value, issue.message, "warning"))
    findings += check_selections(nets, live, external=external)
    findings += check_segments(nets, live)
    findings += check_capacity(nets, live)
    findings += check_node_local_ipam(nets, live)
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        if (f.path, f.message) not in seen:
            seen.add((f.path, f.message))
            out.append(f)
    return sorted(out, key=lambda f: f.severity != "error")


# -- the stack file ---------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=4096)


def _comment(text: str) -> str:
    return " ".join(text.split())


def spec_text(adoption: Adoption) -> str:
    """The spec as YAML, with a comment per network (how it was adopted, its users) and per
    reference (why it is one)."""
    lines: list[str] = []
    if not adoption.networks:
        lines.append("networks: []")
    else:
        lines.append("networks:")
    for n in adoption.networks:
        lines.append(f"  # {n.key}: {_comment(n.describe())}")
        lines.append(f"  #   used by: {_comment('; '.join(map(str, n.users)) or NO_USERS)}")
        lines += ["  " + ln for ln in _dump([n.entry]).rstrip("\n").splitlines()]
    if adoption.uses_whereabouts:
        lines.append("# whereabouts IPAM: the cluster runs whereabouts already")
        lines.append("whereabouts: {installed: external}")
    if adoption.references:
        lines.append("# used by this stack's selections, written by something else:")
        lines.append("external_networks:")
        for r in adoption.references:
            lines.append(f"  # {r.key}: {_comment(r.reason)}")
            lines.append(f"  - {json.dumps(r.key)}")
    lines.append("# the first `pulumi up` takes the adopted NADs over as they are; destroy "
                 "leaves them")
    lines += _dump({"cluster_objects": adoption.spec()["cluster_objects"]}).rstrip(
        "\n").splitlines()
    return "\n".join(lines) + "\n"


def stack_files(adoption: Adoption, *, source: str, clusters: Sequence[str] = (),
                spec_file: str | None = None, now: dt.datetime | None = None
                ) -> tuple[str, str | None]:
    """The stack file's text and, with ``spec_file`` (its ``netplumb:specFile`` value), the
    spec file's text. ``source`` says where the NADs were read (in the header comment);
    ``clusters`` binds the stack to that cluster (``netplumb:cluster``)."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# Adopted by `netplumb adopt` from {_comment(source)} on {when}:",
            f"# {len(adoption.networks)} NAD(s) adopted, {len(adoption.references)} "
            "referenced. Pods and workloads are listed, not managed."]
    body = spec_text(adoption)
    config = ["config:"]
    if clusters:
        config.append(f"  {CLUSTER_KEY}: {json.dumps(list(clusters))}")
    if spec_file is None:
        config.append(f"  {CONFIG_KEY}:")
        config += ["    " + ln if ln else ln for ln in body.splitlines()]
        return "\n".join([*head, *config]) + "\n", None
    config.append(f"  {FILE_KEY}: {json.dumps(spec_file)}")
    return "\n".join([*head, *config]) + "\n", "\n".join(head) + "\n" + body


def format_text(adoption: Adoption) -> str:
    """What ``netplumb adopt`` prints: per NAD what became of it and its users, then the
    advice."""
    lines: list[str] = []
    rows: list[tuple[str, str, tuple[User, ...]]] = [
        *((n.key, n.describe(), n.users) for n in adoption.networks),
        *((r.key, r.describe(), r.users) for r in adoption.references)]
    width = max((len(k) for k, _, _ in rows), default=0)
    for key, what, users in sorted(rows):
        lines.append(f"  {key:<{width}}  {what}")
        lines.append(f"  {'':<{width}}    used by: "
                     + ("; ".join(map(str, users)) if users else NO_USERS))
    for p in adoption.problems:
        lines.append(f"  note: {p}")
    if adoption.advice:
        lines.append("advice (what `netplumb check` finds in the adopted stack, with the "
                     "pods as they are; the stack is written as found):")
        lines += [f"  {f.severity}: {f}" for f in adoption.advice]
    return "\n".join(lines) + "\n"
