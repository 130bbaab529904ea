"""Probe pods: a pair per network that pings across it, with no exec into any pod (pure).

Why pods that report back rather than ``kubectl exec``: exec needs a streaming upgrade from the
apiserver to the kubelet (SPDY or the ``v5.channel.k8s.io`` websocket), the ``pods/exec``
permission that many clusters grant to nobody, and an apiserver that can reach the kubelets.
A pod whose command does the work needs only ``pods`` create/get/delete, which anyone who
deploys the stack has, and it works the same on every cluster.

Per network two pods with the toolbox image (busybox: ``ip``, ``ping``, ``sh``) select the
network as ``net1`` exactly as the plan's pods do (the same ``default-route`` request, the
device request of an SR-IOV network), preferring different nodes:

* the *peer* sleeps; once it runs its address comes from its network-status;
* the *pinger* prints what it sees on ``net1`` (link, addresses, default routes), pings the
  peer and every address the plan's pods have on the network, all at once, and ends. Its
  report goes to the container's termination message (the pod status carries it: no log
  API needed) and to its log; each line starts with ``##``, the last is ``## end``.

:func:`judge` reads the report: every ping answered, the addresses on ``net1`` are those
network-status reports, and a requested default route is in the table via ``net1``.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cni.selection import NETWORKS_ANNOTATION, NetworkSelection, networks_annotation

DEFAULT_IMAGE = "docker.io/library/busybox:1.36"
"""The toolbox image of probe pods (``--image`` / ``NETPLUMB_PROBE_IMAGE`` change it)."""
PROBE_LABEL = "netplumb.dev/probe"
"""Label on every probe pod: the run id (``netplumb verify`` removes its own by it)."""
ROLE_LABEL = "netplumb.dev/probe-role"
PROBE_INTERFACE = "net1"
LIFETIME_S = 600
"""activeDeadlineSeconds of probe pods: gone even if verify is killed before removing them."""
MAX_TARGETS = 32
"""Addresses one pinger tries (the peer first, then the plan's pods)."""
END = "## end"


@dataclass(frozen=True)
class ProbeSpec:
    """A network's probe: what the probe pods select and where they may run."""

    network: str
    """``namespace/name`` of the NAD."""
    selection: NetworkSelection
    """The ``net1`` selection (with the plan's ``default-route`` request, if any)."""
    device_resource: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[str, str] | None = None
    """Static addresses (with prefix) for the peer and the pinger on a static-IPAM network."""
    mtu: int | None = None
    """The MTU the network's config sets (``None``: it sets none), compared with what the
    pinger reads on ``net1``."""

    @property
    def namespace(self) -> str:
        return self.network.partition("/")[0]

    @property
    def nad(self) -> str:
        return self.network.partition("/")[2]


def probe_name(run_id: str, spec: ProbeSpec, role: str) -> str:
    """``np-probe-<run>-<nad>-<role>``, shortened to a valid pod name."""
    base = f"np-probe-{run_id}-{spec.nad}"[: 63 - len(role) - 1].rstrip("-.")
    return f"{base}-{role}"


TERMINATION_LOG = "/dev/termination-log"


def pinger_script(targets: Sequence[str], interface: str = PROBE_INTERFACE,
                  report_to: str = TERMINATION_LOG) -> str:
    """The pinger's shell program (busybox sh): report, ping every target at once, end.
    Exits non-zero when a ping goes unanswered."""
    iface = shlex.quote(interface)
    quoted = " ".join(shlex.quote(t) for t in targets)
    return "\n".join([
        "r=/tmp/report; : > $r",
        f"echo \"## link $(ip -o link show dev {iface} 2>&1)\" >> $r",
        f"ip -o addr show dev {iface} 2>&1 | while read -r line; do echo \"## addr $line\"; "
        "done >> $r",
        "ip route show default 2>&1 | while read -r line; do echo \"## route4 $line\"; "
        "done >> $r",
        "ip -6 route show default 2>&1 | while read -r line; do echo \"## route6 $line\"; "
        "done >> $r",
        f"for t in {quoted}; do",
        f"  ( if ping -c 2 -W 2 -I {iface} \"$t\" > /tmp/ping.$t 2>&1; "
        "then echo \"## ping $t ok\"; "
        "else echo \"## ping $t fail $(tail -n 1 /tmp/ping.$t)\"; fi > /tmp/res.$t ) &",
        "done",
        "wait",
        f"for t in {quoted}; do cat /tmp/res.$t >> $r; done",
        f"echo '{END}' >> $r",
        f"cat $r; cat $r > {shlex.quote(report_to)}",
        "! grep -q '^## ping .* fail' $r",
    ])


def _pod(name: str, spec: ProbeSpec, run_id: str, role: str, image: str,
         command: list[str], selection: NetworkSelection) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "probe", "image": image, "command": command,
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                      "limits": {"cpu": "100m", "memory": "32Mi"}},
    }
    if spec.device_resource:
        for k in ("requests", "limits"):
            container["resources"][k][spec.device_resource] = "1"
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "activeDeadlineSeconds": LIFETIME_S,
        "automountServiceAccountToken": False,
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {PROBE_LABEL: run_id,
                                                  "netplumb.dev/probe-network": spec.nad}}}}]}},
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": spec.namespace,
                         "labels": {PROBE_LABEL: run_id, ROLE_LABEL: role,
                                    "netplumb.dev/probe-network": spec.nad},
                         "annotations": {NETWORKS_ANNOTATION: networks_annotation([selection])}},
            "spec": pod_spec}


def _selection(spec: ProbeSpec, which: int) -> NetworkSelection:
    if spec.addresses is None:
        return spec.selection
    return spec.selection.model_copy(update={"ips": [spec.addresses[which]]})


def peer_pod(spec: ProbeSpec, run_id: str, image: str) -> dict[str, Any]:
    """The pod the pinger pings: it only sleeps (until removed, or its deadline)."""
    return _pod(probe_name(run_id, spec, "peer"), spec, run_id, "peer", image,
                ["sleep", str(LIFETIME_S)], _selection(spec, 0))


def pinger_pod(spec: ProbeSpec, run_id: str, image: str,
               targets: Sequence[str]) -> dict[str, Any]:
    """The pod that reports what it sees on ``net1`` and pings ``targets``."""
    return _pod(probe_name(run_id, spec, "ping"), spec, run_id, "ping", image,
                ["sh", "-c", pinger_script(targets[:MAX_TARGETS])], _selection(spec, 1))


# --------------------------------------------------------------------------- reading back


@dataclass
class ProbeReport:
    """The pinger's report, parsed."""

    link: str = ""
    mac: str = ""
    mtu: int | None = None
    """The interface's MTU as ``ip link`` shows it inside the pod."""
    addresses: list[str] = field(default_factory=list)
    """``address/prefix`` on the interface (global scope)."""
    routes: dict[int, list[str]] = field(default_factory=lambda: {4: [], 6: []})
    """Default routes per IP version (``default via 192.0.2.1 dev net1``)."""
    pings: dict[str, tuple[bool, str]] = field(default_factory=dict)
    """target → (answered, last line of ping's output when not)."""
    complete: bool = False


_MTU = re.compile(r"\bmtu (\d+)\b")
_MAC = re.compile(r"link/\S+ ([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})")
_ADDR = re.compile(r"\binet6? (\S+)")


def parse_report(text: str) -> ProbeReport:
    rep = ProbeReport()
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("## "):
            continue
        word, _, rest = line[3:].partition(" ")
        if word == "link":
            rep.link = rest
            m = _MAC.search(rest)
            rep.mac = m.group(1).lower() if m else ""
            mtu = _MTU.search(rest)
            rep.mtu = int(mtu.group(1)) if mtu else None
        elif word == "addr":
            m = _ADDR.search(rest)
            if m and "scope link" not in rest:
                rep.addresses.append(m.group(1))
        elif word in ("route4", "route6"):
            if rest.startswith("default"):
                rep.routes[4 if word == "route4" else 6].append(rest)
        elif word == "ping":
            target, _, outcome = rest.partition(" ")
            ok = outcome.startswith("ok")
            rep.pings[target] = (ok, "" if ok else outcome.removeprefix("fail").strip())
        elif line == END:
            rep.complete = True
    return rep


@dataclass(frozen=True)
class Target:
    """An address the pinger tries, and whose it is."""

    address: str
    owner: str
    """``probe peer`` or the pod's ``namespace/name``."""


def judge(report: ProbeReport, targets: Sequence[Target], status_ips: Sequence[str],
          status_mac: str, default_route: Sequence[str], mtu: int | None = None
          ) -> tuple[list[str], list[str]]:
    """(problems, notes) of one network's probe from the pinger's report, the pinger's own
    network-status (addresses, MAC), the default route the selection asked for and the MTU
    the network sets (compared with the one measured inside the pod, not network-status')."""
    problems: list[str] = []
    notes: list[str] = []
    if not report.complete:
        problems.append("the pinger's report is incomplete (it did not run to the end)")
    if mtu is not None and report.link:
        if report.mtu != mtu:
            problems.append(f"{PROBE_INTERFACE} has MTU {report.mtu} inside the pod, the "
                            f"network sets {mtu}")
        else:
            notes.append(f"{PROBE_INTERFACE} has MTU {mtu} inside the pod, as the network sets")
    if report.mac and status_mac and report.mac != status_mac.lower():
        problems.append(f"{PROBE_INTERFACE} has MAC {report.mac}, network-status says "
                        f"{status_mac}")
    inside = {a.split("/", 1)[0] for a in report.addresses}
    missing = [ip for ip in status_ips if ip.split("/", 1)[0] not in inside]
    if missing:
        problems.append(f"network-status lists {', '.join(missing)}, not on "
                        f"{PROBE_INTERFACE} inside the pod")
    for gw in default_route:
        routes = report.routes[ipaddress.ip_address(gw).version]
        if any(f" via {gw} " in f" {r} " and f" dev {PROBE_INTERFACE} " in f" {r} "
               for r in routes):
            notes.append(f"default route via {gw} on {PROBE_INTERFACE} is in place")
        else:
            problems.append(f"default route via {gw} on {PROBE_INTERFACE} requested; the pod "
                            f"has {'; '.join(routes) or 'none'} (Multus releases built with "
                            "netlink v1.3.1 drop default-route requests: multus-cni #1552)")
    for t in targets:
        answered = report.pings.get(t.address)
        if answered is None:
            if report.complete:
                problems.append(f"{t.address} ({t.owner}) was not pinged")
            continue
        if not answered[0]:
            why = f": {answered[1]}" if answered[1] else ""
            problems.append(f"no answer from {t.address} ({t.owner}){why}")
    return problems, notes
