"""Fix-ups that change the plan: what netplumb adds itself, before anything registers.

- ``capabilities.ips`` on a network this program owns that a selection asks static
  addresses of (Multus passes ``ips`` to the plugin only then). Pinned capabilities without
  it are left alone and reported.
- Device resources: one per selection of a network whose NAD names a device-plugin resource
  (SR-IOV), in the container's requests and limits (extended resources need request ==
  limit).
- The networks annotation and device resources on a manifest of one's own (a Deployment,
  StatefulSet, DaemonSet or Pod written by hand).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..args.resources import ContainerResources, quantity_value
from ..cni.config import CniConfig
from ..cni.selection import NETWORKS_ANNOTATION, NetworkSelection, networks_annotation
from ..errors import Finding, PlanError
from ..planned import PlannedNetwork, Workload


def with_capability(net: PlannedNetwork, capability: str) -> CniConfig:
    """``net``'s config with ``capabilities.<capability>: true`` on its interface plugin.

    If the config already declares ``capabilities`` (the user pinned them) without this one,
    nothing is added: :class:`PlanError` says to add it, since a pinned set is taken as
    deliberate.
    """
    config = net.config
    data = copy.deepcopy(config.to_dict())
    plugin = data["plugins"][0] if config.is_list else data
    caps = plugin.get("capabilities")
    if caps is not None:
        if caps.get(capability) is True:
            return config
        raise PlanError.one(net.plugin_path(0, "capabilities"), caps,
                            f"capabilities are pinned without {capability}; add "
                            f"\"{capability}\": true (netplumb only adds it when capabilities "
                            "are not given)")
    fixed: dict[str, Any] = {}
    for k, v in plugin.items():
        if k == "ipam":
            fixed["capabilities"] = {capability: True}
        fixed[k] = v
    fixed.setdefault("capabilities", {capability: True})
    if config.is_list:
        data["plugins"][0] = fixed
        return CniConfig.from_dict(data)
    return CniConfig.from_dict(fixed)


def add_ips_capability(networks: Sequence[PlannedNetwork], workloads: Iterable[Workload]
                       ) -> tuple[list[PlannedNetwork], list[Finding]]:
    """Networks this program owns that are selected with ``ips`` get ``capabilities.ips``.

    Returns the networks (fixed ones replaced) and an error finding for each network whose
    pinned capabilities lack ``ips``. External networks are never changed.
    """
    wanted: set[str] = set()
    for w in workloads:
        for sel, key in zip(w.selections, w.keys, strict=True):
            if sel.ips:
                wanted.add(key)
    out: list[PlannedNetwork] = []
    findings: list[Finding] = []
    for net in networks:
        if net.external or net.key not in wanted:
            out.append(net)
            continue
        try:
            fixed = with_capability(net, "ips")
        except PlanError as exc:
            findings += exc.findings
            out.append(net)
            continue
        out.append(net if fixed is net.config else replace(net, config=fixed))
    return out, findings


def device_requests(selections: Iterable[NetworkSelection], namespace: str,
                    resource_of: Mapping[str, str]) -> dict[str, int]:
    """Device resources a pod needs: one per selection of a network whose NAD names a
    device-plugin resource (``resource_of``: ``ns/name`` → ``intel.com/sriov``)."""
    out: dict[str, int] = {}
    for sel in selections:
        res = resource_of.get(sel.key(namespace))
        if res:
            out[res] = out.get(res, 0) + 1
    return out


def with_device_resources(resources: Mapping[str, Any] | None, needs: Mapping[str, int], *,
                          where: str = "resources") -> dict[str, Any]:
    """A container's ``resources`` with each device resource in both requests and limits.

    Extended resources cannot be overcommitted: Kubernetes wants request == limit. A value
    the user set already is kept if it is at least what the selections need; a smaller one,
    or a request different from the limit, is a :class:`PlanError`.
    """
    out: dict[str, Any] = {k: dict(v) for k, v in (resources or {}).items()}
    requests: dict[str, Any] = out.setdefault("requests", {})
    limits: dict[str, Any] = out.setdefault("limits", {})
    findings: list[Finding] = []
    for res, n in needs.items():
        have_req, have_lim = requests.get(res), limits.get(res)
        given = [v for v in (have_req, have_lim) if v is not None]
        if not given:
            requests[res] = limits[res] = str(n)
            continue
        values = {quantity_value(str(v)) for v in given}
        if len(values) > 1:
            findings.append(Finding(f"{where}.limits.{res}", have_lim,
                                    f"request {have_req} differs from limit {have_lim}; "
                                    "extended resources need request == limit"))
            continue
        value = values.pop()
        if value < n:
            findings.append(Finding(f"{where}.requests.{res}", given[0],
                                    f"the pod's network selections need {n} {res}; expected "
                                    f"at least {n}"))
            continue
        requests[res] = limits[res] = str(given[0])
    if findings:
        raise PlanError(findings, context="device resources")
    return {k: v for k, v in out.items() if v}


def attach_networks(pod_template: Mapping[str, Any], selections: Sequence[NetworkSelection],
                    *, device_resources: Mapping[str, int] | None = None,
                    container: str | None = None) -> dict[str, Any]:
    """A copy of ``pod_template`` (``{metadata, spec}``) whose pods get ``selections``.

    The selections become the ``k8s.v1.cni.cncf.io/networks`` annotation; device
    resources (one per SR-IOV attachment, see
    :func:`device_requests`) are added to the requests and
    limits of ``container`` (default: the first). An annotation already in the template
    that differs is a :class:`PlanError`: two sources for one list.
    """
    out = copy.deepcopy(dict(pod_template))
    meta = out.setdefault("metadata", {})
    notes = dict(meta.get("annotations") or {})
    if selections:
        value = networks_annotation(list(selections))
        old = notes.get(NETWORKS_ANNOTATION)
        if old is not None and _decoded(old) != _decoded(value):
            raise PlanError.one(f"metadata.annotations.{NETWORKS_ANNOTATION}", old,
                                "the template already selects networks; give them as "
                                "selections only")
        notes[NETWORKS_ANNOTATION] = value
        meta["annotations"] = notes
    if device_resources:
        containers = (out.get("spec") or {}).get("containers") or []
        index = 0
        if container is not None:
            names = [c.get("name") for c in containers]
            if container not in names:
                raise PlanError.one("spec.containers", names,
                                    f"no container {container!r} for the device resources")
            index = names.index(container)
        if not containers:
            raise PlanError.one("spec.containers", [], "no container to give the device "
                                "resources of the SR-IOV networks to")
        target = containers[index]
        target["resources"] = with_device_resources(
            target.get("resources"), device_resources,
            where=f"spec.containers[{index}].resources")
    return out


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def attach_to_workload(manifest: Mapping[str, Any], selections: Sequence[NetworkSelection],
                       **kwargs: Any) -> dict[str, Any]:
    """:func:`attach_networks` on a Deployment, StatefulSet, DaemonSet (their
    ``spec.template``) or a bare Pod."""
    if manifest.get("kind") == "Pod":
        return attach_networks(manifest, selections, **kwargs)
    out = dict(manifest)
    spec = dict(out.get("spec") or {})
    if "template" not in spec:
        raise PlanError.one("spec.template", None, f"a {manifest.get('kind')} without a pod "
                            "template; expected a Deployment, StatefulSet, DaemonSet or Pod")
    spec["template"] = attach_networks(spec["template"], selections, **kwargs)
    out["spec"] = spec
    return out


def container_resources(resources: ContainerResources, needs: Mapping[str, int], *,
                        where: str = "resources") -> dict[str, Any]:
    """A container's requests and limits: ``resources``, with the device resources its
    network selections need (:func:`with_device_resources`)."""
    if not needs:
        return resources.to_dict()
    return with_device_resources(resources.to_dict(), needs, where=where)
