"""The embedded cluster: control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) and, where it can run, the real node (:mod:`harness.node`).

Modules: :mod:`.layout` (files and addresses), :mod:`.pki` (certificates, kubeconfigs),
:mod:`.processes` (start, find, stop; :class:`~.processes.Component`, one declaration per
process), :mod:`.controlplane` (its components: command lines, health), :mod:`.api` (the
harness' API client), :mod:`.lifecycle` (``up``, ``down``, ``status``).

:mod:`harness.node` builds on this package, never the other way round: ``up``, ``down`` and
``status`` run the nodes through the driver it hands in when imported
(:class:`~.lifecycle.NodeDriver`).
"""

from .api import Api, ApiError, node_ready, pod_ready, wait_for
from .layout import (
    APISERVER_IP,
    NODE_LINK,
    POD_CIDR,
    SERVICE_CIDR,
    Layout,
    NodeSpec,
    layout,
    node_specs,
)
from .lifecycle import (
    ClusterInfo,
    ComponentStatus,
    Progress,
    component_pids,
    down,
    find_binary,
    missing_binaries,
    status,
    up,
)
from .processes import ClusterError, listening_sockets, process_cmdline

__all__ = [
    "APISERVER_IP",
    "NODE_LINK",
    "POD_CIDR",
    "SERVICE_CIDR",
    "Api",
    "ApiError",
    "ClusterError",
    "ClusterInfo",
    "ComponentStatus",
    "Layout",
    "NodeSpec",
    "Progress",
    "component_pids",
    "down",
    "find_binary",
    "layout",
    "listening_sockets",
    "missing_binaries",
    "node_ready",
    "node_specs",
    "pod_ready",
    "process_cmdline",
    "status",
    "up",
    "wait_for",
]
