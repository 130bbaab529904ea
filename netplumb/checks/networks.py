"""Checks across networks: duplicate NAD names, overlapping address pools on one link.

Both are sort-based (O(n log n)): a plan of thousands of networks checks in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import Finding, PlanError, format_path
from ..spec.config import CniConfig
from ..spec.ipam import Pool
from .names import repeated

DEFAULT_ROUTE_LINK = "<default-route interface>"


@dataclass(frozen=True)
class PlannedNetwork:
    """A network as the plan sees it: where it was declared, its NAD identity, its config."""

    name: str
    namespace: str
    config: CniConfig
    where: str = ""
    """Field path of its declaration (``networks[3]``) or the component's resource name."""
    external: bool = False
    """Declared to exist already (not created by this program)."""
    given_as: Literal["cni", "args", "config"] = "cni"
    """How ``where`` holds the config, so a finding names the key as it was written:
    ``cni``, the CNI JSON itself; ``args``, typed network args (the interface plugin's fields
    at ``where``, chained plugins under ``chain``); ``config``, network args carrying the CNI
    JSON whole under ``config``."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def link(self) -> str | None:
        """The host link its pools live on: master, bridge or device; None if it has none."""
        main = self.config.main
        link = main.master_link()
        if link is None and main.type in ("macvlan", "ipvlan"):
            return DEFAULT_ROUTE_LINK
        # Different VLANs of one link are different segments: same addresses are fine.
        vlan = getattr(main, "vlan_id", None) if main.type == "vlan" else (
            getattr(main, "vlan", None) if main.type == "bridge" else None)
        if link is not None and vlan:
            return f"{link} vlan {vlan}"
        return link

    def path(self, *sub: str | int) -> str:
        return format_path([self.where, *sub]) if self.where else format_path(list(sub))

    def plugin_path(self, index: int, *sub: str | int) -> str:
        """Field path inside the ``index``-th plugin of its config, as the input spells it."""
        if self.given_as == "args":
            return self.path(*(("chain", index - 1) if index else ()), *sub)
        cni: tuple[str | int, ...] = ("plugins", index) if self.config.is_list else ()
        return self.path(*(("config",) if self.given_as == "config" else ()), *cni, *sub)

    def ipam_path(self, *sub: str | int) -> str:
        """Field path inside its IPAM object (the interface plugin's)."""
        return self.plugin_path(0, "ipam", *sub)


def _pool_path(net: PlannedNetwork, pool: Pool) -> str:
    return net.ipam_path(*pool.where)


def check_duplicates(networks: Sequence[PlannedNetwork]) -> list[Finding]:
    """A NAD (namespace and name) is declared once."""
    return repeated((((n.namespace, n.name), n.path("name"), n.name) for n in networks),
                    "NAD")


def check_pool_overlaps(networks: Sequence[PlannedNetwork]) -> list[Finding]:
    """Two networks on the same host link must not hand out the same address.

    One sweep over pools sorted by (link, family, first address), keeping the pool that
    reaches furthest: overlaps are found without comparing every pair.
    """
    rows: list[tuple[str, int, int, int, int, int]] = []
    pools: list[tuple[PlannedNetwork, Pool]] = []
    for net in networks:
        link = net.link()
        if link is None:
            continue
        for pool in net.config.pools():
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


def check_networks(networks: Iterable[PlannedNetwork]) -> list[Finding]:
    """Every whole-plan network check; errors and warnings as :class:`Finding` s."""
    nets = list(networks)
    return [*check_duplicates(nets), *check_pool_overlaps(nets)]


def raise_on_errors(findings: Iterable[Finding], *, context: str = "plan check") -> None:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise PlanError(errors, context=context)
