"""Data-path verification of a deployed stack on the embedded node.

For every pod netplumb manages: each attachment listed in Multus' network-status annotation
must exist in the pod's network namespace with the interface name, MAC and addresses the
annotation reports, and must reach another pod on the same network (ping over that
interface). This is the hand-run guide's step 6, as a check.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netplumb.spec.selection import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION

from . import icmp
from .podnet import netns_name

MANAGED = "app.kubernetes.io/managed-by=netplumb"


@dataclass
class Attachment:
    pod: str
    netns: str
    network: str
    interface: str
    ips: list[str]
    mac: str
    problems: list[str] = field(default_factory=list)
    reached: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _ip_json(netns: str, *args: str) -> Any:
    out = subprocess.run(["ip", "-n", netns, "-j", *args], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"ip {' '.join(args)} failed")
    return json.loads(out.stdout or "[]")


def link_state(netns: str, ifname: str) -> tuple[str, set[str]]:
    """(MAC, {address/prefix, …}) of ``ifname`` in ``netns``."""
    [link] = _ip_json(netns, "addr", "show", "dev", ifname)
    addrs = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
             if a.get("scope") != "link"}
    return str(link.get("address", "")), addrs


def ping(netns: str, target: str, count: int = 2) -> bool:
    """Echo replies from ``target`` (IPv4; the route to its subnet picks the interface)."""
    try:
        return icmp.ping(netns, target.split("/")[0], count=count, timeout=2.0) > 0
    except (RuntimeError, subprocess.TimeoutExpired):
        return False


def attachments(kubeconfig: Path, namespace: str | None = None) -> list[Attachment]:
    """Every secondary attachment of netplumb's pods, checked against its namespace."""
    from kubernetes import client, config

    load: Any = config.new_client_from_config
    api: Any = client.CoreV1Api(load(config_file=str(kubeconfig)))
    pods: list[Any] = (api.list_namespaced_pod(namespace, label_selector=MANAGED) if namespace
            else api.list_pod_for_all_namespaces(label_selector=MANAGED)).items
    found: list[Attachment] = []
    for pod in pods:
        notes = pod.metadata.annotations or {}
        if NETWORKS_ANNOTATION not in notes:
            continue
        ns = netns_name(pod.metadata.uid)
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        status = json.loads(notes.get(NETWORK_STATUS_ANNOTATION, "[]"))
        secondary = [s for s in status if not s.get("default")]
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
            found.append(a)
    return found


def check_reachability(found: list[Attachment]) -> None:
    """Each attachment must reach another pod's address on the same network."""
    by_net: dict[str, list[Attachment]] = {}
    for a in found:
        if a.ok:
            by_net.setdefault(a.network, []).append(a)
    for peers in by_net.values():
        for a in peers:
            others = [p for p in peers if p.pod != a.pod and p.ips]
            if not others:
                continue  # alone on its network: nothing to reach
            target = others[0].ips[0]
            if ping(a.netns, target):
                a.reached = f"{others[0].pod} {target}"
            else:
                a.problems.append(f"cannot reach {others[0].pod} at {target} over {a.interface}")


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
