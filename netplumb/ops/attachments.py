"""What the plan asks of each pod's attachments, and how a live pod compares (pure).

Multus reports what it attached in the pod annotation ``k8s.v1.cni.cncf.io/network-status``:
per attachment the network (``namespace/name``), the interface, its addresses, MAC and MTU,
and the gateways of the default routes *the plugin's result* carried. This module compares
that report with the plan:

* the interface the selection names (Multus calls unnamed ones ``net1``, ``net2``, … in
  annotation order) is attached, from the right network;
* requested ``ips`` are there; otherwise, where the network's IPAM hands out addresses, the
  pod has at least one and each lies in the network's pools;
* a requested ``mac`` is the interface's MAC; the MTU is the network's ``mtu`` when it sets one;
* a requested ``default-route`` gateway lies in the network's subnets and, where Multus reports
  gateways for the attachment, is one of them. Multus v4 writes network-status from the
  plugin's result *before* it moves the default route, so the route itself is not visible
  through the API: the probe pods (:mod:`.probes`) check it from inside a pod.

Pods are found by name (bare pods) or by the workload's ``app`` label (Deployments,
StatefulSets, DaemonSets); a StatefulSet or Deployment with fewer pods than replicas is named.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cni.config import CniConfig
from ..cni.ipam import Pool
from ..cni.selection import NETWORK_STATUS_ANNOTATION, NetworkSelection
from ..plan import Plan
from ..render.manifests import MANAGED_BY
from .owners import PodOwner

Pod = Mapping[str, Any]


@dataclass(frozen=True)
class NetworkFacts:
    """What the plan knows about one network (its NAD's CNI config)."""

    key: str
    """``namespace/name`` of the NAD."""
    type: str
    link: str | None
    """Master, bridge or device link, when the plugin names one."""
    ipam: str | None
    """IPAM type (``host-local``, ``whereabouts``, ``static``, ``dhcp``, …; ``None``: none)."""
    pools: tuple[Pool, ...] = ()
    mtu: int | None = None
    resource_name: str | None = None
    """Device-plugin resource the NAD requests (SR-IOV)."""

    @property
    def allocates(self) -> bool:
        """The IPAM hands out addresses by itself (not ``static``, not none)."""
        return self.ipam is not None and self.ipam != "static"

    def describe(self) -> str:
        parts = [self.type + (f" on {self.link}" if self.link else "")]
        if self.ipam:
            ranges = ", ".join(f"{p.first}-{p.last}" for p in self.pools)
            parts.append(f"{self.ipam} {ranges}".strip())
        if self.mtu:
            parts.append(f"mtu {self.mtu}")
        return ", ".join(parts)

    @classmethod
    def of(cls, key: str, config: CniConfig, resource_name: str | None = None) -> NetworkFacts:
        main = config.main.to_dict()
        mtu = main.get("mtu")
        return cls(key, config.type, config.main.master_link(), config.ipam_type(),
                   tuple(config.pools()), mtu if isinstance(mtu, int) and mtu > 0 else None,
                   resource_name)


@dataclass(frozen=True)
class Owner(PodOwner):
    """A bare pod or a workload whose pods carry selections (``Pod``, ``Deployment``,
    ``StatefulSet`` or ``DaemonSet``)."""

    selections: tuple[NetworkSelection, ...]
    replicas: int | None = 1
    """Pods expected (``None``: one per node, a DaemonSet)."""
    node_selector: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.id

    @property
    def label_selector(self) -> str | None:
        """How its pods are found (``None``: by name, a bare pod)."""
        if self.kind == "Pod":
            return None
        labels = {**MANAGED_BY, "app": self.name}
        return ",".join(f"{k}={v}" for k, v in labels.items())


@dataclass(frozen=True)
class Expected:
    """One attachment the plan asks for."""

    network: str
    interface: str
    selection: NetworkSelection


def interface_of(selection: NetworkSelection, index: int) -> str:
    """The interface Multus gives the ``index``-th selection (0-based) of a pod."""
    return selection.interface or f"net{index + 1}"


def expected_of(owner: Owner) -> list[Expected]:
    return [Expected(s.key(owner.namespace), interface_of(s, i), s)
            for i, s in enumerate(owner.selections)]


def owners_of(plan: Plan) -> list[Owner]:
    """Every pod and workload of the plan that selects a network."""
    out = [Owner("Pod", p.namespace, name, tuple(p.networks), 1, dict(p.node_selector))
           for name, p in plan.pods if p.networks]
    out += [Owner(w.kind, w.namespace, name, tuple(w.networks),
                  None if w.kind == "DaemonSet" else w.replicas, dict(w.node_selector))
            for name, w in plan.workloads if w.networks]
    return out


def facts_of(plan: Plan) -> dict[str, NetworkFacts]:
    return {net.key: NetworkFacts.of(net.key, net.config, args.resource_name)
            for net, args in plan.networks}


# --------------------------------------------------------------------------- comparing


@dataclass
class AttachmentCheck:
    """One pod's attachment to one network, as found and judged."""

    pod: str
    """``namespace/name`` of the pod (``-`` when the pod itself is missing)."""
    owner: str
    network: str
    interface: str
    ips: list[str] = field(default_factory=list)
    mac: str = ""
    node: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "owner": self.owner, "network": self.network,
                "interface": self.interface, "ips": self.ips, "mac": self.mac,
                "node": self.node, "ok": self.ok, "problems": self.problems,
                "notes": self.notes}


def network_status(pod: Pod) -> list[dict[str, Any]] | None:
    """The decoded network-status annotation (``None``: absent or not a JSON list)."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(NETWORK_STATUS_ANNOTATION)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else None


def pod_key(pod: Pod) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _not_running(pod: Pod) -> str | None:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "the pod is being deleted"
    phase = status.get("phase") or "Unknown"
    if phase == "Running":
        return None
    waiting = [str(((c.get("state") or {}).get("waiting") or {}).get("reason") or "")
               for c in status.get("containerStatuses") or []]
    why = ", ".join(w for w in waiting if w)
    return f"the pod is {phase}" + (f" ({why})" if why else "")


def _bare(ip: str) -> str:
    return ip.split("/", 1)[0]


def _in_pools(ip: str, pools: Sequence[Pool]) -> bool:
    try:
        addr = ipaddress.ip_address(_bare(ip))
    except ValueError:
        return False
    return any(p.contains(addr) for p in pools)


def _same_network(entry_name: str, want: str) -> bool:
    return entry_name in (want, want.partition("/")[2])


def compare_pod(pod: Pod, owner: str, expected: Sequence[Expected],
                facts: Mapping[str, NetworkFacts]) -> list[AttachmentCheck]:
    """Judge one live pod's attachments against what its owner's selections ask."""
    key = pod_key(pod)
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    statuses = network_status(pod)
    down = _not_running(pod)
    out: list[AttachmentCheck] = []
    for exp in expected:
        check = AttachmentCheck(key, owner, exp.network, exp.interface, node=node)
        out.append(check)
        if statuses is None:
            check.problems.append(down or "no network-status annotation: Multus has not "
                                          "attached this pod")
            continue
        entry = next((s for s in statuses if s.get("interface") == exp.interface
                      and not s.get("default")), None)
        if entry is None:
            elsewhere = [str(s.get("interface")) for s in statuses
                         if _same_network(str(s.get("name", "")), exp.network)]
            if elsewhere:
                check.problems.append(f"attached as {', '.join(elsewhere)}, the plan asks "
                                      f"{exp.interface}")
            else:
                check.problems.append(f"no {exp.interface} in network-status"
                                      + (f" ({down})" if down else ""))
            continue
        if down:
            check.problems.append(down)
        _compare_entry(check, entry, exp, facts.get(exp.network))
    wanted = {e.interface for e in expected}
    for s in statuses or []:
        if not s.get("default") and s.get("interface") not in wanted:
            extra = AttachmentCheck(key, owner, str(s.get("name", "?")),
                                    str(s.get("interface", "?")),
                                    [str(i) for i in s.get("ips") or []],
                                    str(s.get("mac") or ""), node)
            extra.notes.append("attached, but not in the plan")
            out.append(extra)
    return out


def _compare_entry(check: AttachmentCheck, entry: Mapping[str, Any], exp: Expected,
                   net: NetworkFacts | None) -> None:
    name = str(entry.get("name", ""))
    if not _same_network(name, exp.network):
        check.problems.append(f"{exp.interface} is attached to {name or '?'}, the plan asks "
                              f"{exp.network}")
    ips = [str(i) for i in entry.get("ips") or []]
    check.ips = ips
    check.mac = str(entry.get("mac") or "")
    have = {_bare(i) for i in ips}
    sel = exp.selection
    if sel.ips:
        missing = [ip for ip in sel.ips if _bare(ip) not in have]
        if missing:
            check.problems.append(f"requested addresses {', '.join(missing)} missing (has "
                                  f"{', '.join(ips) or 'none'})")
    elif net is not None and net.allocates:
        if not ips:
            check.problems.append(f"no address from {net.ipam}")
        elif net.pools:
            outside = [ip for ip in ips if not _in_pools(ip, net.pools)]
            if outside:
                ranges = ", ".join(f"{p.first}-{p.last}" for p in net.pools)
                check.problems.append(f"addresses {', '.join(outside)} outside the pool "
                                      f"{ranges}")
    if sel.mac and check.mac.lower() != sel.mac.lower():
        check.problems.append(f"MAC {check.mac or 'none'}, requested {sel.mac}")
    mtu = entry.get("mtu")
    if net is not None and net.mtu and isinstance(mtu, int) and mtu and mtu != net.mtu:
        check.problems.append(f"MTU {mtu}, the network sets {net.mtu}")
    for gw in sel.default_route or []:
        _check_gateway(check, entry, gw, net)


def _check_gateway(check: AttachmentCheck, entry: Mapping[str, Any], gw: str,
                   net: NetworkFacts | None) -> None:
    reported = [str(g) for g in entry.get("gateway") or []]
    gw_ip = ipaddress.ip_address(gw)
    if reported and gw not in reported:
        check.problems.append(f"default route requested via {gw}; Multus reports "
                              f"{', '.join(reported)}")
        return
    if net is not None and net.pools and not any(gw_ip in p.network for p in net.pools):
        check.problems.append(f"default route requested via {gw}, outside the network's "
                              "subnets")
        return
    on_subnet = [ip for ip in check.ips
                 if _same_subnet(ip, gw_ip, net)]
    if check.ips and not on_subnet:
        check.problems.append(f"default route requested via {gw}, but {check.interface} has "
                              f"no address on its subnet ({', '.join(check.ips)})")
        return
    check.notes.append(f"default route via {gw} requested" + (
        "" if reported else " (network-status shows no routes: the probe checks it)"))


def _same_subnet(ip: str, gw: ipaddress.IPv4Address | ipaddress.IPv6Address,
                 net: NetworkFacts | None) -> bool:
    try:
        addr = ipaddress.ip_address(_bare(ip))
    except ValueError:
        return False
    if addr.version != gw.version:
        return False
    if net is not None and net.pools:
        return any(addr in p.network and gw in p.network for p in net.pools)
    return True  # the plan does not know the subnet: the family is all that can be said


def missing_pods(owner: Owner, found: int) -> str | None:
    """What is wrong with the number of pods found for ``owner``, if anything."""
    if owner.kind == "Pod":
        return None if found else "the pod does not exist"
    if owner.replicas is None:
        return None if found else "no pods (none scheduled, or none created yet)"
    if found < owner.replicas:
        return f"{found} of {owner.replicas} pods exist"
    return None
