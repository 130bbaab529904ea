"""The probe pinger's shell program, run by BusyBox (the toolbox image's shell and tools)
in real network namespaces: what it reports is what :func:`parse_report` and :func:`judge`
read.

Two test namespaces joined by a veth pair named ``net1`` on each side (198.18.0.0/24, a
benchmarking range); the pinger side has a default route via the peer. BusyBox's applets are
linked into a temporary directory that is the script's only PATH, as in the image.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import underlay
from netplumb.ops.probes import Target, judge, parse_report, pinger_script
from tests.dataplane.netns import Sandbox


@pytest.fixture
def busybox_path(tmp_path: Path) -> Path:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (Debian: busybox-static), the toolbox's shell")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in applets:
        (bin_dir / applet).symlink_to(busybox)
    return bin_dir


def test_pinger_reports_link_addresses_routes_and_pings(sandbox: Sandbox, busybox_path: Path,
                                                        tmp_path: Path) -> None:
    peer, me = sandbox.netns(), sandbox.netns()
    underlay.ip("link", "add", "net1", "netns", peer, "type", "veth", "peer", "name", "net1",
                "netns", me)
    for ns, addr in ((peer, "198.18.0.1/24"), (me, "198.18.0.2/24")):
        underlay.ip("addr", "add", addr, "dev", "net1", netns=ns)
        underlay.ip("link", "set", "net1", "up", netns=ns)
    underlay.ip("route", "add", "default", "via", "198.18.0.1", "dev", "net1", netns=me)
    [link] = underlay.ip_json("link", "show", "dev", "net1", netns=me)
    report_file = tmp_path / "termination-log"
    script = pinger_script(["198.18.0.1", "198.18.0.3"], report_to=str(report_file))
    proc = subprocess.run(
        [underlay.ip_binary(), "netns", "exec", me, str(busybox_path / "sh"), "-c", script],
        env={"PATH": str(busybox_path)}, capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)  # 198.18.0.3 does not answer
    assert report_file.is_file(), (proc.stdout, proc.stderr)
    assert report_file.read_text() == proc.stdout
    report = parse_report(report_file.read_text())
    assert report.complete
    assert report.mac == str(link["address"]).lower()
    assert report.addresses == ["198.18.0.2/24"]
    assert report.routes[4] == ["default via 198.18.0.1 dev net1"]
    assert report.pings["198.18.0.1"] == (True, "")
    assert report.pings["198.18.0.3"][0] is False
    problems, notes = judge(report, [Target("198.18.0.1", "probe peer"),
                                     Target("198.18.0.3", "ns/absent")],
                            ["198.18.0.2"], str(link["address"]), ["198.18.0.1"])
    assert notes == ["default route via 198.18.0.1 on net1 is in place"]
    assert [p.split(":")[0] for p in problems] == ["no answer from 198.18.0.3 (ns/absent)"]
