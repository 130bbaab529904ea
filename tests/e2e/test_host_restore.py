"""``cluster down`` leaves the host as it found it.

Runs last in the session (marker ``last``): the host was recorded just before this session
started the cluster and its node, and everything since (the node's Flannel and Multus, the
churn, every e2e test's pods) ran on it. The test takes the cluster down and compares the
host with that record: links, mounts (with their propagation), iptables/ip6tables rules and
nftables tables, sysctls, network namespaces, cgroups, and the file lists of the node's host
paths (``/etc/cni/net.d``, ``/opt/cni/bin``, ``/var/lib/kubelet``, ``/var/lib/cni``,
``/run/containerd``, ``/var/log/containers``, …).

A cluster this session did not start (``make run``'s) is not this test's to take down: it
skips, and the check runs whenever ``make test`` starts its own cluster (``.ci/run``).
"""

from __future__ import annotations

import pytest

from harness import cluster as embedded
from harness.node import host
from harness.pytest_fixtures import ClusterHandle

pytestmark = [pytest.mark.e2e, pytest.mark.last]


def test_down_puts_the_host_back(cluster: ClusterHandle) -> None:
    if not cluster.started or cluster.host_before is None:
        pytest.skip("the cluster was not started by this session (make run's, or without the "
                    "node): taking it down is not this test's to do")
    assert cluster.info is not None
    lines: list[str] = []
    stopped = embedded.down(cluster.info.cluster_dir, progress=lines.append)
    cluster.stopped = True
    print("\n".join(lines))
    assert stopped, "down stopped no process"
    assert not [line for line in lines if line.startswith("host not fully restored")], lines
    diffs = host.differences(cluster.host_before, host.snapshot())
    assert diffs == [], "\n".join(diffs)
