"""Underlay segments: the links NADs name, on every node, joined the way a switch joins servers.

A NAD's ``master`` (macvlan, ipvlan, vlan) or ``bridge`` names a link that must exist on each
node a pod may land on. For the embedded cluster's nodes (each in its own network namespace,
:mod:`harness.nodens`) the harness makes, per link ``<name>`` (always ``np-…``):

* a host bridge ``<name>``: the segment's switch (documentation addresses only; test
  namespaces such as a DHCP server or a router join it with a veth of their own);
* ``master`` -> in every node a veth end named ``<name>`` whose peer is a port of the host
  bridge: macvlan children on two nodes reach each other through it, as NICs cabled to one
  switch do;
* ``bridge`` -> in every node a bridge ``<name>`` (which the bridge plugin then uses) with an
  uplink veth (``<name>-p`` inside) to a port of the host bridge, so bridge networks span
  the nodes too;
* ``device`` of host-device -> a veth pair inside each node, as today on one host (a spare
  NIC moves into the pod); no segment.

Host-side ports are named ``np-`` plus a hash of the link and node names. Everything is
idempotent; :func:`ensure` returns the links that did not exist before, so whoever made them
can remove them (:func:`remove`). The nodes' own links go with their namespaces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from harness import underlay
from harness.nodens import NodeNs
from harness.underlay import IFNAMSIZ, PREFIX, Link, UnderlayError, ip


def port_name(link: str, node: str) -> str:
    """The host bridge port of ``node``'s end of segment ``link``."""
    digest = hashlib.sha256(f"{link}\0{node}".encode()).hexdigest()
    return PREFIX + digest[: IFNAMSIZ - len(PREFIX)]


def _wanted(links: Iterable[Link | str]) -> list[Link]:
    merged: dict[str, Link] = {}
    for item in links:
        link = Link(item) if isinstance(item, str) else item
        prev = merged.get(link.name)
        if prev is not None:
            if prev.kind != link.kind:
                raise UnderlayError(f"{link.name} wanted both as {prev.kind} and as {link.kind}")
            mtus = [m for m in (prev.mtu, link.mtu) if m]
            link = Link(link.name, link.kind, max(mtus) if mtus else None,
                        prev.movable or link.movable)
        merged[link.name] = link
    return list(merged.values())


def host_links(nodes: Sequence[NodeNs], link: str) -> list[str]:
    """The host's side of segment ``link``: its bridge and each node's port."""
    return [link, *(port_name(link, n.name) for n in nodes)]


def ensure(nodes: Sequence[NodeNs], links: Iterable[Link | str]) -> list[str]:
    """Make every link on every node, joined across them (see the module doc); return the
    names of the links that did not exist before."""
    made: list[str] = []
    for link in _wanted(links):
        if link.movable:
            for node in nodes:
                if underlay.ensure_underlay([link], netns=node) and link.name not in made:
                    made.append(link.name)
            continue
        bridge = Link(link.name, "bridge", link.mtu)
        made += underlay.ensure_underlay([bridge])
        mtu = [] if link.mtu is None else ["mtu", str(link.mtu)]
        for node in nodes:
            port = port_name(link.name, node.name)
            inside = link.name if link.kind == "veth" else underlay.peer_name(link.name)
            if link.kind == "bridge":
                underlay.ensure_underlay([bridge], netns=node)
            have = underlay.host_links(node)
            if inside in have and port in underlay.host_links():
                if link.mtu:
                    ip("link", "set", port, "mtu", str(link.mtu))
                    ip("link", "set", inside, "mtu", str(link.mtu), netns=node)
                continue
            if inside in have:
                ip("link", "del", inside, netns=node)
            ip("link", "del", port, check=False)
            ip("link", "add", port, *mtu, "type", "veth", "peer", "name", inside, *mtu,
               "netns", str(node.file("net")))
            ip("link", "set", port, "master", link.name, "up")
            if link.kind == "bridge":
                ip("link", "set", inside, "master", link.name, netns=node)
            ip("link", "set", inside, "up", netns=node)
    return made


def remove(nodes: Sequence[NodeNs], names: Iterable[str]) -> list[str]:
    """Take segments down: each node's link (and uplink), the host ports and bridge."""
    removed: list[str] = []
    for name in names:
        for node in nodes:
            if node.exists():
                removed += [f"{node.name}:{n}"
                            for n in underlay.remove_underlay([name], netns=node)]
            removed += underlay.remove_underlay([port_name(name, node.name)])
        removed += underlay.remove_underlay([name])
    return removed
