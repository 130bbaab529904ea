"""Data-path verification of a deployed stack on the embedded node.

For every pod netplumb manages: each attachment listed in Multus' network-status annotation
must exist in the pod's network namespace (found through the CRI: the sandbox containerd
made for the pod) with the interface name, MAC and addresses the annotation reports; the
addresses and default route its selection asked for must be in place; and it must reach
another pod on the same subnet (ping over that interface). This is the hand-run guide's
step 6, as a check.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from netplumb.render.manifests import MANAGED_BY

from . import icmp, underlay
from .cluster.api import Api
from .node import cri
from .nodens import NodeNs, PodNetns

MANAGED = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


@dataclass
class Attachment:
    pod: str
    netns: PodNetns | None
    """The pod's network namespace on its node (None: not found)."""
    network: str
    interface: str
    ips: list[str]
    mac: str
    cidrs: set[str] = field(default_factory=set)
    """Addresses with prefix as found on the interface."""
    problems: list[str] = field(default_factory=list)
    reached: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def link_state(netns: PodNetns | str, ifname: str) -> tuple[str, set[str]]:
    """(MAC, {address/prefix, …}) of ``ifname`` in ``netns``."""
    [link] = underlay.ip_json("addr", "show", "dev", ifname, netns=netns)
    addrs = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
             if a.get("scope") != "link"}
    return str(link.get("address", "")), addrs


def ping(netns: PodNetns | str, target: str, count: int = 2) -> bool:
    """Echo replies from ``target`` (IPv4; the route to its subnet picks the interface)."""
    try:
        return icmp.ping(netns, target.split("/")[0], count=count, timeout=2.0) > 0
    except (RuntimeError, subprocess.TimeoutExpired):
        return False


def attachments(kubeconfig: Path, namespace: str | None = None) -> list[Attachment]:
    """Every secondary attachment of netplumb's pods, checked against its namespace."""
    api = Api(kubeconfig)
    path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
    pods: list[Any] = api.get(path, {"labelSelector": MANAGED})["items"]
    found: list[Attachment] = []
    for pod in pods:
        meta = pod["metadata"]
        notes = meta.get("annotations") or {}
        if NETWORKS_ANNOTATION not in notes:
            continue
        key = f"{meta['namespace']}/{meta['name']}"
        try:
            node = NodeNs(str((pod.get("spec") or {}).get("nodeName") or "?"))
            ns = cri.pod_netns(node, meta["namespace"], meta["name"], meta["uid"])
        except (cri.CriError, OSError) as exc:
            a = Attachment(key, None, "?", "?", [], "")
            a.problems.append(f"no network namespace: {exc}")
            found.append(a)
            continue
        status = json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]"))
        secondary = [s for s in status if not s.get("default")]
        wanted = _requested(notes[NETWORKS_ANNOTATION])
        if not secondary:
            a = Attachment(key, ns, "?", "?", [], "")
            a.problems.append("no secondary attachment in network-status")
            found.append(a)
        for s in secondary:
            a = Attachment(key, ns, s.get("name", "?"), s.get("interface", "?"),
                           list(s.get("ips", [])), s.get("mac", ""))
            try:
                mac, addrs = link_state(ns, a.interface)
            except (RuntimeError, ValueError) as exc:
                a.problems.append(f"interface {a.interface} not in {ns}: {exc}")
                found.append(a)
                continue
            if a.mac and mac.lower() != a.mac.lower():
                a.problems.append(f"MAC {mac} in the namespace, {a.mac} in network-status")
            bare = {x.split("/")[0] for x in addrs}
            missing = [ip for ip in a.ips if ip.split("/")[0] not in bare]
            if missing:
                a.problems.append(f"addresses {missing} of network-status not on {a.interface}")
            a.cidrs = addrs
            sel = wanted.get(a.interface, {})
            asked = [ip for ip in sel.get("ips", []) if ip not in addrs]
            if asked:
                a.problems.append(f"requested addresses {asked} not on {a.interface}")
            for gw in sel.get("default-route", []):
                problem = _default_route_problem(ns, a.interface, str(gw))
                if problem:
                    a.problems.append(problem)
            found.append(a)
    return found


def _requested(annotation: str) -> dict[str, dict[str, Any]]:
    """The pod's selections by the interface name Multus gives them (``net<i>`` when the
    selection names none). Only the JSON-list form carries ips and default-route."""
    try:
        selections = json.loads(annotation)
    except ValueError:
        return {}
    if not isinstance(selections, list):
        return {}
    return {str(sel.get("interface") or f"net{i}"): sel
            for i, sel in enumerate(selections, start=1) if isinstance(sel, dict)}


def _default_route_problem(netns: PodNetns, interface: str, gateway: str) -> str | None:
    """None when the pod's default route of ``gateway``'s family goes via ``gateway`` on
    ``interface``; else what is there instead."""
    family = "-6" if ipaddress.ip_address(gateway).version == 6 else "-4"
    try:
        routes = underlay.ip_json(family, "route", "show", "default", netns=netns)
    except underlay.IpError:
        routes = []
    have = [(r.get("gateway"), r.get("dev")) for r in routes]
    if have == [(gateway, interface)]:
        return None
    return (f"requested default route via {gateway} on {interface}; the pod has "
            f"{', '.join(f'via {g} dev {d}' for g, d in have) or 'none'}")


def _subnets(a: Attachment) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return {ipaddress.ip_interface(c).network for c in a.cidrs}


def check_reachability(found: list[Attachment]) -> None:
    """Each attachment must reach another pod's address on the same network or, when it is
    alone on its network (a static-IPAM NAD, say), on the same subnet."""
    healthy = [a for a in found if a.ok]
    for a in healthy:
        mine = _subnets(a)
        targets = [(p.pod, p.ips[0]) for p in healthy
                   if p.pod != a.pod and p.ips and p.network == a.network]
        targets += [(p.pod, ip) for p in healthy if p.pod != a.pod and p.network != a.network
                    for ip in p.ips if any(ipaddress.ip_address(ip) in n for n in mine)]
        if not targets:
            continue  # alone on its network and subnet: nothing to reach
        pod, target = targets[0]
        if a.netns is not None and ping(a.netns, target):
            a.reached = f"{pod} {target}"
        else:
            a.problems.append(f"cannot reach {pod} at {target} over {a.interface}")


def verify_attachments(kubeconfig: Path, namespace: str | None = None,
                       *, verbose: bool = True) -> tuple[int, int]:
    found = attachments(kubeconfig, namespace)
    check_reachability(found)
    if verbose:
        for a in found:
            mark = "ok  " if a.ok else "FAIL"
            what = f"reaches {a.reached}" if a.reached else "; ".join(a.problems) or "present"
            print(f"  {mark} {a.pod} {a.interface} ({a.network}) {','.join(a.ips)}: {what}")
    return sum(a.ok for a in found), len(found)
