"""Helpers for the data-plane tests: namespaces, links, CNI attachments, ICMP ping.

Plugins run through the project's one CNI invoker, :class:`harness.cni.Cni`. Test namespaces
are named ``npt-<hex>`` (pod namespaces of the node are containerd's ``cni-…``) and test host
links ``np-t<hex>`` (inside the ``np-`` prefix :mod:`harness.underlay` manages). Everything is
removed by the fixtures in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import cni, icmp, underlay
from harness.cni import Cni, CniError
from harness.privilege import is_root

__all__ = ["Cni", "CniError"]

NS_PREFIX = "npt-"
LINK_PREFIX = "np-t"


def token(n: int = 6) -> str:
    return secrets.token_hex(n // 2 + 1)[:n]


def why_not_runnable() -> str | None:
    """None if the data-plane tests can run here, else the reason to skip."""
    if sys.platform != "linux":
        return "data-plane tests need Linux"
    if not is_root():
        return "data-plane tests need root (network namespaces, links)"
    if not (shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")):
        return "iproute2 `ip` is missing"
    return None


def probe_driver(kind: str) -> str | None:
    """Try to create a ``kind`` link (ipvlan, vlan, dummy, macvlan, ...) in a scratch
    namespace; None if the kernel supports it, else the error text."""
    ns = f"{NS_PREFIX}probe{token(4)}"
    underlay.ip("netns", "add", ns)
    try:
        if kind in ("ipvlan", "vlan", "macvlan", "macvtap"):
            underlay.ip("link", "add", "pa", "type", "veth", "peer", "name", "pb", netns=ns)
            extra = ["id", "100"] if kind == "vlan" else []
            argv = ["link", "add", "link", "pa", "name", "probe0", "type", kind, *extra]
        else:
            argv = ["link", "add", "probe0", "type", kind]
        try:
            underlay.ip(*argv, netns=ns)
        except underlay.IpError as e:
            return e.stderr or str(e)
        return None
    finally:
        underlay.ip("netns", "del", ns, check=False)


def require_driver(drivers: Mapping[str, str | None], kind: str) -> None:
    """Skip the calling test, naming the driver, if the kernel lacks ``kind``."""
    import pytest

    err = drivers.get(kind)
    if err is not None:
        pytest.skip(f"kernel has no {kind} link driver here ({err})")


@dataclass
class Attachment:
    conf: dict[str, Any]
    cid: str
    netns: str
    ifname: str


@dataclass
class Sandbox:
    """Test namespaces, host links and CNI attachments, all undone by :meth:`close`
    (DELs first, then namespaces, then links) even when a step fails."""

    cni: Cni
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def netns(self) -> str:
        name = f"{NS_PREFIX}{token(8)}"
        underlay.ip("netns", "add", name)
        self.namespaces.append(name)
        underlay.ip("link", "set", "lo", "up", netns=name)
        return name

    def link_name(self, tag: str = "") -> str:
        name = f"{LINK_PREFIX}{tag}{token(6)}"[: underlay.IFNAMSIZ - 2]
        self.links.append(name)
        return name

    def add(self, conf: dict[str, Any], netns: str, ifname: str = "net1",
            cid: str | None = None, args: str = "") -> dict[str, Any]:
        cid = cid or f"npt{token(12)}"
        att = Attachment(conf, cid, netns, ifname)
        self.attachments.append(att)  # before ADD: a half-done ADD is DELed too
        return self.cni.add(conf, cid, netns, ifname, args)

    def delete(self, att: Attachment) -> None:
        self.cni.delete(att.conf, att.cid, att.netns, att.ifname)
        self.attachments.remove(att)

    def close(self) -> list[str]:
        errors: list[str] = []
        for att in reversed(self.attachments):
            try:
                ns = att.netns if Path(f"/run/netns/{att.netns}").exists() else None
                self.cni.delete(att.conf, att.cid, ns, att.ifname)
            except Exception as e:
                errors.append(f"DEL {att.cid}: {e}")
        self.attachments.clear()
        for ns in reversed(self.namespaces):
            underlay.ip("netns", "del", ns, check=False)
        self.namespaces.clear()
        with contextlib.suppress(Exception):
            underlay.remove_underlay([n for n in self.links if n.startswith("np-")])
        self.links.clear()
        return errors


# --------------------------------------------------------------------------- inspection


def addresses(netns: str, ifname: str) -> list[str]:
    """``addr/prefix`` of ``ifname`` in ``netns`` (global scope)."""
    out = []
    for li in underlay.ip_json("addr", "show", "dev", ifname, netns=netns):
        for a in li.get("addr_info") or []:
            if a.get("scope") == "global":
                out.append(f"{a['local']}/{a['prefixlen']}")
    return out


def link(netns: str | None, ifname: str) -> dict[str, Any] | None:
    try:
        found = underlay.ip_json("-d", "link", "show", "dev", ifname, netns=netns)
    except underlay.IpError:
        return None
    return found[0] if found else None


def leftover_namespaces() -> list[str]:
    return [n for n in underlay.netns_names() if n.startswith(NS_PREFIX)]


def leftover_links() -> list[str]:
    return sorted(n for n in underlay.host_links() if n.startswith(LINK_PREFIX))


def reservations(data_dir: Path, network: str) -> list[str]:
    """host-local's reservation files (one per allocated address) for ``network``."""
    return sorted(cni.reservations(data_dir / network))


ping = icmp.ping
