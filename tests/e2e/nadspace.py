"""A namespace for e2e tests that create NADs and pods directly (not through a stack).

:func:`nad_namespace` creates the NAD CRD when the cluster lacks it (netplumb's own, from
``render.nad.nad_crd``) and the namespace; on the way out, also after a failure, it deletes
the namespace (and waits until its pods are gone), the CRD if it made it, the underlay links
the test names and the host-local directories of the NADs it created, once they are idle.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import podnet, underlay
from harness.pytest_fixtures import ClusterHandle
from netplumb.cni.config import CniConfig
from netplumb.render.nad import NAD_GROUP, NAD_PLURAL, NAD_VERSION, nad, nad_crd


@dataclass
class NadSpace:
    core: Any
    """``kubernetes.client.CoreV1Api``."""
    dyn: Any
    """``kubernetes.dynamic.DynamicClient``."""
    namespace: str
    ipam_dirs: list[Path] = field(default_factory=list)

    def create_nad(self, name: str, config: CniConfig) -> None:
        """Create a NAD (retrying while a just-created CRD is not served yet)."""
        self.ipam_dirs += podnet.host_local_dirs(json.loads(config.to_json()))
        deadline = time.monotonic() + 30
        while True:
            try:
                self.dyn.resources.invalidate_cache()
                nads = self.dyn.resources.get(api_version=f"{NAD_GROUP}/{NAD_VERSION}",
                                              kind="NetworkAttachmentDefinition")
                nads.create(body=nad(name, self.namespace, config), namespace=self.namespace)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@contextlib.contextmanager
def nad_namespace(cluster: ClusterHandle, namespace: str,
                  links: Sequence[str] = ()) -> Iterator[NadSpace]:
    from kubernetes import client, dynamic

    api = cluster.api_client()
    core: Any = client.CoreV1Api(api)
    dyn: Any = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1",
                             kind="CustomResourceDefinition")
    made_crd = False
    try:
        crds.create(body=nad_crd())
        made_crd = True
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    space = NadSpace(core, dyn, namespace)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
        yield space
    finally:
        with contextlib.suppress(client.exceptions.ApiException):
            core.delete_namespace(namespace)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                core.read_namespace(namespace)
                time.sleep(0.5)
            except client.exceptions.ApiException:
                break
        if made_crd:
            crds.delete(name=f"{NAD_PLURAL}.{NAD_GROUP}")
        underlay.remove_underlay(links)
        podnet.remove_idle_ipam_dirs(space.ipam_dirs)
