"""Multus on the nodes: RBAC, the thick daemon's config, the DaemonSet (thick or thin), a
metrics Service and ServiceMonitor; and what a verifier should find on a node afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import hostpaths as host
from ..args.multus import MultusInstallArgs
from .crds import SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_KIND, service_monitor_crd
from .flannel import CNI_CONF_FILE as FLANNEL_CONF_FILE
from .flannel import flannel_manifests
from .manifests import (
    config_map,
    config_map_volume,
    field_env,
    flags,
    host_volume,
    installer_resources,
    json_file,
    manifest,
    metadata,
    mount,
    namespace,
    rule,
    service_account_with_role,
)
from .manifests import daemonset as daemonset_manifest
from .nad import NAD_GROUP, nad_crd
from .node_plugin import node_plugin_manifests

NAME = "multus"
DAEMONSET = "kube-multus-ds"
DAEMON_CONFIG_MAP = "multus-daemon-config"
METRICS_SERVICE = "multus-metrics"

HOST_CNI_BIN = host.CNI_BIN_DIR
HOST_CNI_CONF = host.CNI_CONF_DIR
HOST_SOCKET_DIR = host.MULTUS_SOCKET_DIR

_LABELS = {"app": "multus", "name": "multus", "tier": "node"}
_SELECTOR = {"name": "multus"}
_HOST = "/host"
"""Where the containers see the host's directories they mount."""
_HOSTROOT = "/hostroot"
"""Where the thick daemon sees the host's root (it runs delegates chrooted there)."""

# Where the thick daemon sees host paths (its container mounts).
_THICK_MOUNTS = ((host.RUN_DIR + "/", f"{_HOST}{host.RUN_DIR}/"),
                 (host.CNI_CONF_DIR + "/", f"{_HOST}{host.CNI_CONF_DIR}/"))


def _thick_view(host_path: str) -> str:
    """A host path as the thick daemon's container sees it."""
    for on_host, seen in _THICK_MOUNTS:
        if host_path.startswith(on_host):
            return seen + host_path[len(on_host):]
    return _HOSTROOT + host_path


# -- objects ---------------------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    """What Multus needs: read NADs (v4.3.0 never writes them, so the network admin role
    stays the only NAD writer), pods and their status (network-status annotation), events."""
    return [rule([NAD_GROUP], ["*"], ["get", "list", "watch"]),
            rule([""], ["pods", "pods/status"], ["get", "list", "watch", "update"]),
            rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update"])]


def daemon_config(args: MultusInstallArgs) -> dict[str, Any]:
    """``daemon-config.json`` of the thick daemon (paths as its container sees them)."""
    conf: dict[str, Any] = {
        "cniVersion": args.cni_version,
        "chrootDir": _HOSTROOT,
        "confDir": host.MULTUS_CONF_DIR,
        "logLevel": args.log_level,
        "logToStderr": args.log_to_stderr,
    }
    if args.log_file:
        conf["logFile"] = args.log_file
    if args.metrics_port is not None:
        conf["metricsPort"] = args.metrics_port
    if args.connection_limit is not None:
        conf["connectionLimit"] = args.connection_limit
    conf["namespaceIsolation"] = args.namespace_isolation
    if args.global_namespaces:
        conf["globalNamespaces"] = ",".join(args.global_namespaces)
    ready = args.readiness_file()
    if ready:
        conf["readinessindicatorfile"] = _thick_view(ready)
    conf.update({
        "socketDir": _HOST + HOST_SOCKET_DIR + "/",
        "cniConfigDir": _HOST + HOST_CNI_CONF,
        "multusConfigFile": "auto",
        "multusAutoconfigDir": _HOST + HOST_CNI_CONF,
    })
    return conf


def thin_args(args: MultusInstallArgs) -> list[str]:
    """The thin entrypoint's flags (it writes the config the host binary reads)."""
    isolation = args.namespace_isolation
    return ["--multus-conf-file=auto", f"--multus-autoconfig-dir={_HOST}{HOST_CNI_CONF}",
            f"--cni-conf-dir={_HOST}{HOST_CNI_CONF}", f"--multus-log-level={args.log_level}",
            f"--multus-log-to-stderr={'true' if args.log_to_stderr else 'false'}",
            *flags(("multus-log-file", args.log_file),
                   ("namespace-isolation", "true" if isolation else None),
                   ("global-namespaces", args.global_namespaces if isolation else None),
                   ("readiness-indicator-file", args.readiness_file()))]


def daemonset_spec(args: MultusInstallArgs) -> dict[str, Any]:
    """The pod spec of the Multus DaemonSet of the chosen mode."""
    image = args.image_ref
    security = {"privileged": True}
    if args.mode == "thick":
        container: dict[str, Any] = {
            "name": "kube-multus", "image": image,
            "command": ["/usr/src/multus-cni/bin/multus-daemon"],
            "env": [field_env("MULTUS_NODE_NAME", "spec.nodeName")],
            "volumeMounts": [
                mount("cni", _HOST + HOST_CNI_CONF),
                # the daemon runs delegates by their host path: same path inside
                mount("cnibin", HOST_CNI_BIN),
                mount("host-run", _HOST + host.RUN_DIR),
                mount("host-var-lib-cni-multus", host.MULTUS_STATE_DIR),
                mount("host-var-lib-kubelet", host.KUBELET_DIR,
                      mountPropagation="HostToContainer"),
                mount("host-run-k8s-cni-cncf-io", host.NETWORK_STATUS_DIR),
                mount("host-run-netns", host.NETNS_DIR, mountPropagation="HostToContainer"),
                mount("multus-daemon-config", f"{HOST_CNI_CONF}/multus.d", readOnly=True),
                mount("hostroot", _HOSTROOT, mountPropagation="HostToContainer"),
                mount("multus-conf-dir", host.MULTUS_CONF_DIR),
            ],
        }
        if args.metrics_port is not None:
            container["ports"] = [{"name": "metrics", "containerPort": args.metrics_port,
                                   "protocol": "TCP"}]
        install = ["/usr/src/multus-cni/bin/install_multus", "-d", _HOST + HOST_CNI_BIN,
                   "-t", "thick"]
        volumes = [
            host_volume("cni", HOST_CNI_CONF), host_volume("cnibin", HOST_CNI_BIN),
            host_volume("hostroot", "/"),
            config_map_volume("multus-daemon-config", DAEMON_CONFIG_MAP, "daemon-config.json"),
            host_volume("host-run", host.RUN_DIR),
            host_volume("host-var-lib-cni-multus", host.MULTUS_STATE_DIR),
            host_volume("host-var-lib-kubelet", host.KUBELET_DIR),
            host_volume("host-run-k8s-cni-cncf-io", host.NETWORK_STATUS_DIR),
            host_volume("host-run-netns", host.NETNS_DIR + "/"),
            host_volume("multus-conf-dir", host.MULTUS_CONF_DIR),
        ]
    else:
        container = {
            "name": "kube-multus", "image": image, "command": ["/thin_entrypoint"],
            "args": thin_args(args),
            "volumeMounts": [mount("cni", _HOST + HOST_CNI_CONF),
                             mount("cnibin", _HOST + HOST_CNI_BIN)],
        }
        install = ["/install_multus", "--type", "thin"]
        volumes = [host_volume("cni", HOST_CNI_CONF), host_volume("cnibin", HOST_CNI_BIN)]
    container["resources"] = args.resources.to_dict()
    container["securityContext"] = security
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    init = {
        "name": "install-multus-binary", "image": image, "command": install,
        "resources": installer_resources(),
        "securityContext": security, "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("cnibin", _HOST + HOST_CNI_BIN,
                               mountPropagation="Bidirectional")],
    }
    pod_spec: dict[str, Any] = {"hostNetwork": True}
    if args.mode == "thick":
        pod_spec["hostPID"] = True
    pod_spec.update({
        "tolerations": [t.to_dict() for t in args.tolerations],
        "serviceAccountName": NAME,
        "initContainers": [init],
        "containers": [container],
        "terminationGracePeriodSeconds": args.termination_grace_period_seconds,
        "volumes": volumes,
    })
    if args.priority_class_name:
        pod_spec["priorityClassName"] = args.priority_class_name
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    return pod_spec


def _daemon_config_data(args: MultusInstallArgs) -> dict[str, str]:
    return {"daemon-config.json": json_file(daemon_config(args))}


def daemonset(args: MultusInstallArgs) -> dict[str, Any]:
    """The Multus DaemonSet of the chosen mode (thick: it rolls when the daemon's
    configuration changes, which the daemon reads once at start)."""
    config = [_daemon_config_data(args)] if args.mode == "thick" else []
    return daemonset_manifest(DAEMONSET, args.namespace, _LABELS, _SELECTOR,
                              daemonset_spec(args), config=config)


def metrics_service(args: MultusInstallArgs) -> dict[str, Any]:
    """A headless Service over the daemons' metrics ports (one endpoint per node)."""
    assert args.metrics_port is not None
    return manifest("v1", "Service", metadata(METRICS_SERVICE, args.namespace, labels=_LABELS),
                    spec={"clusterIP": "None", "selector": dict(_SELECTOR),
                          "ports": [{"name": "metrics", "port": args.metrics_port,
                                     "targetPort": args.metrics_port, "protocol": "TCP"}]})


def service_monitor(args: MultusInstallArgs) -> dict[str, Any]:
    """The ServiceMonitor of the metrics Service. Unlike a ServiceMonitor with a selector
    alone, it names the Service's namespace: without ``namespaceSelector`` Prometheus only
    looks in the ServiceMonitor's own namespace and finds nothing."""
    mon = args.service_monitor
    assert mon is not None
    return manifest(SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_KIND,
                    metadata("multus-monitor", mon.namespace, labels=mon.labels),
                    spec={"selector": {"matchLabels": {"app": "multus"}},
                          "namespaceSelector": {"matchNames": [args.namespace]},
                          "endpoints": [{"port": "metrics", "interval": mon.interval}]})


def multus_manifests(args: MultusInstallArgs) -> list[dict[str, Any]]:
    """The Multus objects (not Flannel's, not the CRDs), in apply order."""
    out = service_account_with_role(NAME, args.namespace, rules(), _LABELS)
    if args.mode == "thick":
        out.append(config_map(DAEMON_CONFIG_MAP, args.namespace, _daemon_config_data(args),
                              _LABELS))
    out.append(daemonset(args))
    if args.metrics_port is not None:
        out.append(metrics_service(args))
        if args.service_monitor is not None:
            if args.service_monitor.create_namespace:
                out.append(namespace(args.service_monitor.namespace))
            out.append(service_monitor(args))
    return out


def install_manifests(args: MultusInstallArgs) -> list[dict[str, Any]]:
    """Everything ``MultusInstall`` deploys, in apply order (offline render): the node
    plugin (the CNI plugins everything else delegates to), Flannel, the CRDs, Multus."""
    node_plugin = args.node_plugin_args()
    out = node_plugin_manifests(node_plugin) if node_plugin is not None else []
    if args.installs_flannel:
        out += flannel_manifests(args.flannel)
    if args.install_nad_crd:
        out.append(nad_crd())
    if args.service_monitor is not None and args.service_monitor.install_crd:
        out.append(service_monitor_crd())
    return out + multus_manifests(args)


# -- what a verifier should find on a node ------------------------------------------------


@dataclass(frozen=True)
class NodePath:
    """A path a healthy node has once Multus runs."""

    paths: tuple[str, ...]
    """Host path; several mean "one of these"."""
    kind: Literal["file", "socket"]
    """What it is."""
    why: str
    """What it proves."""
    json_fields: Mapping[str, Any] = field(default_factory=dict)
    """For a JSON config: top-level fields it must carry."""


@dataclass(frozen=True)
class MultusValidation:
    """The guide's validation steps as data: the DaemonSet to wait for, the node paths."""

    namespace: str
    daemonset: str
    pod_labels: Mapping[str, str]
    node_paths: tuple[NodePath, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "daemonset": self.daemonset,
                "pod_labels": dict(self.pod_labels),
                "node_paths": [{"paths": list(p.paths), "kind": p.kind, "why": p.why,
                                "json_fields": dict(p.json_fields)} for p in self.node_paths],
                "notes": list(self.notes)}


def validation_steps(args: MultusInstallArgs) -> MultusValidation:
    """What a verifier should check once Multus is installed with ``args`` (it checks
    nothing itself).

    The guide checks ``/opt/cni/bin/multus`` and ``/etc/cni/net.d/00-multus.conf``: right
    for thin Multus only. Thick Multus installs ``multus-shim`` and its config's type is
    ``multus-shim``; thin Multus writes ``00-multus.conflist`` when the default network's
    cniVersion is 1.0.0 or later.
    """
    conf = f"{HOST_CNI_CONF}/00-multus.conf"
    paths: list[NodePath] = []
    notes: list[str] = []
    if args.mode == "thick":
        paths.append(NodePath((f"{HOST_CNI_BIN}/multus-shim",), "file",
                              "the shim the runtime calls; it forwards to the daemon"))
        paths.append(NodePath((conf,), "file", "the generated Multus config, first in the "
                              "directory so the runtime uses it",
                              {"type": "multus-shim", "cniVersion": args.cni_version}))
        paths.append(NodePath((f"{HOST_SOCKET_DIR}/multus.sock",), "socket",
                              "the daemon is listening"))
        notes.append(f"the guide's {HOST_CNI_BIN}/multus exists only with thin Multus")
    else:
        paths.append(NodePath((f"{HOST_CNI_BIN}/multus",), "file",
                              "the thin plugin the runtime runs for every pod"))
        if args.installs_flannel:
            major = int(args.flannel.cni_version.split(".")[0])
            candidates: tuple[str, ...] = (conf + "list",) if major >= 1 else (conf,)
        else:
            candidates = (conf, conf + "list")
            notes.append("thin Multus writes 00-multus.conflist when the default network's "
                         "cniVersion is 1.0.0 or later, else 00-multus.conf")
        paths.append(NodePath(candidates, "file", "the generated Multus config",
                              {"type": "multus"}))
        paths.append(NodePath((f"{HOST_CNI_CONF}/multus.d/multus.kubeconfig",), "file",
                              "credentials the host binary uses to read NADs"))
    ready = args.readiness_file()
    if ready:
        paths.append(NodePath((ready,), "file", "the default network is up (readiness "
                              "indicator)"))
    if args.installs_flannel:
        paths.append(NodePath((FLANNEL_CONF_FILE,), "file", "Flannel's config, which Multus "
                              "delegates to as the default network",
                              {"name": args.flannel.cni_name}))
    return MultusValidation(args.namespace, DAEMONSET, dict(_SELECTOR), tuple(paths),
                            tuple(notes))
