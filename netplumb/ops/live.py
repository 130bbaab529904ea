"""Reading the cluster for ``doctor`` (the thin layer around :mod:`.doctor`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from ..kube import Kube, KubeError
from ..render.nad import NAD_API_VERSION, NAD_KIND
from ..render.node_plugin import NAME as NODE_PLUGIN
from .doctor import (
    HOST_LOCAL_GRACE_S,
    Snapshot,
    host_local_networks,
    is_multus_daemonset,
    mounted_configmaps,
    node_ready,
    parse_nads,
)
from .ipam_state import API_VERSION as WHEREABOUTS_API
from .ipam_state import (
    IPPOOL,
    NODE_SLICE_CONTROLLER,
    NODE_SLICE_KEY,
    NODE_SLICE_POOL,
    RECONCILER,
    RESERVATION,
    mounted_configmap_names,
    running_command,
)
from .progress import QUIET, Progress
from .sandbox import SANDBOX_REASONS
from .scheduling import FAILED_SCHEDULING

Objects = list[dict[str, Any]]


def read_snapshot(kube: Kube, namespaces: Iterable[str] | None = None,
                  progress: Progress = QUIET) -> Snapshot:
    """Everything :func:`.doctor.diagnose` looks at: nodes, Multus DaemonSets with their pods
    and ConfigMaps, every NAD, the pods and their sandbox-failure and ``FailedScheduling``
    events of ``namespaces`` (all when ``None``), device plugin DaemonSets, and whereabouts'
    state (its IPPools, reservations and reconciler; its node slices when a NAD asks for
    them). What the credentials may not read is listed, not guessed."""
    scope = frozenset(namespaces) if namespaces is not None else None
    unreadable: list[str] = []

    def attempt(what: str, call: Callable[[], Objects]) -> Objects:
        progress.update(f"reading {what}")
        try:
            return call()
        except KubeError as exc:
            if exc.status == 0:
                raise
            unreadable.append(f"{what} ({exc.status} {exc.reason})")
            return []

    def per_namespace(kind: str, field_selector: str | None = None) -> Objects:
        if scope is None:
            return kube.list("v1", kind, field_selector=field_selector)
        return [o for ns in sorted(scope)
                for o in kube.list("v1", kind, namespace=ns, field_selector=field_selector)]

    nodes = attempt("nodes", lambda: kube.list("v1", "Node"))
    every_daemonset = attempt("DaemonSets", lambda: kube.list("apps/v1", "DaemonSet"))
    daemonsets = [d for d in every_daemonset if is_multus_daemonset(d)]
    whereabouts = [d for d in every_daemonset if running_command(d, RECONCILER)]
    device_plugins = [d for d in every_daemonset if is_device_plugin(d)]
    multus_pods: Objects = []
    configmaps: dict[tuple[str, str], dict[str, Any] | None] = {}
    for ds in daemonsets:
        multus_pods += _daemonset_pods(kube, ds, attempt)
        for cm_ns, cm_name in mounted_configmaps(ds):

            def cm(cm_ns: str = cm_ns, cm_name: str = cm_name) -> Objects:
                found = kube.get("v1", "ConfigMap", cm_name, cm_ns)
                return [found] if found is not None else []

            got = attempt(f"ConfigMap {cm_ns}/{cm_name}", cm)
            configmaps[(cm_ns, cm_name)] = got[0] if got else None
    nads = attempt("NetworkAttachmentDefinitions",
                   lambda: kube.list(NAD_API_VERSION, NAD_KIND))
    pods = attempt("pods", lambda: per_namespace("Pod"))
    events: Objects = []
    for reason in (*SANDBOX_REASONS, FAILED_SCHEDULING):

        def by_reason(reason: str = reason) -> Objects:
            return per_namespace("Event", field_selector=f"reason={reason}")

        events += attempt(f"{reason} events", by_reason)
    snap = Snapshot(nodes, daemonsets, multus_pods, configmaps, nads, pods, events,
                    dt.datetime.now(dt.UTC), scope, unreadable,
                    whereabouts_daemonsets=whereabouts, device_plugins=device_plugins)
    _read_whereabouts(kube, snap, attempt)
    _read_host_local(kube, snap, [d for d in every_daemonset if is_node_plugin(d)], attempt)
    progress.done()
    return snap


def _daemonset_pods(kube: Kube, ds: dict[str, Any],
                    attempt: Callable[[str, Callable[[], Objects]], Objects]) -> Objects:
    """The pods of DaemonSet ``ds`` (by its selector's labels), read through ``attempt``."""
    ns = str(ds["metadata"]["namespace"])
    labels = ((ds.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return attempt(f"pods of DaemonSet {ns}/{ds['metadata']['name']}",
                   lambda: kube.list("v1", "Pod", namespace=ns, label_selector=selector))


def _metrics_port(ds: dict[str, Any]) -> int | None:
    """The port of the node plugin's metrics container (``netplumb-node metrics``), if the
    DaemonSet runs one."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in spec.get("containers") or []:
        if NODE_PLUGIN in str(c.get("image", "")) and (c.get("args") or [None])[0] == "metrics":
            for port in c.get("ports") or []:
                if port.get("name") == "metrics":
                    return int(port["containerPort"])
    return None


def is_node_plugin(ds: dict[str, Any]) -> bool:
    """A DaemonSet that runs netplumb's node plugin with its metrics daemon."""
    return _metrics_port(ds) is not None


def _read_host_local(kube: Kube, snap: Snapshot, plugins: list[dict[str, Any]],
                     attempt: Callable[[str, Callable[[], Objects]], Objects]) -> None:
    """Each node's host-local reservations, from the node plugin's pod on it (through the
    API server's pod proxy), and the pods of the nodes with reservations old enough to be
    judged."""
    if not plugins:
        return
    if snap.namespaces is not None and not host_local_networks(parse_nads(
            n for n in snap.nads if n["metadata"].get("namespace") in snap.namespaces)):
        return  # a scoped run judges only its NADs' host-local networks: it has none
    ready = {str(n["metadata"]["name"]) for n in snap.nodes if node_ready(n)}
    snap.host_local = {}
    for ds in plugins:
        ns, port = str(ds["metadata"]["namespace"]), _metrics_port(ds)
        for pod in _daemonset_pods(kube, ds, attempt):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if node not in ready or (pod.get("status") or {}).get("phase") != "Running":
                continue  # a node that is not Ready cannot answer (doctor names the node)
            path = f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}:{port}/proxy/host-local"

            def served(path: str = path) -> Objects:
                try:
                    return list(kube.request("GET", path) or [])
                except KubeError as exc:  # the proxy timed out: that node, not the cluster
                    if exc.status == 0:
                        raise KubeError(504, "GatewayTimeout", exc.message) from None
                    raise

            snap.host_local[node] = attempt(f"host-local reservations on node {node}", served)
    for node, networks in sorted(snap.host_local.items()):
        if any(float(r.get("ageSeconds") or 0) >= HOST_LOCAL_GRACE_S
               for n in networks for r in n.get("reservations") or []):

            def on_node(node: str = node) -> Objects:
                return kube.list("v1", "Pod", field_selector=f"spec.nodeName={node}")

            before = len(snap.unreadable)
            pods = attempt(f"pods on node {node}", on_node)
            if len(snap.unreadable) == before:
                snap.node_pods[node] = pods


def is_device_plugin(ds: dict[str, Any]) -> bool:
    """A DaemonSet that runs a device plugin (by name or image)."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    words = [str(ds["metadata"].get("name", ""))] + [
        str(c.get("image", "")) for c in spec.get("containers") or []]
    return any(w in text.lower() for text in words for w in ("device-plugin", "sriovdp"))


def _read_whereabouts(kube: Kube, snap: Snapshot,
                      attempt: Callable[[str, Callable[[], Objects]], Objects]) -> None:
    """whereabouts' objects (when the cluster serves them): IPPools and reservations of
    every namespace, the reconciler's ConfigMap; NodeSlicePools and the Deployments running
    the node-slice controller when a NAD sets ``node_slice_size``."""

    def served(kind: str) -> bool:
        try:
            return kube.resource(WHEREABOUTS_API, kind) is not None
        except KubeError as exc:
            if exc.status == 0:
                raise
            what = f"{WHEREABOUTS_API} ({exc.status} {exc.reason})"
            if what not in snap.unreadable:
                snap.unreadable.append(what)
            return False

    def read(kind: str) -> Objects | None:
        if not served(kind):
            return None
        before = len(snap.unreadable)
        got = attempt(f"{kind}s", lambda: kube.list(WHEREABOUTS_API, kind))
        return got if len(snap.unreadable) == before else None

    snap.ippools = read(IPPOOL)
    snap.reservations = read(RESERVATION) if snap.ippools is not None else None
    for ds in snap.whereabouts_daemonsets:
        for cm_ns, cm_name in mounted_configmap_names(ds):

            def cm(cm_ns: str = cm_ns, cm_name: str = cm_name) -> Objects:
                found = kube.get("v1", "ConfigMap", cm_name, cm_ns)
                return [found] if found is not None else []

            got = attempt(f"ConfigMap {cm_ns}/{cm_name}", cm)
            snap.whereabouts_configmaps[(cm_ns, cm_name)] = got[0] if got else None
    if not any(NODE_SLICE_KEY in str((n.get("spec") or {}).get("config") or "")
               for n in snap.nads):
        return
    # no NodeSlicePool CRD: no controller has made one either
    snap.node_slice_pools = read(NODE_SLICE_POOL) if served(NODE_SLICE_POOL) else []
    before = len(snap.unreadable)
    deployments = attempt("Deployments", lambda: kube.list("apps/v1", "Deployment"))
    if len(snap.unreadable) == before:
        snap.node_slice_controllers = [d for d in deployments
                                       if running_command(d, NODE_SLICE_CONTROLLER)]
