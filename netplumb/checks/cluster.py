"""Secondary subnets against the cluster's own networks (a warning).

A pod attached to a secondary network whose subnet overlaps the pod or service network
routes traffic for those addresses out of the secondary interface (its connected route is
more specific than the cluster's), so it cannot reach the pods or Services there.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..cni import fields as fc
from ..errors import Finding
from ..planned import PlannedNetwork


def check_cluster_overlap(networks: Iterable[PlannedNetwork],
                          cluster: Iterable[tuple[str, str]]) -> list[Finding]:
    """A warning per network subnet overlapping a cluster network; ``cluster`` holds
    ``(cidr, what it is)``."""
    known = [(fc.parse_network(cidr), what) for cidr, what in cluster]
    if not known:
        return []
    findings = []
    for net in networks:
        if net.external:
            continue
        subnets = {(p.network, net.ipam_path(*p.where)) for p in net.pools}
        subnets |= {(a.network, net.ipam_path(*sub))
                    for a, sub in net.ipam.statics}
        for subnet, path in sorted(subnets, key=lambda s: s[1]):
            for cidr, what in known:
                if subnet.version == cidr.version and subnet.overlaps(cidr):
                    findings.append(Finding(path, str(subnet), (
                        f"subnet {subnet} of network {net.key} overlaps the cluster's {what} "
                        f"{cidr}: pods attached to it route those addresses out of this "
                        "interface and cannot reach the pods or Services there. Expected a "
                        "subnet outside the cluster's networks"), severity="warning"))
                    break
    return findings
