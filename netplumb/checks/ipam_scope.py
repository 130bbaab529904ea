"""host-local allocates per node: a warning where that can put one address on two pods.

host-local keeps its reservations in files on the node that runs the ADD, so two nodes
with the same range hand out the same addresses. macvlan, ipvlan, vlan and sriov put pods
straight onto the wire behind their master link or VF, which the nodes share. A workload
whose pods run on several nodes and attach to such a network with host-local IPAM can end
up with two pods holding one address on one segment. whereabouts (cluster-wide
allocation) is the usual fix; separate ranges per node with pinned pods is the other.

The same holds for bare pods: two pods on such a network that the plan does not pin to one
node (``node_selector: {kubernetes.io/hostname: ...}``) may be scheduled to two nodes and get
the same address (shown on the embedded cluster's two nodes: ``tests/e2e/test_multinode.py``).

A bridge network stays inside its node (unless the bridge is enslaved to a NIC, which the
plan cannot see), so it is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Finding
from ..planned import PlannedNetwork, Workload

SHARED_SEGMENT = frozenset({"macvlan", "ipvlan", "vlan", "sriov"})
"""Plugins whose pods sit on a segment the nodes share."""


def check_node_local_ipam(networks: Iterable[PlannedNetwork],
                          workloads: Iterable[Workload]) -> list[Finding]:
    """A warning per shared-segment host-local network that a spreading workload uses."""
    candidates = {n.key: n for n in networks
                  if not n.external and n.config.type in SHARED_SEGMENT
                  and n.config.ipam_type() == "host-local"}
    if not candidates:
        return []
    users: dict[str, dict[str, Workload]] = {}
    for w in workloads:
        for key in w.keys:
            if key in candidates:
                users.setdefault(key, {})[w.where] = w
    findings = []
    for key, every in users.items():
        found = {where: w for where, w in every.items() if w.spreads}
        if not found:
            # bare pods (and pinned workloads): a clash needs two of them on two nodes
            pins = [w.pinned for w in every.values()]
            if len(pins) < 2 or (None not in pins and len(set(pins)) < 2):
                continue
            found = every
        net = candidates[key]
        shown = [f"{w.where} ×{w.replicas}" if w.replicas > 1 or w.spreads else w.where
                 for w in list(found.values())[:3]]
        more = len(found) - len(shown)
        who = ", ".join(shown) + (f" and {more} more" if more > 0 else "")
        link = net.config.main.master_link()
        where = f"{net.config.type} on {link}" if link else net.config.type
        findings.append(Finding(
            net.ipam_path(), "host-local",
            f"network {key} ({where}) uses host-local "
            f"IPAM, which allocates per node; {who} can run pods on several nodes, and two "
            "of them may get the same address on that shared segment. Expected whereabouts "
            "IPAM (cluster-wide), or the pods pinned to one node (node_selector: "
            "{kubernetes.io/hostname: <node>}), or a separate range per node with the pods "
            "pinned to it",
            severity="warning"))
    return findings
