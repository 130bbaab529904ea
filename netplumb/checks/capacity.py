"""Capacity: the pods declared against a network must fit its address pool.

Demand of a network = the pods of every workload selecting it (replicas × selections of
it). Capacity = what its IPAM can hand out: for host-local, one address comes from each
range set, so the capacity is the smallest set's total; whereabouts ranges count the
same way. Gateways and exclusions are not addresses (:attr:`Pool.size`).

A warning at 80 % (a rolling update's surge pods or a node failure's replacements need
headroom), an error above 100 %. Networks whose IPAM has no pool netplumb can size
(static, dhcp, unknown types) are not checked.

Linear: one pass over selections, one over networks; contributors are ranked only for
the networks reported.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..cni.config import CniConfig
from ..cni.ipam import Pool
from ..errors import Finding
from ..planned import PlannedNetwork, Workload

WARN_PERCENT = 80


@dataclass(frozen=True)
class PoolCapacity:
    """How many pods a network can address, and the pools that decide it."""

    size: int
    pools: tuple[Pool, ...]

    def describe(self, limit: int = 3) -> str:
        shown = [f"{p.first}-{p.last}" for p in self.pools[:limit]]
        more = len(self.pools) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def pool_capacity(config: CniConfig) -> PoolCapacity | None:
    """The number of pods ``config`` can give an address to, or None if not sizable."""
    return pools_capacity(config.pools())


def pools_capacity(pools: Sequence[Pool]) -> PoolCapacity | None:
    """The number of pods ``pools`` (one network's) can give an address to, or None."""
    if not pools:
        return None
    sets: dict[tuple[str | int, ...], int] = {}
    for p in pools:
        key = p.where[:2]
        sets[key] = sets.get(key, 0) + p.size
    return PoolCapacity(min(sets.values()), tuple(pools))


def check_capacity(networks: Iterable[PlannedNetwork], workloads: Iterable[Workload], *,
                   warn_percent: int = WARN_PERCENT) -> list[Finding]:
    """A warning per network at ≥ ``warn_percent`` of its pool, an error above 100 %."""
    demand: dict[str, int] = {}
    users: dict[str, list[Workload]] = {}
    for w in workloads:
        if w.replicas <= 0:
            continue
        for key in w.keys:
            demand[key] = demand.get(key, 0) + w.replicas
            users.setdefault(key, []).append(w)
    findings: list[Finding] = []
    seen: set[str] = set()
    for net in networks:
        wanted = demand.get(net.key, 0)
        if not wanted or net.external or net.key in seen:
            continue
        seen.add(net.key)
        cap = pools_capacity(net.pools)
        if cap is None:
            continue
        over = wanted > cap.size
        if not over and wanted * 100 < warn_percent * cap.size:
            continue
        who = users[net.key]
        top = heapq.nlargest(3, who, key=lambda u: u.replicas)
        largest = ", ".join(f"{u.where} ×{u.replicas}" for u in top)
        share = f"{wanted * 100 // cap.size}%" if cap.size else "no addresses"
        head = (f"network {net.key}: demand {wanted} addresses (pods × replicas of "
                f"{len(who)} selection(s); largest: {largest}) against a pool of size "
                f"{cap.size} ({cap.describe()})")
        if over:
            findings.append(Finding(
                net.ipam_path(), wanted,
                f"{head}: exceeds it by {wanted - cap.size}; expected demand <= {cap.size} "
                "(widen the range, add a range, or move pods to another network)"))
        else:
            findings.append(Finding(
                net.ipam_path(), wanted,
                f"{head}: {share} used; at {warn_percent}% and above a rolling update's surge "
                "pods or rescheduled pods may find no free address",
                severity="warning"))
    return findings
