"""Checks across networks: duplicate NAD names, overlapping address pools on one link, and
networks that can give no pod an address.

The cross-network checks are sort-based (O(n log n)): a plan of thousands of networks checks
in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..cni.ipam import Pool
from ..errors import Finding
from ..planned import PlannedNetwork
from .names import repeated


def _pool_path(net: PlannedNetwork, pool: Pool) -> str:
    return net.ipam_path(*pool.where)


def check_duplicates(networks: Sequence[PlannedNetwork]) -> list[Finding]:
    """A NAD (namespace and name) is declared once."""
    return repeated((((n.namespace, n.name), n.name) for n in networks),
                    lambda i: networks[i].path("name"), "NAD")


def check_pool_overlaps(networks: Sequence[PlannedNetwork]) -> list[Finding]:
    """Two networks on the same host link must not hand out the same address.

    One sweep over pools sorted by (link, family, first address), keeping the pool that
    reaches furthest: overlaps are found without comparing every pair.
    """
    rows: list[tuple[str, int, int, int, int, int]] = []
    pools: list[tuple[PlannedNetwork, Pool]] = []
    for net in networks:
        link = net.host_link
        if link is None:
            continue
        for pool in net.pools:
            rows.append((link, pool.first.version, int(pool.first), int(pool.last), len(pools),
                         0))
            pools.append((net, pool))
    rows.sort()
    findings: list[Finding] = []
    reach: tuple[str, int, int, int] | None = None  # link, family, last, index
    for link, fam, first, last, idx, _ in rows:
        if reach and reach[0] == link and reach[1] == fam and first <= reach[2]:
            other_net, other_pool = pools[reach[3]]
            net, pool = pools[idx]
            if other_net.key != net.key or other_net.where != net.where:
                findings.append(Finding(
                    _pool_path(net, pool), f"{pool.first}-{pool.last}",
                    f"address pool overlaps {other_pool.first}-{other_pool.last} of network "
                    f"{other_net.key} (at {_pool_path(other_net, other_pool)}) on the same "
                    f"link {link!r}; both would hand out the same addresses; expected "
                    "disjoint ranges"))
        if not reach or reach[0] != link or reach[1] != fam or last > reach[2]:
            reach = (link, fam, last, idx)
    return findings


def check_addressless_static(networks: Sequence[PlannedNetwork]) -> list[Finding]:
    """Static IPAM with no ``addresses`` on an interface plugin without ``capabilities.ips``.

    The static plugin then returns no address unless the pod's selection brings one in its
    ``cni-args`` (``ips``, which Multus hands over as the config's ``args``): every interface
    plugin that takes IPAM (macvlan, ipvlan, bridge, host-device, vlan, ptp, tap) refuses an
    IPAM result without an address, so a pod selecting it otherwise never leaves
    ContainerCreating. Runtime ``ips`` reach the plugin only with the capability. A warning:
    selections' ``cni-args`` are a way the network works as written."""
    findings: list[Finding] = []
    for net in networks:
        if net.config.ipam_type() != "static" or net.ipam.statics \
                or net.config.capabilities().get("ips"):
            continue
        findings.append(Finding(
            net.ipam_path("addresses"), None,
            f"network {net.key} has static IPAM without addresses and its plugin lacks "
            "capabilities.ips, so a pod's selection ips never reach it: a pod gets an "
            "address here only through its selection's cni-args ips, otherwise its sandbox "
            "fails with 'IPAM plugin returned missing IP config'; expected addresses, or "
            "capabilities: {ips: true} for pods that ask for their own",
            severity="warning"))
    return findings


def check_networks(networks: Iterable[PlannedNetwork]) -> list[Finding]:
    """Every whole-plan network check; errors and warnings as :class:`Finding` s."""
    nets = list(networks)
    return [*check_duplicates(nets), *check_pool_overlaps(nets),
            *check_addressless_static(nets)]
