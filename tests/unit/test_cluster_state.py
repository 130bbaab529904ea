"""The embedded cluster's state file: a file in another shape is no state (not a crash)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cluster import layout
from harness.cluster.lifecycle import _load_state, _status

PORTS = {"etcd_client": 1, "etcd_peer": 2, "apiserver": 3, "controller_manager": 4,
         "scheduler": 5}


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"ports": PORTS}),                                   # no server
    json.dumps({"ports": {"etcd": 1}, "server": "https://x"}),      # other port names
    json.dumps({"server": "https://x"}),                            # no ports
    json.dumps({"ports": PORTS, "server": "https://x", "node": True}),  # one-node harness's
    json.dumps({"ports": PORTS, "server": "https://x", "nodes": 99}),   # nodes out of range
])
def test_a_state_file_in_another_shape_reads_as_none(tmp_path: Path, content: str) -> None:
    lay = layout(tmp_path)
    lay.state_file.parent.mkdir(parents=True, exist_ok=True)
    lay.state_file.write_text(content)
    assert _load_state(lay) is None
    info = _status(lay)
    assert not info.ready and info.server is None


def test_a_state_file_of_this_shape_is_read(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    lay.state_file.parent.mkdir(parents=True, exist_ok=True)
    lay.state_file.write_text(json.dumps({"ports": PORTS, "server": "https://198.19.255.1:3",
                                          "nodes": 0}))
    state = _load_state(lay)
    assert state is not None and state["server"] == "https://198.19.255.1:3"
    info = _status(lay)
    assert info.server == "https://198.19.255.1:3"
    assert not info.ready  # no process runs
    assert info.nodes == [] and lay.node_count() == 0
