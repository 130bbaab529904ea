"""NetworkPolicy enforcement beside Flannel: kube-router v2.1.0 with its firewall controller
alone. Its RBAC, a ServiceAccount and the DaemonSet.

What it needs, from kube-router's own code (``pkg/cmd/kube-router.go``,
``pkg/controllers/netpol``):

- The API in-cluster (no ``--kubeconfig``: ``rest.InClusterConfig``), and its node by
  ``NODE_NAME`` (``utils.GetNodeObject``: a ``get`` of that node, for its addresses).
- ``list``/``watch`` of pods, namespaces and NetworkPolicies (the firewall's informers), and
  of nodes, Services, Endpoints and EndpointSlices: kube-router starts those informers
  whatever runs and waits for all of them to sync before any controller starts
  (``CacheSyncOrTimeout``; a refused list means it exits after ``--cache-sync-timeout``).
  Nothing else: no leases (the load-balancer allocator's and the router's), no
  ``services/status``, no writes.
- The node's iptables and ipsets: host network, privileged, and ``/run/xtables.lock`` shared
  with every other iptables user on the node. Not the host's ``/lib/modules``: the firewall
  never runs ``modprobe`` (only the router does, for ``fou`` and ``br_netfilter``), and the
  kernel loads the ipset and ``xt_set`` modules itself when they are first used (its own
  ``modprobe``, in the host's namespaces). Upstream's manifest mounts it for the router; a
  hostPath that is missing on the node (a kernel without modules) would be created there
  by the container runtime.

Upstream's firewall manifest also mounts a kubeconfig, the CNI config directory and
``/opt``, and has an ``install-cni`` init container with its ConfigMap: all for its own CNI
config, which would replace Flannel's. Here none of them: Flannel is the network. It also
runs in the host PID namespace, which only the service proxy (DSR) uses.
"""

from __future__ import annotations

from typing import Any

from .. import hostpaths as host
from ..args.network_policy import NetworkPolicyEnforcerArgs
from .manifests import (
    daemonset,
    field_env,
    flags,
    host_volume,
    mount,
    placed,
    rule,
    service_account_with_role,
)

NAME = "kube-router"
DAEMONSET = "kube-router"

LABELS = {"app": "kube-router", "k8s-app": "kube-router", "tier": "node"}
SELECTOR = {"k8s-app": "kube-router"}

_READ = ["list", "watch"]


def rules() -> list[dict[str, Any]]:
    """What the firewall reads (module docstring): its node (get), and list/watch of every
    informer kube-router starts. It writes nothing through the API."""
    return [
        rule([""], ["nodes"], ["get", *_READ]),
        rule([""], ["pods", "namespaces", "services", "endpoints"], _READ),
        rule(["discovery.k8s.io"], ["endpointslices"], _READ),
        rule(["networking.k8s.io"], ["networkpolicies"], _READ),
    ]


def kube_router_args(args: NetworkPolicyEnforcerArgs) -> list[str]:
    """kube-router's flags: the firewall alone, in-cluster, with the ranges it lets
    through and its ports."""
    return ["--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
            "--run-loadbalancer=false",
            f"--service-cluster-ip-range={','.join(args.service_cluster_ip_range)}",
            f"--service-node-port-range={args.service_node_port_range}",
            f"--enable-ipv4={str(args.enable_ipv4).lower()}",
            f"--enable-ipv6={str(args.enable_ipv6).lower()}",
            f"--iptables-sync-period={args.iptables_sync_period}",
            f"--health-port={args.health_port}",
            *flags(("metrics-port", args.metrics_port)),
            f"--v={args.log_level}"]


def daemonset_spec(args: NetworkPolicyEnforcerArgs) -> dict[str, Any]:
    """The pod spec of kube-router's DaemonSet."""
    ports = [{"name": "health", "containerPort": args.health_port, "protocol": "TCP"}]
    if args.metrics_port is not None:
        ports.append({"name": "metrics", "containerPort": args.metrics_port,
                      "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": "kube-router",
        "image": args.image,
        "args": kube_router_args(args),
        "env": [field_env("NODE_NAME", "spec.nodeName")],
        "ports": ports,
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "health"},
                          "initialDelaySeconds": 10, "periodSeconds": 3},
        "resources": args.resources.to_dict(),
        "securityContext": {"privileged": True},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("xtables-lock", host.XTABLES_LOCK)],
    }
    pod_spec: dict[str, Any] = {
        "hostNetwork": True,
        "serviceAccountName": NAME,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "containers": [container],
        "volumes": [host_volume("xtables-lock", host.XTABLES_LOCK, "FileOrCreate")],
    }
    return placed(pod_spec, args.priority_class_name, args.node_selector)


def network_policy_manifests(args: NetworkPolicyEnforcerArgs) -> list[dict[str, Any]]:
    """Every object of the install, in apply order: ClusterRole, its binding,
    ServiceAccount, DaemonSet."""
    return [*service_account_with_role(NAME, args.namespace, rules(), LABELS),
            daemonset(DAEMONSET, args.namespace, LABELS, SELECTOR, daemonset_spec(args))]
