"""harness.underlay: which host links a NAD needs, and making/removing them idempotently."""

from __future__ import annotations

import json

import pytest

from harness import underlay
from harness.underlay import Link, UnderlayError, links_for_nad, peer_name
from tests.dataplane.netns import Sandbox, link


@pytest.mark.no_root
def test_links_for_nad_kinds() -> None:
    assert links_for_nad({"type": "macvlan", "master": "np-under0"}) == [Link("np-under0")]
    assert links_for_nad(json.dumps({"type": "ipvlan", "master": "np-under0", "mtu": 9000})) == [
        Link("np-under0", "veth", 9000)]
    assert links_for_nad({"type": "bridge", "bridge": "np-br-dev", "mtu": 1400}) == [
        Link("np-br-dev", "bridge", 1400)]
    assert links_for_nad({"type": "host-device", "device": "np-hostdev0"}) == [
        Link("np-hostdev0", "veth", None, movable=True)]
    conflist = {"cniVersion": "1.0.0", "name": "x", "plugins": [
        {"type": "macvlan", "master": "np-storage0"}, {"type": "tuning"}, {"type": "sbr"}]}
    assert links_for_nad(conflist) == [Link("np-storage0")]


@pytest.mark.no_root
def test_links_for_nad_leaves_foreign_and_implicit_links_alone() -> None:
    assert links_for_nad({"type": "macvlan", "master": "eth1"}) == []
    assert links_for_nad({"type": "macvlan"}) == []  # default-route interface: the node's
    assert links_for_nad({"type": "bridge"}) == []  # cni0, made by the plugin
    assert links_for_nad({"type": "host-device", "pciBusID": "0000:00:1f.6"}) == []
    assert links_for_nad({"type": "ptp"}) == []


@pytest.mark.no_root
def test_peer_names_fit_ifnamsiz() -> None:
    assert peer_name("np-under0") == "np-under0-p"
    long = "np-storage-net0"
    assert len(long) == 15
    p = peer_name(long)
    assert p.startswith("np-") and len(p) <= 15 and p != long


def test_ensure_underlay_is_idempotent(sandbox: Sandbox) -> None:
    veth, br = sandbox.link_name("u"), sandbox.link_name("b")
    created = underlay.ensure_underlay([veth, Link(br, "bridge")])
    assert sorted(created) == sorted([veth, br])
    assert underlay.ensure_underlay([veth, Link(br, "bridge")]) == []
    a, p, b = link(None, veth), link(None, peer_name(veth)), link(None, br)
    assert a and p and b
    assert "UP" in a["flags"] and "LOWER_UP" in a["flags"] and "UP" in p["flags"]
    assert b["linkinfo"]["info_kind"] == "bridge"
    # MTU raised on demand (both veth ends)
    underlay.ensure_underlay([Link(veth, "veth", 9000)])
    a, p = link(None, veth), link(None, peer_name(veth))
    assert a and p and a["mtu"] == 9000 and p["mtu"] == 9000
    # a lost peer is repaired
    underlay.ip("link", "del", veth)
    assert underlay.ensure_underlay([veth]) == [veth]
    assert link(None, peer_name(veth)) is not None


def test_ensure_underlay_refuses_foreign_and_clashing(sandbox: Sandbox) -> None:
    with pytest.raises(UnderlayError, match="not named np-"):
        underlay.ensure_underlay(["eth9"])
    br = sandbox.link_name("b")
    underlay.ensure_underlay([Link(br, "bridge")])
    with pytest.raises(UnderlayError, match="not a veth"):
        underlay.ensure_underlay([br])


def test_remove_and_cleanup_all(sandbox: Sandbox) -> None:
    keep, gone1, gone2 = (sandbox.link_name(t) for t in ("k", "x", "y"))
    underlay.ensure_underlay([keep, gone1, Link(gone2, "bridge")])
    assert sorted(underlay.remove_underlay([gone1])) in ([gone1], sorted([gone1, peer_name(gone1)]))
    assert link(None, gone1) is None and link(None, peer_name(gone1)) is None
    others = {n for n in underlay.host_links() if n.startswith("np-")} - {
        keep, peer_name(keep), gone2}
    removed = underlay.cleanup_all(keep=[keep, *others])
    assert removed == [gone2]
    assert link(None, keep) is not None and link(None, peer_name(keep)) is not None
