"""Multi-homed workloads: a Deployment, StatefulSet or DaemonSet whose pod template carries
the networks annotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..args.workload import WorkloadArgs
from .manifests import MANAGED_BY, manifest, metadata
from .pod import pod_annotations


def workload(name: str, args: WorkloadArgs, resources: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """The Deployment, StatefulSet or DaemonSet of ``args`` with its networks; ``resources``:
    its container's requests and limits when the plan added device resources to
    ``args.resources``."""
    labels = {**MANAGED_BY, "app": name, **args.labels}
    container: dict[str, Any] = {"name": args.container_name, "image": args.image}
    if args.command:
        container["command"] = list(args.command)
    if args.args:
        container["args"] = list(args.args)
    if args.ports:
        container["ports"] = [p.to_dict() for p in args.ports]
    res = dict(resources) if resources is not None else args.resources.to_dict()
    if res:
        container["resources"] = res
    pod_spec: dict[str, Any] = {"containers": [container],
                                "terminationGracePeriodSeconds":
                                    args.termination_grace_period_seconds}
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    template_meta: dict[str, Any] = {"labels": labels}
    notes = pod_annotations(args.annotations, args.networks)
    if notes:
        template_meta["annotations"] = notes
    template = {"metadata": template_meta, "spec": pod_spec}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if args.kind != "DaemonSet":
        spec["replicas"] = args.replicas
    if args.kind == "StatefulSet":
        spec["serviceName"] = name
    spec["template"] = template
    return manifest("apps/v1", args.kind, metadata(name, args.namespace, labels={"app": name}),
                    spec=spec)
