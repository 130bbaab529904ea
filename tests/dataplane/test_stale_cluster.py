"""What a stopped session's cluster leaves on the host is cleared before the next cluster
records the host (:func:`harness.node.clear_stale`), so taking that next cluster down puts
back the host as it was, not the leftovers. The leftover here is a real one: a node's
namespaces (under a namespace root of the test's own) with a veth to a host bridge of the
test's own, standing in for the cluster bridge."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.node as node
from harness import nodens, underlay
from harness.cluster import processes
from harness.node import host

from .netns import LINK_PREFIX, token


@pytest.fixture
def ghost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, str]]:
    """A node ``ghost-<hex>`` of a cluster whose processes ended: its namespaces, a veth from
    it to bridge ``np-t…`` on the host. Yields (node, bridge, host end of the veth)."""
    monkeypatch.setattr(nodens, "NS_ROOT", tmp_path / "nodes")
    bridge, port = f"{LINK_PREFIX}b{token()}", f"{LINK_PREFIX}p{token()}"
    monkeypatch.setattr(node, "CLUSTER_BRIDGE", bridge)
    name = f"ghost-{token()}"
    ns = nodens.NodeNs(name, tmp_path / "fs")
    made: list[str] = []
    underlay.ip("link", "add", bridge, "type", "bridge")
    try:
        ns.create(made)
        subprocess.run([*ns.prefix(mount=False), "ip", "link", "add", "up0", "type", "veth",
                        "peer", "name", port, "netns", "1"], check=True, capture_output=True)
        underlay.ip("link", "set", port, "master", bridge)
        yield name, bridge, port
    finally:
        ns.destroy()
        for link in (port, bridge):
            underlay.ip("link", "delete", link, check=False)
        for path in made:
            os.rmdir(path)


def test_a_stopped_clusters_nodes_and_bridge_are_cleared(
        ghost: tuple[str, str, str]) -> None:
    name, bridge, port = ghost
    assert {bridge, port} <= set(host.links())
    said: list[str] = []
    removed = node.clear_stale(said.append)
    assert removed == [f"namespaces of node {name}", f"link {bridge}"], said
    assert nodens.all_node_names() == []
    assert not {bridge, port} & set(host.links()), "the veth went with the node's namespace"
    assert any("no node left on it" in line for line in said), said


def test_a_node_that_still_runs_is_refused_and_kept(ghost: tuple[str, str, str]) -> None:
    name, bridge, _port = ghost
    ns = nodens.NodeNs(name)
    sleeper = subprocess.Popen([*ns.prefix(), "sleep", "60"])
    try:
        for _ in range(200):  # nsenter has entered once its pid is inside the node
            if ns.pids():
                break
            time.sleep(0.05)
        with pytest.raises(processes.ClusterError, match=f"node {name} of another cluster runs"):
            node.clear_stale(lambda _msg: None)
        assert nodens.all_node_names() == [name]
        assert bridge in host.links()
    finally:
        sleeper.kill()
        sleeper.wait()
