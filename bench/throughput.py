"""Pod-to-pod TCP throughput (iperf3) between two network namespaces, over four paths set up
in one run, printed side by side with two ratios:

* macvlan (bridge mode, both pods on one ``np-`` veth underlay) vs a plain veth pair;
* bridge (Linux bridge on an ``np-`` link) with MTU 9000 vs with MTU 1500.

macvlan and bridge attachments are made by the real CNI plugins (``macvlan``, ``bridge``,
``host-local``) from the tool cache's bin dir, run directly the way a runtime does; the veth
pair is made with ``ip``. Addresses come from documentation ranges and live only inside the
two namespaces this script creates; every namespace, link and IPAM file it made is removed at
the end, also on failure.

Run (root; iperf3 from Debian: ``apt-get install -y iperf3``; ``make tools`` for the plugins):

    .venv/bin/python bench/throughput.py [--seconds 3] [--rounds 5]

Each round runs one short iperf3 test per path (single TCP stream, one-off server bound to the
receiving namespace's address); the order of the paths rotates between rounds. The table shows
the median, min and max over the rounds; ratios are of the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import tools, underlay
from harness.privilege import is_root
from netplumb.hostpaths import NETNS_DIR

PLUGINS = ("macvlan", "bridge", "host-local")
PORT = 5201
NS_PREFIX = "npb-"


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Route:
    """One measured path: receiver address in ``server_ns``, sender address in ``client_ns``."""

    label: str
    client_ns: str
    client_ip: str
    server_ns: str
    server_ip: str
    mtu: int


@dataclass
class Attachment:
    conf: dict[str, Any]
    container_id: str
    netns: str
    ifname: str


@dataclass
class Lab:
    """Namespaces, host links and CNI attachments; :meth:`close` undoes all of them."""

    bin_dir: Path
    ipam_dir: Path
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def netns(self) -> str:
        name = f"{NS_PREFIX}{secrets.token_hex(4)}"
        self.namespaces.append(name)  # before creation: a half-made one is removed too
        underlay.ip("netns", "add", name)
        underlay.ip("link", "set", "lo", "up", netns=name)
        return name

    def cni(self, command: str, att: Attachment) -> dict[str, Any]:
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": att.container_id,
            "CNI_NETNS": str(netns) if (netns := Path(NETNS_DIR) / att.netns).exists() else "",
            "CNI_IFNAME": att.ifname,
            "CNI_PATH": str(self.bin_dir),
        }
        proc = subprocess.run([str(self.bin_dir / str(att.conf["type"]))],
                              input=json.dumps(att.conf).encode(), env=env,
                              capture_output=True, timeout=60, check=False)
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0:
            raise BenchError(f"{att.conf['type']} {command} ({att.ifname} in {att.netns}): "
                             f"{out or proc.stderr.decode(errors='replace').strip()}")
        data = json.loads(out) if out else {}
        return data if isinstance(data, dict) else {}

    def attach(self, conf: dict[str, Any], netns: str, ifname: str) -> str:
        """CNI ADD; returns the address (without prefix) the plugin gave ``ifname``."""
        att = Attachment(conf, f"npb{secrets.token_hex(8)}", netns, ifname)
        self.attachments.append(att)  # before ADD: a half-done ADD is DELed too
        result = self.cni("ADD", att)
        ips = [str(i["address"]).split("/")[0] for i in result.get("ips") or []]
        if not ips:
            raise BenchError(f"{conf['type']} ADD gave {ifname} in {netns} no address")
        return ips[0]

    def close(self) -> list[str]:
        problems: list[str] = []
        for att in reversed(self.attachments):
            try:
                self.cni("DEL", att)
            except Exception as e:
                problems.append(str(e))
        self.attachments.clear()
        for ns in reversed(self.namespaces):
            with contextlib.suppress(Exception):
                underlay.ip("netns", "del", ns, check=False)
        self.namespaces.clear()
        try:
            underlay.remove_underlay(self.links)
        except Exception as e:
            problems.append(f"removing {self.links}: {e}")
        self.links.clear()
        return problems


def host_local(lab: Lab, subnet: str) -> dict[str, Any]:
    return {"type": "host-local", "dataDir": str(lab.ipam_dir), "ranges": [[{"subnet": subnet}]]}


def build(lab: Lab) -> list[Route]:
    """Two namespaces joined four ways; the measured paths."""
    tag = secrets.token_hex(3)
    a, b = lab.netns(), lab.netns()
    paths: list[Route] = []

    # plain veth pair, one end in each namespace (never in the host namespace)
    underlay.ip("link", "add", "name", "vx0", "netns", a, "type", "veth",
                "peer", "name", "vx0", "netns", b)
    for ns, addr in ((a, "192.0.2.1/24"), (b, "192.0.2.2/24")):
        underlay.ip("addr", "add", addr, "dev", "vx0", netns=ns)
        underlay.ip("link", "set", "vx0", "up", netns=ns)
    paths.append(Route("veth pair", a, "192.0.2.1", b, "192.0.2.2", 1500))

    # macvlan, bridge mode, both children on one np- veth underlay
    master = f"np-bm{tag}"
    lab.links.append(master)
    underlay.ensure_underlay([master])
    mv = {"cniVersion": "1.0.0", "name": f"npb-macvlan-{tag}", "type": "macvlan",
          "master": master, "mode": "bridge", "ipam": host_local(lab, "198.51.100.0/24")}
    ips = [lab.attach(mv, ns, "mv0") for ns in (a, b)]
    paths.append(Route("macvlan (bridge mode)", a, ips[0], b, ips[1], 1500))

    # bridge plugin, MTU 1500 and MTU 9000, each on its own np- bridge
    for mtu, subnet, ifname in ((1500, "203.0.113.0/25", "br15"),
                                (9000, "203.0.113.128/25", "br90")):
        br = f"np-b{mtu // 1000}{tag}"
        lab.links.append(br)
        underlay.ensure_underlay([underlay.Link(br, "bridge", mtu)])
        conf = {"cniVersion": "1.0.0", "name": f"npb-bridge{mtu}-{tag}", "type": "bridge",
                "bridge": br, "mtu": mtu, "isGateway": False, "ipMasq": False,
                "ipam": host_local(lab, subnet)}
        ips = [lab.attach(conf, ns, ifname) for ns in (a, b)]
        paths.append(Route(f"bridge MTU {mtu}", a, ips[0], b, ips[1], mtu))

    for p in paths:  # the MTU asked for is the MTU the pods got
        for ns in (a, b):
            dev = [li for li in underlay.ip_json("addr", "show", netns=ns)
                   if any(ai.get("local") in (p.client_ip, p.server_ip)
                          for ai in li.get("addr_info") or [])]
            if not dev:
                raise BenchError(f"{p.label}: no interface with its address in {ns}")
            name = str(dev[0]["ifname"])
            got = int(underlay.ip_json("link", "show", "dev", name, netns=ns)[0]["mtu"])
            if got != p.mtu:
                raise BenchError(f"{p.label}: {name} in {ns} has MTU {got}, expected {p.mtu}")
    return paths


# --------------------------------------------------------------------------- iperf3


def _in_ns(ns: str, *argv: str) -> list[str]:
    return [underlay.ip_binary(), "netns", "exec", ns, *argv]


def iperf(iperf3: str, p: Route, seconds: int) -> tuple[float, int]:
    """One single-stream TCP test ``client -> server``; (bits/s received, retransmits)."""
    server = subprocess.Popen(
        _in_ns(p.server_ns, iperf3, "-s", "-1", "-B", p.server_ip, "-p", str(PORT)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client_argv = _in_ns(p.client_ns, iperf3, "-c", p.server_ip, "-B", p.client_ip,
                             "-p", str(PORT), "-t", str(seconds), "-J",
                             "--connect-timeout", "2000")
        deadline = time.monotonic() + 10
        while True:
            proc = subprocess.run(client_argv, capture_output=True, text=True,
                                  timeout=seconds + 30, check=False)
            try:
                data = json.loads(proc.stdout)
            except ValueError:
                data = {"error": proc.stdout.strip() or proc.stderr.strip()}
            err = str(data.get("error") or "")
            if proc.returncode == 0 and not err:
                break
            if "refused" in err.lower() and time.monotonic() < deadline:
                time.sleep(0.1)  # server not listening yet (one-off: a refused try is free)
                continue
            raise BenchError(f"iperf3 {p.label}: {err or f'exit {proc.returncode}'}")
        end = data["end"]
        bps = float(end["sum_received"]["bits_per_second"])
        retr = int(end.get("sum_sent", {}).get("retransmits", 0))
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        return bps, retr
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=3, help="iperf3 -t per test (default 3)")
    ap.add_argument("--rounds", type=int, default=5, help="tests per path (default 5)")
    args = ap.parse_args(argv)
    if not 1 <= args.seconds <= 30 or not 1 <= args.rounds <= 10:
        ap.error("--seconds must be 1..30 and --rounds 1..10")
    if not is_root():
        print("throughput: needs root (network namespaces, links)", file=sys.stderr)
        return 2
    iperf3 = shutil.which("iperf3")
    if iperf3 is None:
        print("throughput: iperf3 not found (Debian: apt-get install -y iperf3)", file=sys.stderr)
        return 2
    bin_dir = tools.bin_dir()
    if not all((bin_dir / p).is_file() for p in PLUGINS):
        bin_dir = tools.ensure(["cni-plugins"])

    tmp = Path(tempfile.mkdtemp(prefix="np-throughput-bench-"))
    lab = Lab(bin_dir, tmp / "ipam")
    results: dict[str, list[tuple[float, int]]] = {}
    labels: list[str] = []
    try:
        paths = build(lab)
        labels = [p.label for p in paths]
        results = {p.label: [] for p in paths}
        for r in range(args.rounds):
            order = paths[r % len(paths):] + paths[:r % len(paths)]
            for p in order:
                results[p.label].append(iperf(iperf3, p, args.seconds))
                print(f"[bench] round {r + 1}: {p.label}: "
                      f"{results[p.label][-1][0] / 1e9:.2f} Gbit/s", file=sys.stderr)
    except (BenchError, underlay.IpError, underlay.UnderlayError,
            subprocess.TimeoutExpired) as e:
        print(f"throughput: {e}", file=sys.stderr)
        return 1
    finally:
        problems = lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if problems:
            print(f"throughput: cleanup problems: {'; '.join(problems)}", file=sys.stderr)

    med = {k: statistics.median(b for b, _ in v) for k, v in results.items()}
    print(f"\niperf3 TCP throughput pod-to-pod (two namespaces, 1 stream, -t {args.seconds}, "
          f"{args.rounds} round(s); Gbit/s)")
    head = f"{'path':<24} {'median':>8} {'min':>8} {'max':>8} {'retransmits':>12}"
    print(head)
    print("-" * len(head))
    for label in labels:
        v = results[label]
        bps = [b for b, _ in v]
        print(f"{label:<24} {med[label] / 1e9:>8.2f} {min(bps) / 1e9:>8.2f} "
              f"{max(bps) / 1e9:>8.2f} {sum(r for _, r in v):>12}")
    print(f"\nmacvlan / veth pair          {med['macvlan (bridge mode)'] / med['veth pair']:.2f}")
    print(f"bridge MTU 9000 / MTU 1500   {med['bridge MTU 9000'] / med['bridge MTU 1500']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
