"""A namespace for e2e tests that create NADs and pods directly (not through a stack).

:func:`nad_namespace` needs the nodes' pod network (the NAD CRD comes with Multus) and creates
the namespace; :meth:`NadSpace.create_nad` makes the underlay links a NAD names (bridges,
macvlan masters, host devices) on every node, joined across them, before creating it. On the
way out, also after a failure, it deletes the namespace (and waits until its pods are gone,
so their CNI DELs have run), the links it made, and the host-local directories of its NADs on
each node once they are idle.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import cni, underlay
from harness.cluster.api import Api, ApiError, wait_for
from harness.node.images import TOOLBOX_IMAGE
from harness.pytest_fixtures import NetworkHandle, NodeHandle
from netplumb.cni.config import CniConfig
from netplumb.cni.selection import NETWORKS_ANNOTATION
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION, nad

NADS = f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{{ns}}/{NAD_PLURAL}"


def pod_body(name: str, selections: list[dict[str, Any]] | None = None,
             **spec: Any) -> dict[str, Any]:
    """A toolbox pod (``sleep`` until deleted, no grace period) selecting ``selections``."""
    meta: dict[str, Any] = {"name": name, "labels": {"app": name}}
    if selections:
        meta["annotations"] = {NETWORKS_ANNOTATION: json.dumps(selections)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "main", "image": TOOLBOX_IMAGE,
                                     "command": ["sleep", "86400"]}],
                     "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False,
                     **spec}}


@dataclass
class NadSpace:
    api: Api
    namespace: str
    nodes: NodeHandle
    ipam_dirs: list[Path] = field(default_factory=list)
    """host-local directories of the NADs, on every node (host paths)."""
    made_links: list[str] = field(default_factory=list)

    def create_nad(self, name: str, config: CniConfig) -> None:
        """The NAD, after the links it names on every node (only those missing are made)."""
        conf = json.loads(config.to_json())
        self.made_links += self.nodes.ensure_underlay(underlay.links_for_nad(conf))
        self.ipam_dirs += [n.path(d) for d in cni.host_local_dirs(conf)
                           for n in self.nodes.nodes]
        self.api.request("POST", NADS.format(ns=self.namespace),
                         nad(name, self.namespace, config))

    def create_pod(self, name: str, selections: list[dict[str, Any]] | None = None,
                   **spec: Any) -> dict[str, Any]:
        """The created pod (a :func:`pod_body`)."""
        return self.add_pod(pod_body(name, selections, **spec))

    def add_pod(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the pod ``body`` in the namespace (one of that name already there fails)."""
        out: dict[str, Any] = self.api.request("POST", self.pod_path(), body)
        return out

    def pod_path(self, name: str = "") -> str:
        """The API path of the namespace's pods (of pod ``name``)."""
        return f"/api/v1/namespaces/{self.namespace}/pods" + (f"/{name}" if name else "")

    def pod(self, name: str) -> dict[str, Any]:
        """The pod ``name`` as the apiserver has it (``ApiError`` 404 when there is none)."""
        out: dict[str, Any] = self.api.get(self.pod_path(name))
        return out

    def events(self, **query: str) -> list[dict[str, Any]]:
        """The namespace's events (``query``: ``fieldSelector`` and the like)."""
        out: list[dict[str, Any]] = self.api.get(
            f"/api/v1/namespaces/{self.namespace}/events", query)["items"]
        return out


@contextlib.contextmanager
def nad_namespace(network: NetworkHandle, namespace: str) -> Iterator[NadSpace]:
    api = network.node.cluster.api()
    space = NadSpace(api, namespace, network.node)
    path = f"/api/v1/namespaces/{namespace}"
    try:
        api.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        # pods need the namespace's default ServiceAccount
        with contextlib.suppress(TimeoutError):
            wait_for(f"the default ServiceAccount of {namespace}",
                     lambda: api.get(f"{path}/serviceaccounts/default"), timeout=30)
        yield space
    finally:
        with contextlib.suppress(ApiError):
            api.delete(path)
        with contextlib.suppress(TimeoutError):
            wait_for(f"namespace {namespace} gone", lambda: api.get_or_none(path) is None,
                     timeout=180, interval=0.5)
        network.node.remove_underlay(space.made_links)
        cni.remove_idle_ipam_dirs(space.ipam_dirs)
