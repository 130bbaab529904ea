"""Pod manifests carrying the networks annotation."""

from __future__ import annotations

from typing import Any

from ..spec.selection import NETWORKS_ANNOTATION, networks_annotation
from ..spec.workloads import PodArgs
from .nad import MANAGED_BY


def pod(name: str, args: PodArgs) -> dict[str, Any]:
    notes = dict(args.annotations)
    if args.networks:
        notes[NETWORKS_ANNOTATION] = networks_annotation(args.networks)
    container: dict[str, Any] = {"name": "main", "image": args.image, "command": args.command}
    if args.args:
        container["args"] = args.args
    res = args.resources.to_dict()
    if res:
        container["resources"] = res
    meta: dict[str, Any] = {"name": name, "namespace": args.namespace,
                            "labels": {**MANAGED_BY, "app": name, **args.labels}}
    if notes:
        meta["annotations"] = notes
    spec: dict[str, Any] = {"containers": [container],
                            "terminationGracePeriodSeconds": args.termination_grace_period_seconds}
    if args.node_selector:
        spec["nodeSelector"] = args.node_selector
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
