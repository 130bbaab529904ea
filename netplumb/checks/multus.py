"""Checks of network selections against the Multus that will carry them out.

Namespace isolation (``namespaceIsolation``): Multus v4.3.0 refuses, at pod start, a
selection of a NAD in another namespace than the pod's unless that namespace is one of the
``globalNamespaces``; when none are given, ``default`` is the only one
(``pkg/k8sclient.GetNetworkDelegates``, ``pkg/types`` defaultNonIsolatedNamespace).

Default routes:

Multus v4.2.3 and v4.3.0 (the released images, built against netlink v1.3.1) drop every
``default-route`` request: their ``DeleteDefaultGW`` looks for the cluster network's default
route by ``Dst == nil``, but netlink v1.2.1 and later report that route as ``0.0.0.0/0`` (or
``::/0``). The old route stays, and the requested one is refused by the kernel as a
duplicate, which Multus ignores. The pod starts; its default route is not the requested one.
The plan warns instead of letting that pass silently.

Connection limit (``connectionLimit``, thick only): the daemon serves at most that many
connections at once; further shims wait in the socket's accept queue
(``golang.org/x/net/netutil.LimitListener`` in ``cmd/multus-daemon``). Every CNI request
is a connection of its own (the daemon turns keep-alive off) held for the whole request, and
the delegates a request runs count against the daemon's memory limit. After a node restart
the kubelet asks for the sandbox of every pod on the node at once, each an ADD. Measured on
the embedded cluster (tests/e2e/test_burst.py, 2 cores): 104 pods with two secondary
networks each started in 7 waves of 16 in 52 s, about :data:`WAVE_SECONDS` a wave; without a
limit the daemon's container passed 500Mi and was OOM-killed. The rules: no limit is a
warning (the burst's memory is unbounded); a limit so low that the last of
``node_max_pods`` ADDs would start after the kubelet's sandbox deadline
(:data:`SANDBOX_DEADLINE_SECONDS`), ``ceil(node_max_pods / limit) - 1`` waves of
:data:`WAVE_SECONDS`, is a warning (those pods fail their first attempt and are retried).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..args.images import image_tag
from ..args.multus import MultusInstallArgs
from ..errors import Finding
from ..planned import Workload

DEFAULT_ROUTE_IGNORED = frozenset({"v4.2.3", "v4.3.0"})
"""Multus release tags whose default-route handling misses the cluster network's route."""


def check_default_route_support(multus: MultusInstallArgs | None,
                                workloads: Iterable[Workload]) -> list[Finding]:
    """A warning per ``default-route`` selection when the stack installs a Multus release
    that ignores it (see the module docstring)."""
    if multus is None:
        return []
    image = multus.image_ref
    tag = image_tag(image)
    if tag not in DEFAULT_ROUTE_IGNORED:
        return []
    findings = []
    for w in workloads:
        for i, sel in enumerate(w.selections):
            if sel.default_route:
                findings.append(Finding(
                    f"{w.where}.networks[{i}].default-route", sel.default_route,
                    f"Multus {tag} ({image}) leaves the cluster network's default route in "
                    "place and drops this one (its DeleteDefaultGW matches routes by "
                    "Dst == nil, but the netlink v1.3.1 it is built with reports "
                    "0.0.0.0/0; multus-cni PR #1552). The pod starts without the "
                    "requested default route; expected a Multus image built with that fix "
                    "(MultusInstall image)",
                    severity="warning"))
    return findings


MULTUS_DEFAULT_GLOBAL_NAMESPACES = ("default",)
"""What Multus takes as global namespaces when ``globalNamespaces`` is not set."""


def check_namespace_isolation(multus: MultusInstallArgs | None,
                              workloads: Iterable[Workload]) -> list[Finding]:
    """An error per selection Multus' namespace isolation would refuse."""
    if multus is None or not multus.namespace_isolation:
        return []
    allowed = tuple(multus.global_namespaces) or MULTUS_DEFAULT_GLOBAL_NAMESPACES
    findings = []
    for w in workloads:
        for i, sel in enumerate(w.selections):
            if sel.namespace is None or sel.namespace in (w.namespace, *allowed):
                continue
            findings.append(Finding(
                f"{w.where}.networks[{i}].namespace", sel.namespace,
                f"the stack's Multus isolates namespaces: a pod in {w.namespace} may select "
                f"NADs of its own namespace or of {', '.join(allowed)} only, and Multus "
                f"refuses {sel.key(w.namespace)} at pod start. Expected a NAD in "
                f"{w.namespace}, or {sel.namespace} among multus.global_namespaces"))
    return findings


def check_default_network(multus: MultusInstallArgs | None, at: str) -> list[Finding]:
    """``default_network: auto`` is decided at preview, against the cluster: an offline plan
    (``netplumb check``, ``render``) says what it assumes."""
    if multus is None or multus.default_network != "auto":
        return []
    return [Finding(
        f"{at}.default_network", "auto",
        "decided at preview from the default network the cluster runs (Multus delegates to "
        "it, and no Flannel is installed); this offline plan assumes a cluster without one "
        "and includes Flannel. Set default_network: flannel or none to decide here",
        severity="warning")]


WAVE_SECONDS = 8.0
"""How long a wave of concurrent ADDs took in the measured burst (52 s for 7 waves of 16,
rounded up)."""
SANDBOX_DEADLINE_SECONDS = 240.0
"""The kubelet's deadline for creating a sandbox: twice its runtime request timeout (2 min
by default)."""


def check_connection_limit(multus: MultusInstallArgs | None, at: str) -> list[Finding]:
    """Warnings for an unbounded thick daemon and for a limit that starves a node's maximum
    pods (the rules are in the module docstring)."""
    if multus is None or multus.mode != "thick":
        return []
    limit, pods = multus.connection_limit, multus.node_max_pods
    if limit is None:
        return [Finding(
            f"{at}.connection_limit", None,
            f"no connection limit: after a node restart the daemon runs the ADDs of all "
            f"{pods} pods of the node (node_max_pods) at once, and their delegates count "
            f"against its memory limit ({multus.resources.limits.get('memory', 'none')}); "
            f"measured, 104 pods with two networks each passed 500Mi and the daemon was "
            f"OOM-killed. Expected a connection_limit (16 by default)",
            severity="warning")]
    waves = math.ceil(pods / limit)
    waited = (waves - 1) * WAVE_SECONDS
    if waited <= SANDBOX_DEADLINE_SECONDS:
        return []
    return [Finding(
        f"{at}.connection_limit", limit,
        f"the Multus daemon serves {limit} connections at once and a node runs up to "
        f"{pods} pods (node_max_pods): when every pod of a node needs its sandbox at once "
        f"(after a node restart), the last ADD starts after {waves - 1} waves, about "
        f"{waited:.0f} s at the measured {WAVE_SECONDS:.0f} s a wave, past the kubelet's "
        f"{SANDBOX_DEADLINE_SECONDS:.0f} s deadline for a sandbox: those pods fail their "
        f"first attempt. Expected a connection_limit of at least "
        f"{math.ceil(pods / (SANDBOX_DEADLINE_SECONDS / WAVE_SECONDS + 1))}",
        severity="warning")]
