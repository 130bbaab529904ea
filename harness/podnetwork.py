"""The nodes' pod network as a stack installs it: Flannel (default network) and Multus thick.

Helpers for ``make run``, the tests and the benchmarks: the underlay links a stack's NADs
name (made on every node before ``pulumi up``), and whether the installed network is up:
both DaemonSets ready on every node, every Node Ready, Multus' generated config on each node
delegating to Flannel.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import underlay
from harness.cluster.api import Api, node_ready
from harness.nodens import NodeNs, NsError
from netplumb.args.stack import load_stack_file
from netplumb.hostpaths import CNI_CONF_DIR
from netplumb.plan import build_plan, render_plan
from netplumb.render import flannel
from netplumb.waiting import wait_for

FLANNEL_DS = ("kube-flannel", "kube-flannel-ds")
MULTUS_DS = ("kube-system", "kube-multus-ds")
MULTUS_CONF = Path(CNI_CONF_DIR) / "00-multus.conf"
FLANNEL_CONF = Path(flannel.CNI_CONF_FILE)


def stack_links(stack_file: Path) -> list[underlay.Link]:
    """The ``np-`` underlay links the NADs of a stack file name (macvlan masters, bridges)."""
    objects = render_plan(build_plan(load_stack_file(stack_file)))
    links: list[underlay.Link] = []
    for obj in objects:
        if obj.get("kind") == "NetworkAttachmentDefinition":
            links += underlay.links_for_nad(obj["spec"]["config"])
    return links


def _ds_ready(api: Api, namespace: str, name: str) -> tuple[bool, str]:
    ds = api.get_or_none(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
    if ds is None:
        return False, f"DaemonSet {namespace}/{name} missing"
    st = ds.get("status") or {}
    want = st.get("desiredNumberScheduled", 0)
    ready = st.get("numberReady", 0)
    fresh = st.get("updatedNumberScheduled", 0)
    ok = want >= 1 and ready == want and fresh == want and (
        st.get("observedGeneration") == ds["metadata"].get("generation"))
    return ok, f"DaemonSet {namespace}/{name}: {ready}/{want} ready"


@dataclass
class NetworkState:
    """Is the node's pod network installed and working (what is missing if not)."""

    problems: list[str] = field(default_factory=list)
    multus_conf: dict[str, Any] | None = None
    """Multus' config on the first node (every node's was read)."""

    @property
    def ready(self) -> bool:
        return not self.problems


def network_state(api: Api) -> NetworkState:
    state = NetworkState()
    for ns, name in (FLANNEL_DS, MULTUS_DS):
        ok, what = _ds_ready(api, ns, name)
        if not ok:
            state.problems.append(what)
    found = api.get("/api/v1/nodes").get("items") or []
    if not found:
        state.problems.append("no node registered")
    for node in found:
        name = str(node["metadata"]["name"])
        if not node_ready(node):
            state.problems.append(f"node {name} not Ready")
        try:
            text = NodeNs(name).run(["cat", str(MULTUS_CONF)]).stdout
            conf = json.loads(text)
        except (NsError, OSError, ValueError):
            state.problems.append(f"{name}: {MULTUS_CONF} missing (Multus has not written its "
                                  "config)")
            continue
        if state.multus_conf is None:
            state.multus_conf = conf
    return state


class NotReady(Exception):
    """The pod network is not ready yet (the message: its problems)."""


def wait_ready(api: Api, timeout: float = 180.0,
               error: Callable[[str], BaseException] = TimeoutError) -> NetworkState:
    """The network's state once it is ready, asked every second; after ``timeout`` seconds
    ``error`` naming the problems it last had. An API error ends the wait at once."""

    def ready() -> NetworkState:
        state = network_state(api)
        if not state.ready:
            raise NotReady("; ".join(state.problems))
        return state

    return wait_for("the nodes' pod network to be ready", ready, timeout, 1.0,
                    retry=(NotReady,), error=error)


def installed(api: Api) -> bool:
    """A stack has installed the node's network (whether or not it is ready yet)."""
    return all(api.get_or_none(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}") is not None
               for ns, name in (FLANNEL_DS, MULTUS_DS))
