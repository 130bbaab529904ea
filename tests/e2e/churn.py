"""Pod create/delete cycles on the real nodes and what they may leave behind on each node
(shared by the churn test and the fault tests)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import cni, underlay
from harness.cluster.api import Api, wait_for
from harness.node import Node, cri
from harness.pytest_fixtures import NodeHandle
from tests.e2e.nadspace import pod_body

STEP_TIMEOUT_S = 120.0
POLL_S = 0.25
"""How often a lane reads its pod. Every 50 ms, eight lanes made about 150 reads a second,
which cost the apiserver and etcd a fifth of the machine during a churn (200 cycles: the
apiserver's CPU 50 s, at 0.25 s 28 s); a quarter second adds about that much to a cycle's
measured life, whose median is seconds."""
GC_TIMEOUT_S = 150.0
"""How long the kubelets may take to remove stopped sandboxes: their garbage collection runs
every minute, and removes each sandbox in turn."""
MULTUS_CACHE = Path("/var/lib/cni/multus")
"""Multus' cache, as the node sees it (each node has its own: ``Node.path``)."""
FLANNEL_IPAM = cni.HOST_LOCAL_DIR / "cbr0"
"""The reservations of Flannel's host-local range, as the node sees them (one per node)."""


@dataclass(frozen=True)
class Cycle:
    started: float
    """Monotonic time the pod was created."""
    seconds: float
    uid: str
    attached: bool
    """Multus attached the secondary network (False: the pod ran with its cluster network
    only, which only ``cycle(..., require_attach=False)`` accepts)."""
    node: str = ""
    """The node the pod ran on."""


def cycle(api: Api, namespace: str, name: str, network: str,
          timeout: float = STEP_TIMEOUT_S, *, require_attach: bool = True,
          node: str | None = None) -> Cycle:
    """One pod's life: created selecting ``network`` as net1 (pinned to ``node`` if given),
    Running with Multus' network-status, deleted, gone from the apiserver.

    With ``require_attach=False`` a pod Running for 20 s without a network-status annotation
    (sandboxed while the node had no Multus config: only the cluster network) is accepted
    and reported as not attached."""
    t0 = time.monotonic()
    spec: dict[str, Any] = {}
    if node is not None:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    path = f"/api/v1/namespaces/{namespace}/pods"
    pod = api.request("POST", path, pod_body(name, [{"name": network, "interface": "net1"}],
                                             **spec))
    uid = pod["metadata"]["uid"]
    path += f"/{name}"
    deadline = time.monotonic() + timeout
    running_since: float | None = None
    attached = True
    while True:
        pod = api.get(path)
        phase = (pod.get("status") or {}).get("phase")
        status = (pod["metadata"].get("annotations") or {}).get(
            "k8s.v1.cni.cncf.io/network-status")
        if phase == "Running" and status:
            found = {s.get("interface"): s for s in json.loads(status)}
            assert found["net1"]["name"] == f"{namespace}/{network}", found
            assert found["net1"]["ips"], found
            assert found["eth0"]["default"] is True, found
            break
        if phase == "Running" and not require_attach:
            running_since = running_since or time.monotonic()
            if time.monotonic() - running_since > 20:
                attached = False
                break
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not Running with network-status in "
                                 f"{timeout:.0f}s: phase {phase}")
        time.sleep(POLL_S)
    ran_on = str(pod["spec"].get("nodeName") or "")
    if node is not None:
        assert ran_on == node, (name, ran_on, node)
    api.request("DELETE", path)
    wait_for(f"{namespace}/{name} finalised", lambda: api.get_or_none(path) is None, timeout,
             interval=POLL_S)
    return Cycle(t0, time.monotonic() - t0, uid, attached, ran_on)


def _listing(d: Path) -> set[str]:
    """The files under ``d``, relative to it (a cache's entries; its subdirectories, such as
    libcni's ``results``, which appears with the first cached result, are not entries, the
    files in them are)."""
    return {str(p.relative_to(d)) for p in d.rglob("*") if not p.is_dir()} if d.is_dir() \
        else set()


def _netns(node: Node) -> set[str]:
    """The node's named network namespaces (``ip netns list`` inside it: ``/run/netns``)."""
    d = node.path(cni.NETNS_DIR)
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def _veths(node: Node) -> set[str]:
    return {n for n in underlay.host_links(node.ns) if n.startswith("veth")}


def entry(node: Node | str, item: str) -> str:
    """How :class:`NodeState` names ``item`` of ``node``: ``worker-1:<item>``."""
    return f"{node if isinstance(node, str) else node.name}:{item}"


def split(named: str) -> tuple[str, str]:
    """(node name, item) of an :func:`entry`."""
    node, _, item = named.partition(":")
    return node, item


def file_of(nodes: NodeHandle, base: Path, named: str) -> Path:
    """The host path of an :func:`entry` under ``base`` (a path as the node sees it, such as
    :data:`FLANNEL_IPAM` or :data:`MULTUS_CACHE`): where to remove a leaked file."""
    node, item = split(named)
    return nodes.by_name(node).path(base) / item


@dataclass
class _Others:
    """What belongs to the pods of other namespaces on one node (other tests', or other
    sessions' on a shared cluster): their sandbox IDs, network namespaces and veths."""

    ids: set[str]
    netns: set[str]
    veths: set[str]

    @classmethod
    def of(cls, node: Node, namespace: str) -> _Others:
        others = cls(set(), set(), set())
        for sb in cri.sandboxes(node.ns):
            if sb.namespace == namespace:
                continue
            others.ids.add(sb.id)
            if not sb.host_network:
                with contextlib.suppress(cri.CriError):
                    path = cri.netns_path(node.ns, sb.id)
                    if path:
                        others.netns.add(Path(path).name)
        listed = json.loads(node.run(["ip", "-j", "netns", "list"]).stdout or "[]")
        by_id = {int(x["id"]): str(x["name"]) for x in listed if "id" in x}
        for name, link in underlay.host_links(node.ns).items():
            nsid = link.get("link_netnsid")
            if name.startswith("veth") and nsid is not None and by_id.get(int(nsid)) in \
                    others.netns:
                others.veths.add(name)
        return others


_SANDBOX_ID = re.compile(r"[0-9a-f]{64}")


def _owner(reservation: Path) -> str:
    """The container (sandbox) ID a host-local reservation file names (its first line)."""
    try:
        return reservation.read_text().split()[0]
    except (OSError, IndexError):
        return ""


@dataclass
class NodeState:
    """What pods leave on the nodes: network namespaces, veths, Multus cache entries and the
    reservations of Flannel's host-local range, of every node. Each item is named after its
    node (:func:`entry`, ``worker-2:cni-…``), so the sets cover all nodes and a leak on any
    node shows, with where it is."""

    nodes: list[Node]
    netns: set[str]
    veths: set[str]
    multus_cache: set[str]
    flannel_ipam: set[str]

    @classmethod
    def now(cls, nodes: NodeHandle | list[Node]) -> NodeState:
        members = nodes.nodes if isinstance(nodes, NodeHandle) else list(nodes)
        state = cls(members, set(), set(), set(), set())
        for n in members:
            state.netns |= {entry(n, x) for x in _netns(n)}
            state.veths |= {entry(n, x) for x in _veths(n)}
            state.multus_cache |= {entry(n, x) for x in _listing(n.path(MULTUS_CACHE))}
            state.flannel_ipam |= {entry(n, x) for x in cni.reservations(n.path(FLANNEL_IPAM))}
        return state

    def leaks(self, namespace: str, ipam_dirs: list[Path], timeout: float = GC_TIMEOUT_S, *,
              sandboxes: bool = True) -> dict[str, Any]:
        """What is left beyond this state, on any node, once the pods of ``namespace`` are
        gone: waits up to ``timeout`` for the kubelets' garbage collection of stopped
        sandboxes (every minute), then reports anything left, by kind (empty: nothing
        leaked). ``ipam_dirs`` are host paths (each node's own directories).

        With ``sandboxes=False`` it does not wait, and the stopped sandboxes' records are not
        counted: a pod leaves the apiserver only once the kubelet has stopped its sandbox,
        and stopping it is the runtime's CNI DEL and the removal of its network namespace,
        so everything else must be gone already. The records go with the kubelets' next
        garbage collection: :func:`sandboxes_left` checks them, later in the session.

        Pods of other namespaces may come and go on the nodes meanwhile (other tests, other
        sessions on a shared cluster): what belongs to one of their sandboxes is not counted,
        and what is found is looked at again a few seconds later, so that only what stays
        counts (a pod being set up or torn down at that moment is not a leak)."""
        if sandboxes:
            sandboxes_left(self.nodes, namespace, timeout)
        found = self._left(namespace, ipam_dirs, sandboxes)
        for _ in range(3):
            if not found:
                break
            time.sleep(3)
            found = _common(found, self._left(namespace, ipam_dirs, sandboxes))
        return found

    def _left(self, namespace: str, ipam_dirs: list[Path],
              sandboxes: bool = True) -> dict[str, Any]:
        others = {n.name: _Others.of(n, namespace) for n in self.nodes}
        ids = {i for o in others.values() for i in o.ids}
        now = NodeState.now(self.nodes)

        def mine(items: set[str], theirs: Callable[[_Others, Node, str], bool]) -> list[str]:
            out = []
            for named in sorted(items):
                node, item = split(named)
                if not theirs(others[node], self._node(node), item):
                    out.append(named)
            return out

        found: dict[str, Any] = {
            "sandboxes": sandboxes_of(self.nodes, namespace) if sandboxes else [],
            "netns": mine(now.netns - self.netns, lambda o, _n, x: x in o.netns),
            "veths": mine(now.veths - self.veths, lambda o, _n, x: x in o.veths),
            "multus cache": mine(
                now.multus_cache - self.multus_cache,
                lambda o, _n, x: bool((m := _SANDBOX_ID.search(x)) and m.group(0) in o.ids)),
            "flannel reservations": mine(
                now.flannel_ipam - self.flannel_ipam,
                lambda o, n, x: _owner(n.path(FLANNEL_IPAM) / x) in o.ids),
            "NAD reservations": {str(d): left for d in ipam_dirs
                                 if (left := sorted(x for x in cni.reservations(d)
                                                    if _owner(d / x) not in ids))},
        }
        return {k: v for k, v in found.items() if v}

    def _node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def sandboxes_of(nodes: NodeHandle | list[Node], namespace: str) -> list[tuple[str, str]]:
    """The sandboxes of ``namespace``'s pods on every node: (node:pod, state)."""
    members = nodes.nodes if isinstance(nodes, NodeHandle) else list(nodes)
    return [(entry(n, s.name), s.state) for n in members
            for s in cri.sandboxes(n.ns, namespace=namespace)]


def sandboxes_left(nodes: NodeHandle | list[Node], namespace: str,
                   timeout: float = GC_TIMEOUT_S) -> list[tuple[str, str]]:
    """The sandboxes of ``namespace``'s pods still on any node (node:pod, state) after
    waiting up to ``timeout`` for the kubelets' garbage collection to remove them (empty:
    all removed)."""
    with contextlib.suppress(TimeoutError):
        wait_for(f"the kubelets to remove the sandboxes of {namespace}",
                 lambda: not sandboxes_of(nodes, namespace), timeout, interval=2)
    return sandboxes_of(nodes, namespace)


def _common(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The leaks found both times."""
    out: dict[str, Any] = {}
    for kind, items in first.items():
        again = second.get(kind)
        if again is None:
            continue
        if isinstance(items, dict):
            both = {d: [x for x in xs if x in again.get(d, [])] for d, xs in items.items()}
            kept: Any = {d: xs for d, xs in both.items() if xs}
        else:
            kept = [x for x in items if x in again]
        if kept:
            out[kind] = kept
    return out
