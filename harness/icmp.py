"""ICMP echo from inside a network namespace, without iputils (a raw socket in Python)."""

from __future__ import annotations

import subprocess
import sys

from harness import underlay
from harness.nodens import Netns

_PING = r"""
import os, select, socket, struct, sys, time
dst, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
size, df = int(sys.argv[4]), sys.argv[5] == "1"
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
if df: s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, count + 1):
    payload = (b"netplumb" * (size // 8 + 1))[:size]
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    s.sendto(pkt, (dst, 0))
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        if not select.select([s], [], [], left)[0]: break
        data, (src, _) = s.recvfrom(65535)
        ihl = (data[0] & 0x0f) * 4
        t, _, _, i, q = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if t == 0 and i == ident and q == seq and src == dst:
            got += 1; break
print(got)
"""


def ping(netns: Netns, dst: str, count: int = 3, timeout: float = 1.0, size: int = 32,
         dont_fragment: bool = False) -> int:
    """ICMP echo from ``netns`` to ``dst`` (IPv4, raw socket; no iputils needed) with
    ``size`` bytes of data (the packet is 28 bytes more), unfragmented if ``dont_fragment``
    (a packet above the route's MTU then fails to send). Returns the number of replies."""
    proc = subprocess.run(
        underlay.exec_argv(netns, [sys.executable, "-c", _PING, dst, str(count),
                                   str(timeout), str(size), "1" if dont_fragment else "0"]),
        capture_output=True, text=True, timeout=count * timeout + 15, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ping {dst} from {netns}: {proc.stderr.strip()}")
    return int(proc.stdout.strip() or 0)
