"""The images a stack's manifests run, and the same manifests pulling from a mirror.

Clusters that run Multus (telco, edge) are often air-gapped: they pull from a registry of
their own. :func:`images` lists every image reference of the rendered objects (containers,
init containers and ephemeral containers of pods and of every pod template), each spelled
out in full (``busybox:1.36`` is ``docker.io/library/busybox:1.36``, as the container runtime
reads it). :func:`mirrored` maps a reference under a mirror prefix, keeping its repository
path, tag and digest (``ghcr.io/flannel-io/flannel:v0.28.10`` under
``registry.example.com/netplumb`` is ``registry.example.com/netplumb/flannel-io/flannel:
v0.28.10``): the layout ``crane copy``, ``skopeo copy`` or ``oras cp`` give when each image
is copied to ``<mirror>/<repository path>``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..args.images import MIRROR

DEFAULT_REGISTRY = "docker.io"
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
__all__ = ["MIRROR", "full_reference", "images", "mirrored", "with_mirror"]


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The pod specs of a manifest: a Pod's own, a workload's template (CronJob: its job's)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if obj.get("kind") == "Pod":
        yield spec
        return
    template = spec.get("template")
    if obj.get("kind") == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        yield template["spec"]


def _containers(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for pod in _pod_specs(obj):
        for key in _CONTAINER_LISTS:
            for c in pod.get(key) or []:
                if isinstance(c, dict) and isinstance(c.get("image"), str):
                    yield c


def full_reference(ref: str) -> str:
    """``ref`` with its registry (and Docker Hub's ``library/``) spelled out."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, ref
    if registry in (DEFAULT_REGISTRY, "index.docker.io"):
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    return f"{registry}/{path}"


def mirrored(ref: str, mirror: str) -> str:
    """``ref`` pulled from ``mirror``: the mirror prefix, then the repository path."""
    _, _, path = full_reference(ref).partition("/")
    return f"{mirror.rstrip('/')}/{path}"


def images(manifests: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every image the manifests run, spelled out in full, sorted, each once."""
    return sorted({full_reference(c["image"]) for m in manifests for c in _containers(m)})


def with_mirror(manifest: Mapping[str, Any], mirror: str | None) -> dict[str, Any]:
    """A copy of ``manifest`` whose containers pull from ``mirror`` (``None``: unchanged)."""
    out = copy.deepcopy(dict(manifest))
    if mirror:
        for c in _containers(out):
            c["image"] = mirrored(c["image"], mirror)
    return out
