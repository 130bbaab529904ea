"""netplumb's node plugin on every node (``node/README.md``): RBAC for the metrics daemon and
the Multus guard's keeper, and the DaemonSet whose init container installs the CNI plugins
(and places or removes the Multus guard), with the ``dhcp``, ``metrics`` and ``multus-guard``
containers beside each other.

The pods use the host network: the plugins they install are what the pod network itself
needs (Flannel's bridge, host-local and portmap), so they cannot wait for it. Every container
has a read-only root filesystem and drops every capability; only the dhcp daemon, which runs
DHCP clients inside the pods' network namespaces, adds ``NET_ADMIN``, ``NET_RAW``,
``SYS_ADMIN`` (setns) and ``DAC_OVERRIDE`` (its socket directory may be mode 0600).
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from .. import hostpaths as host
from ..args.node_plugin import MultusGuardArgs, NodePluginArgs
from .manifests import (
    daemonset,
    flags,
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

GUARD_FILE = "00-multus.netplumb-guard.conf"
"""The Multus guard's name in the host's CNI config dir (``node/internal/guard``): it starts
with ``00-multus``, which Multus' search for the cluster network's config skips, and sorts
after Multus' ``00-multus.conf`` and before any cluster network's (``05-…``, ``10-…``)."""
MULTUS_NETWORK_NAME = "multus-cni-network"
"""The network name of the config Multus thick generates (v4.3.0, ``pkg/server/config``);
the guard carries the same, so the runtime's cached results of a sandbox made through either
serve the other."""

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


def rules(args: NodePluginArgs) -> list[dict[str, Any]]:
    """What the node plugin reads. The metrics daemon: NADs (the IPAM of networks no
    operation reported yet) and whereabouts IPPools (cluster-wide pool use), listed
    cluster-wide. The Multus guard's keeper: its own DaemonSet, by name, to tell a removal of
    the node plugin from a pod that merely stops."""
    out = []
    if args.metrics:
        out += [rule([NAD_GROUP], ["network-attachment-definitions"], ["list"]),
                rule([WHEREABOUTS_GROUP], ["ippools"], ["list"])]
    if args.multus_guard is not None:
        out.append({**rule(["apps"], ["daemonsets"], ["get"]), "resourceNames": [DAEMONSET]})
    return out


def guard_config(guard: MultusGuardArgs) -> dict[str, Any]:
    """The Multus guard (``node/README.md``, multus-guard): the ``multus-shim`` with the
    daemon's socket dir and nothing to attach a pod to (neither ``clusterNetwork`` nor
    ``delegates``), so a request through it fails whether the daemon is down (the shim finds
    no socket) or already back before its own config is (Multus refuses a config without a
    network)."""
    return {"cniVersion": guard.cni_version, "name": MULTUS_NETWORK_NAME,
            "type": "multus-shim", "daemonSocketDir": guard.socket_dir.rstrip("/") + "/"}


def guard_text(guard: MultusGuardArgs) -> str:
    """The guard's file content as written on the nodes (compact JSON)."""
    return json.dumps(guard_config(guard), separators=(",", ":"))


def install_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node install``'s flags: into the host's CNI bin dir (seen at ``/host``),
    the shim's state dir as the host sees it."""
    guard = args.multus_guard
    return ["install", f"--bin-dir={_HOST}{host.CNI_BIN_DIR}",
            f"--state-dir={host.NETPLUMB_STATE_DIR}",
            *flags(("plugins", args.plugins), ("shim", None if args.shim else "false"),
                   ("force", args.force)),
            # always: a guard turned off is removed by the next install
            f"--cni-conf-dir={_HOST}{host.CNI_CONF_DIR}",
            *flags(("multus-guard", None if guard is None else guard_text(guard)))]


def guard_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node multus-guard``'s flags: the guard, its check interval and the
    DaemonSet whose removal (only) takes the guard away."""
    guard = args.multus_guard
    assert guard is not None
    return ["multus-guard", f"--cni-conf-dir={_HOST}{host.CNI_CONF_DIR}",
            f"--config={guard_text(guard)}", f"--interval={guard.interval}",
            f"--daemonset={args.namespace}/{DAEMONSET}"]


def dhcp_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node dhcp``'s flags: the socket and the pods' namespaces under ``/host``."""
    d = args.dhcp
    return ["dhcp", f"--hostprefix={_HOST}", f"--socket={host.DHCP_SOCKET}",
            *flags(("broadcast", d.broadcast), ("timeout", d.timeout),
                   ("resendmax", d.resend_max), ("resendtimeout", d.resend_timeout))]


def metrics_args(args: NodePluginArgs) -> list[str]:
    """``netplumb-node metrics``' flags (the Kubernetes API is found in-cluster), with the
    reconcile's (the CRI socket and Multus' cache at the same paths as on the node)."""
    out = ["metrics", f"--listen=:{args.metrics_port}",
           f"--state-dir={host.NETPLUMB_STATE_DIR}",
           *(f"--host-local-dir={d}" for d in args.read_host_local_dirs),
           f"--kube-interval={args.kube_interval}"]
    r = args.reconcile
    if r is not None:
        out += [f"--cri-endpoint=unix://{r.cri_socket}", f"--reconcile-interval={r.interval}",
                f"--reconcile-grace={r.grace}"]
        if r.multus_cache:
            out.append(f"--multus-cache-dir={host.MULTUS_STATE_DIR}")
    return out


def _host_local_volumes(args: NodePluginArgs) -> list[tuple[str, str]]:
    """(volume name, path) of each host-local dataDir the metrics daemon reads, mounted at
    the path it has on the node (a NAD's ``dataDir`` names it so)."""
    return [("host-local" if k == 0 else f"host-local-{k}", d)
            for k, d in enumerate(args.read_host_local_dirs)]


def daemonset_spec(args: NodePluginArgs) -> dict[str, Any]:
    """The pod spec of the node plugin's DaemonSet."""
    install: dict[str, Any] = {
        "name": "install", "image": args.image, "args": install_args(args),
        "resources": installer_resources(),
        "securityContext": restricted(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("cnibin", _HOST + host.CNI_BIN_DIR),
                         mount("cni-conf", _HOST + host.CNI_CONF_DIR)],
    }
    containers: list[dict[str, Any]] = []
    volumes = [host_volume("cnibin", host.CNI_BIN_DIR, "DirectoryOrCreate"),
               host_volume("cni-conf", host.CNI_CONF_DIR, "DirectoryOrCreate")]
    if args.multus_guard is not None:
        containers.append({
            "name": "multus-guard", "image": args.image, "args": guard_args(args),
            "resources": args.multus_guard.resources.to_dict(),
            "securityContext": restricted(),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [mount("cni-conf", _HOST + host.CNI_CONF_DIR)],
        })
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
                             *(mount(name, d, readOnly=args.reconcile is None)
                               for name, d in _host_local_volumes(args))],
        })
        volumes += [host_volume("state", host.NETPLUMB_STATE_DIR, "DirectoryOrCreate"),
                    *(host_volume(name, d, "DirectoryOrCreate")
                      for name, d in _host_local_volumes(args))]
        if args.reconcile is not None:
            # the socket's directory, not the socket: a node without that runtime gets an
            # empty directory (the reconcile then says it cannot ask, and frees nothing)
            # instead of a node plugin pod that cannot start. HostToContainer: the
            # runtime's own mounts under it (containers' root filesystems) come and go with
            # the host's, instead of being held by this container's copy of the tree
            cri_dir = str(PurePosixPath(args.reconcile.cri_socket).parent)
            containers[-1]["volumeMounts"].append(mount(
                "cri", cri_dir, readOnly=True, mountPropagation="HostToContainer"))
            volumes.append(host_volume("cri", cri_dir, "DirectoryOrCreate"))
            if args.reconcile.multus_cache:
                containers[-1]["volumeMounts"].append(mount("multus-cache",
                                                            host.MULTUS_STATE_DIR))
                volumes.append(host_volume("multus-cache", host.MULTUS_STATE_DIR,
                                           "DirectoryOrCreate"))
    if not containers:
        # nothing to run after the install: keep a container that waits, so the DaemonSet
        # stays and re-installs on every node that joins or reboots
        install_only = {**install, "name": "wait", "args": [*install_args(args), "--sleep"],
                        "securityContext": restricted()}
        containers.append(install_only)
    pod_spec: dict[str, Any] = {
        "hostNetwork": True,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": NAME,
        "automountServiceAccountToken": args.metrics or args.multus_guard is not None,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "initContainers": [install],
        "containers": containers,
        "volumes": volumes,
    }
    return placed(pod_spec, args.priority_class_name, args.node_selector)


def node_plugin_manifests(args: NodePluginArgs) -> list[dict[str, Any]]:
    """Every object of the node plugin, in apply order: the ClusterRole and binding (with
    metrics or the Multus guard), the ServiceAccount, the DaemonSet."""
    if rules(args):
        out = service_account_with_role(NAME, args.namespace, rules(args), LABELS)
    else:
        out = [service_account(NAME, args.namespace, LABELS)]
    out.append(daemonset(DAEMONSET, args.namespace, LABELS, SELECTOR, daemonset_spec(args)))
    return out
