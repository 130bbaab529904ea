"""Pod create/delete cycles on the real node and what they may leave behind (shared by the
churn test and the fault tests)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import cni, underlay
from harness.node import cri
from tests.e2e.nadspace import pod_body

STEP_TIMEOUT_S = 120.0
MULTUS_CACHE = Path("/var/lib/cni/multus")
FLANNEL_IPAM = cni.HOST_LOCAL_DIR / "cbr0"


@dataclass(frozen=True)
class Cycle:
    started: float
    """Monotonic time the pod was created."""
    seconds: float
    uid: str
    attached: bool
    """Multus attached the secondary network (False: the pod ran with its cluster network
    only, which only ``cycle(..., require_attach=False)`` accepts)."""


def cycle(core: Any, namespace: str, name: str, network: str,
          timeout: float = STEP_TIMEOUT_S, *, require_attach: bool = True) -> Cycle:
    """One pod's life: created selecting ``network`` as net1, Running with Multus'
    network-status, deleted, gone from the apiserver.

    With ``require_attach=False`` a pod Running for 20 s without a network-status annotation
    (sandboxed while the node had no Multus config: only the cluster network) is accepted
    and reported as not attached."""
    from kubernetes import client

    t0 = time.monotonic()
    pod = core.create_namespaced_pod(namespace, pod_body(name, [{"name": network,
                                                                 "interface": "net1"}]))
    uid = pod.metadata.uid
    deadline = time.monotonic() + timeout
    running_since: float | None = None
    attached = True
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        status = (pod.metadata.annotations or {}).get("k8s.v1.cni.cncf.io/network-status")
        if pod.status.phase == "Running" and status:
            found = {s.get("interface"): s for s in json.loads(status)}
            assert found["net1"]["name"] == f"{namespace}/{network}", found
            assert found["net1"]["ips"], found
            assert found["eth0"]["default"] is True, found
            break
        if pod.status.phase == "Running" and not require_attach:
            running_since = running_since or time.monotonic()
            if time.monotonic() - running_since > 20:
                attached = False
                break
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not Running with network-status in "
                                 f"{timeout:.0f}s: phase {pod.status.phase}")
        time.sleep(0.05)
    core.delete_namespaced_pod(name, namespace)
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_pod(name, namespace)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                break
            raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not finalised in {timeout:.0f}s")
        time.sleep(0.05)
    return Cycle(t0, time.monotonic() - t0, uid, attached)


def _veths() -> set[str]:
    return {n for n in underlay.host_links() if n.startswith("veth")}


def _listing(d: Path) -> set[str]:
    """The files under ``d``, relative to it (a cache's entries; its subdirectories, such as
    libcni's ``results``, which appears with the first cached result, are not entries, the
    files in them are)."""
    return {str(p.relative_to(d)) for p in d.rglob("*") if not p.is_dir()} if d.is_dir() \
        else set()


@dataclass
class NodeState:
    """What pods leave on the node: network namespaces, host veths, Multus cache entries and
    the reservations of Flannel's host-local range."""

    netns: set[str]
    veths: set[str]
    multus_cache: set[str]
    flannel_ipam: set[str]

    @classmethod
    def now(cls) -> NodeState:
        return cls(set(underlay.netns_names()), _veths(), _listing(MULTUS_CACHE),
                   cni.reservations(FLANNEL_IPAM))

    def leaks(self, namespace: str, ipam_dirs: list[Path],
              timeout: float = 150.0) -> dict[str, Any]:
        """What is left beyond this state once the pods of ``namespace`` are gone: waits up
        to ``timeout`` for the kubelet's garbage collection of stopped sandboxes (every
        minute), then reports anything left, by kind (empty: nothing leaked)."""
        deadline = time.monotonic() + timeout
        while cri.sandboxes(namespace=namespace) and time.monotonic() < deadline:
            time.sleep(2)
        now = NodeState.now()
        found: dict[str, Any] = {
            "sandboxes": [(s.name, s.state) for s in cri.sandboxes(namespace=namespace)],
            "netns": sorted(now.netns - self.netns),
            "veths": sorted(now.veths - self.veths),
            "multus cache": sorted(now.multus_cache - self.multus_cache),
            "flannel reservations": sorted(now.flannel_ipam - self.flannel_ipam),
            "NAD reservations": {str(d): sorted(cni.reservations(d)) for d in ipam_dirs
                                 if cni.reservations(d)},
        }
        return {k: v for k, v in found.items() if v}
