"""netplumb's node plugin on every node (``node/README.md``): RBAC for the metrics daemon and
the DaemonSet whose init container installs the CNI plugins, with the ``dhcp`` and ``metrics``
containers beside each other.

The pods use the host network: the plugins they install are what the pod network itself
needs (Flannel's bridge, host-local and portmap), so they cannot wait for it. Every container
has a read-only root filesystem and drops every capability; only the dhcp daemon, which runs
DHCP clients inside the pods' network namespaces, adds ``NET_ADMIN``, ``NET_RAW``,
``SYS_ADMIN`` (setns) and ``DAC_OVERRIDE`` (its socket directory may be mode 0600).
"""

from __future__ import annotations

from typing import Any

from .. import hostpaths as host
from ..args.node_plugin import NodePluginArgs
from .manifests import (
    daemonset,
    host_volume,
    installer_resources,
    mount,
    placed,
    rule,
    service_account,
    service_account_with_role,
)
from .nad import NAD_GROUP

NAME = "netplumb-node"
DAEMONSET = "netplumb-node"
WHEREABOUTS_GROUP = "whereabouts.cni.cncf.io"

LABELS = {"app": "netplumb-node", "tier": "node"}
"""Labels of the DaemonSet and its pods (the metrics Service selects ``SELECTOR``)."""
SELECTOR = {"name": "netplumb-node"}

_HOST = "/host"
"""Where the containers see the host directories they write."""

def restricted() -> dict[str, Any]:
    """The security context of a container that needs no privilege beyond its mounts."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}


DHCP_CAPABILITIES = ["DAC_OVERRIDE", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"]
"""What the dhcp daemon needs: it enters pod network namespaces (setns: SYS_ADMIN) and runs
DHCP clients there on raw sockets, configuring the lease's address (NET_RAW, NET_ADMIN). Its
socket lives in the host's ``/run/cni``, which the tuning plugin creates with mode 0600
(``MkdirAll(/run/cni/tuning, 0o600)`` in containernetworking/plugins v1.9.1) where it ran
first: root without DAC_OVERRIDE cannot even look into it (found on the real node)."""


def rules() -> list[dict[str, Any]]:
    """What the metrics daemon reads: NADs (the IPAM of networks no operation reported yet)
    and whereabouts IPPools (cluster-wide pool use), listed cluster-wide."""
    return [rule([NAD_GROUP], ["network-attachment-definitions"], ["list"]),
            rule([WHEREABOUTS_GROUP], ["ippools"], ["list"])]


def install_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node install``'s flags: into the host's CNI bin dir (seen at ``/host``),
    the shim's state dir as the host sees it."""
    out = ["install", f"--bin-dir={_HOST}{host.CNI_BIN_DIR}",
           f"--state-dir={host.NETPLUMB_STATE_DIR}"]
    if args.plugins:
        out.append(f"--plugins={','.join(args.plugins)}")
    if not args.shim:
        out.append("--shim=false")
    if args.force:
        out.append("--force")
    return out


def dhcp_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node dhcp``'s flags: the socket and the pods' namespaces under ``/host``."""
    out = ["dhcp", f"--hostprefix={_HOST}", f"--socket={host.DHCP_SOCKET}"]
    d = args.dhcp
    if d.broadcast:
        out.append("--broadcast")
    for flag, value in (("timeout", d.timeout), ("resendmax", d.resend_max),
                        ("resendtimeout", d.resend_timeout)):
        if value is not None:
            out.append(f"--{flag}={value}")
    return out


def metrics_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node metrics``' flags (the Kubernetes API is found in-cluster)."""
    return ["metrics", f"--listen=:{args.metrics_port}",
            f"--state-dir={host.NETPLUMB_STATE_DIR}",
            f"--host-local-dir={host.HOST_LOCAL_DIR}",
            f"--kube-interval={args.kube_interval}"]


def daemonset_spec(args: NodePluginArgs) -> dict[str, Any]:
    """The pod spec of the node plugin's DaemonSet."""
    install: dict[str, Any] = {
        "name": "install", "image": args.image, "args": install_args(args),
        "resources": installer_resources(),
        "securityContext": restricted(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("cnibin", _HOST + host.CNI_BIN_DIR)],
    }
    containers: list[dict[str, Any]] = []
    volumes = [host_volume("cnibin", host.CNI_BIN_DIR, "DirectoryOrCreate")]
    if args.run_dhcp_daemon:
        containers.append({
            "name": "dhcp", "image": args.image, "args": dhcp_args(args),
            "resources": args.dhcp.resources.to_dict(),
            # no allowPrivilegeEscalation: false beside SYS_ADMIN (the API refuses the pair
            # spelt CAP_SYS_ADMIN, and with SYS_ADMIN it would promise nothing)
            "securityContext": {"readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"], "add": DHCP_CAPABILITIES}},
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [
                mount("cni-run", _HOST + host.CNI_RUN_DIR),
                mount("netns", _HOST + host.NETNS_DIR, mountPropagation="HostToContainer"),
                mount("var-run-netns", _HOST + host.VAR_RUN_NETNS_DIR,
                      mountPropagation="HostToContainer"),
            ],
        })
        volumes += [host_volume("cni-run", host.CNI_RUN_DIR, "DirectoryOrCreate"),
                    host_volume("netns", host.NETNS_DIR, "DirectoryOrCreate"),
                    host_volume("var-run-netns", host.VAR_RUN_NETNS_DIR, "DirectoryOrCreate")]
    if args.metrics:
        def probe() -> dict[str, Any]:
            return {"httpGet": {"path": "/healthz", "port": "metrics"}}

        containers.append({
            "name": "metrics", "image": args.image, "args": metrics_args(args),
            "ports": [{"name": "metrics", "containerPort": args.metrics_port,
                       "protocol": "TCP"}],
            "readinessProbe": {**probe(), "periodSeconds": 10},
            "livenessProbe": {**probe(), "initialDelaySeconds": 10, "periodSeconds": 30},
            "resources": args.metrics_resources.to_dict(),
            "securityContext": restricted(),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [mount("state", host.NETPLUMB_STATE_DIR),
                             mount("host-local", host.HOST_LOCAL_DIR, readOnly=True)],
        })
        volumes += [host_volume("state", host.NETPLUMB_STATE_DIR, "DirectoryOrCreate"),
                    host_volume("host-local", host.HOST_LOCAL_DIR, "DirectoryOrCreate")]
    if not containers:
        # nothing to run after the install: keep a container that waits, so the DaemonSet
        # stays and re-installs on every node that joins or reboots
        install_only = {**install, "name": "wait", "args": [*install_args(args), "--sleep"],
                        "securityContext": restricted(),
                        "volumeMounts": [mount("cnibin", _HOST + host.CNI_BIN_DIR)]}
        containers.append(install_only)
    pod_spec: dict[str, Any] = {
        "hostNetwork": True,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": NAME,
        "automountServiceAccountToken": args.metrics,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "initContainers": [install],
        "containers": containers,
        "volumes": volumes,
    }
    return placed(pod_spec, args.priority_class_name, args.node_selector)


def node_plugin_manifests(args: NodePluginArgs) -> list[dict[str, Any]]:
    """Every object of the node plugin, in apply order: the metrics daemon's ClusterRole and
    binding (with metrics), the ServiceAccount, the DaemonSet."""
    if args.metrics:
        out = service_account_with_role(NAME, args.namespace, rules(), LABELS)
    else:
        out = [service_account(NAME, args.namespace, LABELS)]
    out.append(daemonset(DAEMONSET, args.namespace, LABELS, SELECTOR, daemonset_spec(args)))
    return out
