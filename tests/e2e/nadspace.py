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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import cni, underlay
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
    core: Any
    """``kubernetes.client.CoreV1Api``."""
    custom: Any
    """``kubernetes.client.CustomObjectsApi``."""
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
        self.custom.create_namespaced_custom_object(
            NAD_GROUP, NAD_VERSION, self.namespace, NAD_PLURAL,
            nad(name, self.namespace, config))

    def create_pod(self, name: str, selections: list[dict[str, Any]] | None = None,
                   **spec: Any) -> Any:
        return self.core.create_namespaced_pod(self.namespace, pod_body(name, selections,
                                                                        **spec))


@contextlib.contextmanager
def nad_namespace(network: NetworkHandle, namespace: str) -> Iterator[NadSpace]:
    from kubernetes import client

    api = network.node.cluster.api_client()
    core: Any = client.CoreV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    space = NadSpace(core, custom, namespace, network.node)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # pods need the namespace's default ServiceAccount
            try:
                core.read_namespaced_service_account("default", namespace)
                break
            except client.exceptions.ApiException:
                time.sleep(0.2)
        yield space
    finally:
        with contextlib.suppress(client.exceptions.ApiException):
            core.delete_namespace(namespace)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                core.read_namespace(namespace)
                time.sleep(0.5)
            except client.exceptions.ApiException:
                break
        network.node.remove_underlay(space.made_links)
        cni.remove_idle_ipam_dirs(space.ipam_dirs)
