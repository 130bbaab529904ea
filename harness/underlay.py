"""Underlay links for secondary networks: the host links that NADs name as ``master``/``device``.

On a real node a macvlan NAD's ``master`` is a NIC and a host-device NAD's ``device`` is a spare
NIC or VF. Here the harness makes them in the host network namespace:

* ``master`` of macvlan / ipvlan / vlan -> a **veth pair** ``<name>`` + ``<peer>``, both up. The
  plugins hang their child interfaces off ``<name>``; children of one master in macvlan
  ``bridge`` mode (the default) reach each other, like pods on one NIC.
* ``bridge`` of the bridge plugin -> a **Linux bridge** (the plugin would create it itself, but it
  never removes it; making it here puts it under :func:`cleanup_all`).
* ``device`` of host-device -> a **veth pair**; ``<name>`` is moved into the pod (renamed to the
  pod's interface name) and back on DEL; the peer stays behind, so the pair is "present" while
  one end is inside a pod.

Only links whose name starts with :data:`PREFIX` (``np-``) are ever created or removed: any other
name is the node's business (as on a real node), :func:`links_for_nad` leaves it out and
:func:`ensure_underlay` refuses it. Everything is idempotent.

The module also holds the small ``ip`` wrapper (:func:`ip`, :func:`ip_json`) the harness and
the data-plane tests share.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.nodens import Netns, NodeNs, PodNetns

log = logging.getLogger("netplumb.underlay")

PREFIX = "np-"
"""Every host link the harness owns starts with this."""
IFNAMSIZ = 15
"""Longest Linux interface name."""

LinkKind = Literal["veth", "bridge"]

# plugin type -> config keys naming a host link the plugin needs, and what to make for it
_NEEDS: dict[str, tuple[tuple[str, LinkKind, bool], ...]] = {
    "macvlan": (("master", "veth", False),),
    "ipvlan": (("master", "veth", False),),
    "vlan": (("master", "veth", False),),
    "bridge": (("bridge", "bridge", False),),
    "host-device": (("device", "veth", True),),
}

_lock = threading.Lock()


class UnderlayError(RuntimeError):
    """A host link could not be created, or exists with the wrong kind."""


class IpError(RuntimeError):
    """``ip`` exited non-zero."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        self.argv = list(argv)
        self.code = code
        self.stderr = stderr.strip()
        super().__init__(f"{' '.join(self.argv)}: exit {code}: {self.stderr}")

    @property
    def not_found(self) -> bool:
        s = self.stderr.lower()
        return "cannot find device" in s or "does not exist" in s or "no such" in s


def ip_binary() -> str:
    """Path of iproute2's ``ip`` (raises if missing)."""
    found = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise UnderlayError("iproute2 `ip` not found on PATH")
    return found


Where = Netns | NodeNs
"""Where ``ip`` runs: a named namespace of the host (``None``: the host's own), a pod's
namespace on a node, or a node's own network namespace."""


def ip(*args: str, netns: Where | None = None, check: bool = True,
       timeout: float = 30.0) -> str:
    """Run ``ip [-n netns] args...`` and return stdout; :class:`IpError` on failure. A pod's
    namespace (:class:`~harness.nodens.PodNetns`) is entered inside its node."""
    if isinstance(netns, NodeNs):
        argv = [*netns.prefix(mount=False), ip_binary(), *args]
    elif isinstance(netns, PodNetns):
        argv = [*netns.node.prefix(net=False), ip_binary(), "-n", netns.name, *args]
    else:
        argv = [ip_binary(), *(("-n", netns) if netns else ()), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise IpError(argv, proc.returncode, proc.stderr)
    return proc.stdout


def ip_json(*args: str, netns: Where | None = None) -> list[dict[str, Any]]:
    """``ip -j ...`` decoded (an empty list when ``ip`` prints nothing)."""
    out = ip("-j", *args, netns=netns)
    if not out.strip():
        return []
    data = json.loads(out)
    return list(data) if isinstance(data, list) else [data]


_ip = ip


def exec_argv(netns: Netns, argv: list[str]) -> list[str]:
    """``argv`` run inside ``netns``."""
    if isinstance(netns, PodNetns):
        return netns.exec_argv(argv)
    return [ip_binary(), "netns", "exec", netns, *argv]


def netns_names() -> list[str]:
    """Every named network namespace (``ip netns list``)."""
    return [str(n["name"]) for n in ip_json("netns", "list")]


# --------------------------------------------------------------------------- what NADs need


@dataclass(frozen=True)
class Link:
    """A host link the harness provides for a NAD."""

    name: str
    kind: LinkKind = "veth"
    mtu: int | None = None
    """At least this MTU (a plugin's ``mtu`` must not exceed its master's)."""
    movable: bool = False
    """``name`` may be moved into a pod (host-device): the pair counts as present while the
    peer is in the host namespace."""

    @property
    def peer(self) -> str | None:
        """The veth peer's name (``None`` for bridges)."""
        return peer_name(self.name) if self.kind == "veth" else None


def peer_name(name: str) -> str:
    """Name of the veth peer of ``name``: ``<name>-p`` if it fits, else a hash-based ``np-…``."""
    if len(name) + 2 <= IFNAMSIZ:
        return f"{name}-p"
    return PREFIX + hashlib.sha256(name.encode()).hexdigest()[: IFNAMSIZ - len(PREFIX) - 1] + "p"


def _plugins(config: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    conf: Any = json.loads(config) if isinstance(config, str) else config
    if not isinstance(conf, Mapping):
        raise ValueError("a CNI config must be a JSON object")
    if "plugins" in conf:
        plugins = conf.get("plugins") or []
        return [p for p in plugins if isinstance(p, Mapping)]
    return [conf]


def links_for_nad(config: Mapping[str, Any] | str) -> list[Link]:
    """The host links a NAD's CNI config needs (only ``np-`` names; see module doc).

    ``config`` is the NAD's ``spec.config``: a JSON string or the decoded object, a single
    plugin config or a conflist (``plugins``). An empty list means the NAD needs nothing from
    the harness (ptp, a master outside ``np-``, host-device by ``hwaddr``/``pciBusID``, ...).
    """
    out: dict[str, Link] = {}
    for plugin in _plugins(config):
        for key, kind, movable in _NEEDS.get(str(plugin.get("type", "")), ()):
            name = plugin.get(key)
            if not isinstance(name, str) or not name.startswith(PREFIX):
                continue
            mtu = plugin.get("mtu")
            mtu = int(mtu) if isinstance(mtu, int) and mtu > 0 else None
            prev = out.get(name)
            if prev is not None:
                mtus = [m for m in (prev.mtu, mtu) if m]
                mtu = max(mtus) if mtus else None
                movable = movable or prev.movable
            out[name] = Link(name, kind, mtu, movable)
    return list(out.values())


# --------------------------------------------------------------------------- host state


def host_links(netns: NodeNs | None = None) -> dict[str, dict[str, Any]]:
    """Links in the host namespace (or a node's) by name (``ip -d -j link show``)."""
    return {str(li["ifname"]): li for li in ip_json("-d", "link", "show", netns=netns)}


def _kind_of(info: Mapping[str, Any]) -> str:
    return str((info.get("linkinfo") or {}).get("info_kind", ""))


def _check_name(name: str) -> None:
    if not name.startswith(PREFIX):
        raise UnderlayError(f"refusing to manage host link {name!r}: not named {PREFIX}*")
    if len(name) > IFNAMSIZ or "/" in name or " " in name:
        raise UnderlayError(f"invalid link name {name!r}")


def _ensure_one(link: Link, links: Mapping[str, Mapping[str, Any]],
                netns: NodeNs | None = None) -> bool:
    """Create/fix one link (in the host namespace, or a node's); True if it was created."""
    _check_name(link.name)

    def ip(*args: str, check: bool = True) -> str:
        return _ip(*args, netns=netns, check=check)

    created = False
    mtu = [] if link.mtu is None else ["mtu", str(link.mtu)]
    if link.kind == "bridge":
        info = links.get(link.name)
        if info is None:
            ip("link", "add", link.name, *mtu, "type", "bridge")
            created = True
        elif _kind_of(info) != "bridge":
            raise UnderlayError(f"{link.name} exists but is a {_kind_of(info) or 'device'}, "
                                "not a bridge")
        elif link.mtu and int(info.get("mtu", 0)) < link.mtu:
            ip("link", "set", link.name, "mtu", str(link.mtu))
        ip("link", "set", link.name, "up")
        return created

    peer = peer_name(link.name)
    info, pinfo = links.get(link.name), links.get(peer)
    for n, i in ((link.name, info), (peer, pinfo)):
        if i is not None and _kind_of(i) != "veth":
            raise UnderlayError(f"{n} exists but is a {_kind_of(i) or 'device'}, not a veth")
    if info is None and pinfo is None:
        ip("link", "add", link.name, *mtu, "type", "veth", "peer", "name", peer, *mtu)
        created = True
    elif info is None:
        # the end is elsewhere: inside a pod (host-device) -> fine; otherwise recreate
        if not link.movable:
            ip("link", "del", peer, check=False)
            ip("link", "add", link.name, *mtu, "type", "veth", "peer", "name", peer, *mtu)
            created = True
    elif pinfo is None:
        # peer lost (renamed/moved by someone): start over
        ip("link", "del", link.name, check=False)
        ip("link", "add", link.name, *mtu, "type", "veth", "peer", "name", peer, *mtu)
        created = True
    ends = [(link.name, info), (peer, pinfo)]
    if created:
        ends = [(link.name, None), (peer, None)]
    for n, i in ends:
        if i is None and not created:
            continue  # the movable end is inside a pod
        if not created and link.mtu and int((i or {}).get("mtu", 0)) < link.mtu:
            ip("link", "set", n, "mtu", str(link.mtu))
        ip("link", "set", n, "up")
    return created


def ensure_underlay(links: Iterable[Link | str], netns: NodeNs | None = None) -> list[str]:
    """Make sure every link exists in the host namespace (or the node ``netns``'s) and is up;
    return the names created.

    A plain string means a veth pair (a macvlan/ipvlan master); pass :class:`Link` objects
    from :func:`links_for_nad` for bridges, MTUs and host-device links. Idempotent and
    thread-safe; raises :class:`UnderlayError` for names outside ``np-`` or kind clashes.
    """
    wanted: dict[str, Link] = {}
    for item in links:
        link = Link(item) if isinstance(item, str) else item
        prev = wanted.get(link.name)
        if prev is not None and prev.kind != link.kind:
            raise UnderlayError(f"{link.name} wanted both as {prev.kind} and as {link.kind}")
        if prev is not None:
            mtus = [m for m in (prev.mtu, link.mtu) if m]
            link = Link(link.name, link.kind, max(mtus) if mtus else None,
                        prev.movable or link.movable)
        wanted[link.name] = link
    created: list[str] = []
    if not wanted:
        return created
    with _lock:
        current = host_links(netns)
        for link in wanted.values():
            for attempt in (1, 2):
                try:
                    if _ensure_one(link, current, netns):
                        created.append(link.name)
                        log.info("underlay: created %s %s", link.kind, link.name)
                    break
                except IpError as e:
                    # another process (a test, a second agent) created it meanwhile: look again
                    if attempt == 1 and "file exists" in e.stderr.lower():
                        current = host_links(netns)
                        continue
                    raise UnderlayError(f"underlay link {link.name}: {e}") from e
    return created


def remove_underlay(names: Iterable[str], netns: NodeNs | None = None) -> list[str]:
    """Delete these ``np-`` links (and their veth peers) from the host namespace (or the node
    ``netns``'s); return what was removed."""
    removed: list[str] = []
    with _lock:
        current = host_links(netns)
        for name in names:
            _check_name(name)
            for n in (name, peer_name(name)):
                if n in current:
                    try:
                        ip("link", "del", n, netns=netns)
                        removed.append(n)
                    except IpError as e:
                        if not e.not_found:  # deleting one veth end removes the other
                            raise
                    current = host_links(netns)
    return removed


def cleanup_all(keep: Iterable[str] = ()) -> list[str]:
    """Delete every host link named ``np-*`` except ``keep``; return the names removed.

    Children hanging off them (macvlans in pods) disappear with them: call this when no pod
    uses the underlay any more.
    """
    keep_set = set(keep) | {peer_name(k) for k in keep}
    removed: list[str] = []
    with _lock:
        for name in sorted(host_links()):
            if not name.startswith(PREFIX) or name in keep_set:
                continue
            try:
                ip("link", "del", name)
                removed.append(name)
            except IpError as e:
                if not e.not_found:
                    raise
    return removed
