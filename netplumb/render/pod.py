"""Pod manifests carrying the networks annotation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..args.pod import PodArgs
from ..cni.selection import NETWORKS_ANNOTATION, NetworkSelection, networks_annotation
from .manifests import manifest, metadata


def pod_annotations(annotations: Mapping[str, str], selections: Sequence[NetworkSelection]
                    ) -> dict[str, str]:
    """A pod's annotations with its network selections as the networks annotation."""
    out = dict(annotations)
    if selections:
        out[NETWORKS_ANNOTATION] = networks_annotation(list(selections))
    return out


def pod(name: str, args: PodArgs, resources: Mapping[str, Any] | None = None
        ) -> dict[str, Any]:
    """The bare pod of ``args``; ``resources``: its container's requests and limits when the
    plan added device resources to ``args.resources``."""
    notes = pod_annotations(args.annotations, args.networks)
    container: dict[str, Any] = {"name": "main", "image": args.image, "command": args.command}
    if args.args:
        container["args"] = args.args
    res = dict(resources) if resources is not None else args.resources.to_dict()
    if res:
        container["resources"] = res
    meta = metadata(name, args.namespace, labels={"app": name, **args.labels},
                    annotations=notes)
    spec: dict[str, Any] = {"containers": [container],
                            "terminationGracePeriodSeconds": args.termination_grace_period_seconds}
    if args.node_selector:
        spec["nodeSelector"] = args.node_selector
    return manifest("v1", "Pod", meta, spec=spec)
