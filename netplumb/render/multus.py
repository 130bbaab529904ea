"""Multus on the nodes (RBAC, daemon config, DaemonSet thick or thin), what a verifier
should find on a node afterwards, and the pod side: the networks annotation on workloads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..checks.selections import with_device_resources
from ..errors import PlanError
from ..spec.platform import MultusInstallArgs, WorkloadArgs
from ..spec.selection import NETWORKS_ANNOTATION, NetworkSelection, networks_annotation
from .crds import SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_KIND
from .flannel import CNI_CONF_FILE as FLANNEL_CONF_FILE
from .nad import MANAGED_BY, nad_crd

NAME = "multus"
DAEMONSET = "kube-multus-ds"
DAEMON_CONFIG_MAP = "multus-daemon-config"
METRICS_SERVICE = "multus-metrics"

HOST_CNI_BIN = "/opt/cni/bin"
HOST_CNI_CONF = "/etc/cni/net.d"
HOST_SOCKET_DIR = "/run/multus"

_LABELS = {**MANAGED_BY, "app": "multus", "name": "multus", "tier": "node"}
_SELECTOR = {"name": "multus"}

# Where the thick daemon sees host paths (its container mounts).
_THICK_MOUNTS = (("/run/", "/host/run/"), ("/etc/cni/net.d/", "/host/etc/cni/net.d/"))


def _thick_view(host_path: str) -> str:
    """A host path as the thick daemon's container sees it."""
    for host, mount in _THICK_MOUNTS:
        if host_path.startswith(host):
            return mount + host_path[len(host):]
    return "/hostroot" + host_path


# -- objects ---------------------------------------------------------------------------------


def cluster_role() -> dict[str, Any]:
    """What Multus needs: read NADs (v4.3.0 never writes them, so the network admin role
    stays the only NAD writer), pods and their status (network-status annotation), events."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "rules": [
            {"apiGroups": ["k8s.cni.cncf.io"], "resources": ["*"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods", "pods/status"],
             "verbs": ["get", "list", "watch", "update"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
             "verbs": ["create", "patch", "update"]},
        ],
    }


def cluster_role_binding(args: MultusInstallArgs) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": args.namespace}],
    }


def service_account(args: MultusInstallArgs) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": args.namespace, "labels": dict(_LABELS)}}


def daemon_config(args: MultusInstallArgs) -> dict[str, Any]:
    """``daemon-config.json`` of the thick daemon (paths as its container sees them)."""
    conf: dict[str, Any] = {
        "cniVersion": args.cni_version,
        "chrootDir": "/hostroot",
        "confDir": "/etc/cni/multus/net.d",
        "logLevel": args.log_level,
        "logToStderr": args.log_to_stderr,
    }
    if args.log_file:
        conf["logFile"] = args.log_file
    if args.metrics_port is not None:
        conf["metricsPort"] = args.metrics_port
    conf["namespaceIsolation"] = args.namespace_isolation
    if args.global_namespaces:
        conf["globalNamespaces"] = ",".join(args.global_namespaces)
    ready = args.readiness_file()
    if ready:
        conf["readinessindicatorfile"] = _thick_view(ready)
    conf.update({
        "socketDir": "/host" + HOST_SOCKET_DIR + "/",
        "cniConfigDir": "/host" + HOST_CNI_CONF,
        "multusConfigFile": "auto",
        "multusAutoconfigDir": "/host" + HOST_CNI_CONF,
    })
    return conf


def config_map(args: MultusInstallArgs) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": DAEMON_CONFIG_MAP, "namespace": args.namespace,
                     "labels": dict(_LABELS)},
        "data": {"daemon-config.json": json.dumps(daemon_config(args), indent=2) + "\n"},
    }


def thin_args(args: MultusInstallArgs) -> list[str]:
    """The thin entrypoint's flags (it writes the config the host binary reads)."""
    out = ["--multus-conf-file=auto", f"--multus-autoconfig-dir=/host{HOST_CNI_CONF}",
           f"--cni-conf-dir=/host{HOST_CNI_CONF}", f"--multus-log-level={args.log_level}",
           f"--multus-log-to-stderr={'true' if args.log_to_stderr else 'false'}"]
    if args.log_file:
        out.append(f"--multus-log-file={args.log_file}")
    if args.namespace_isolation:
        out.append("--namespace-isolation=true")
        if args.global_namespaces:
            out.append(f"--global-namespaces={','.join(args.global_namespaces)}")
    ready = args.readiness_file()
    if ready:
        out.append(f"--readiness-indicator-file={ready}")
    return out


def _host(name: str, path: str, kind: str | None = None) -> dict[str, Any]:
    host: dict[str, Any] = {"path": path}
    if kind:
        host["type"] = kind
    return {"name": name, "hostPath": host}


def daemonset(args: MultusInstallArgs) -> dict[str, Any]:
    """The Multus DaemonSet of the chosen mode."""
    image = args.image_ref
    security = {"privileged": True}
    if args.mode == "thick":
        container: dict[str, Any] = {
            "name": "kube-multus", "image": image,
            "command": ["/usr/src/multus-cni/bin/multus-daemon"],
            "env": [{"name": "MULTUS_NODE_NAME",
                     "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "volumeMounts": [
                {"name": "cni", "mountPath": "/host" + HOST_CNI_CONF},
                # the daemon runs delegates by their host path: same path inside
                {"name": "cnibin", "mountPath": HOST_CNI_BIN},
                {"name": "host-run", "mountPath": "/host/run"},
                {"name": "host-var-lib-cni-multus", "mountPath": "/var/lib/cni/multus"},
                {"name": "host-var-lib-kubelet", "mountPath": "/var/lib/kubelet",
                 "mountPropagation": "HostToContainer"},
                {"name": "host-run-k8s-cni-cncf-io", "mountPath": "/run/k8s.cni.cncf.io"},
                {"name": "host-run-netns", "mountPath": "/run/netns",
                 "mountPropagation": "HostToContainer"},
                {"name": "multus-daemon-config", "mountPath": "/etc/cni/net.d/multus.d",
                 "readOnly": True},
                {"name": "hostroot", "mountPath": "/hostroot",
                 "mountPropagation": "HostToContainer"},
                {"name": "multus-conf-dir", "mountPath": "/etc/cni/multus/net.d"},
            ],
        }
        if args.metrics_port is not None:
            container["ports"] = [{"name": "metrics", "containerPort": args.metrics_port,
                                   "protocol": "TCP"}]
        install = ["/usr/src/multus-cni/bin/install_multus", "-d", "/host" + HOST_CNI_BIN,
                   "-t", "thick"]
        volumes = [
            _host("cni", HOST_CNI_CONF), _host("cnibin", HOST_CNI_BIN),
            _host("hostroot", "/"),
            {"name": "multus-daemon-config", "configMap": {
                "name": DAEMON_CONFIG_MAP,
                "items": [{"key": "daemon-config.json", "path": "daemon-config.json"}]}},
            _host("host-run", "/run"),
            _host("host-var-lib-cni-multus", "/var/lib/cni/multus"),
            _host("host-var-lib-kubelet", "/var/lib/kubelet"),
            _host("host-run-k8s-cni-cncf-io", "/run/k8s.cni.cncf.io"),
            _host("host-run-netns", "/run/netns/"),
            _host("multus-conf-dir", "/etc/cni/multus/net.d"),
        ]
    else:
        container = {
            "name": "kube-multus", "image": image, "command": ["/thin_entrypoint"],
            "args": thin_args(args),
            "volumeMounts": [{"name": "cni", "mountPath": "/host" + HOST_CNI_CONF},
                             {"name": "cnibin", "mountPath": "/host" + HOST_CNI_BIN}],
        }
        install = ["/install_multus", "--type", "thin"]
        volumes = [_host("cni", HOST_CNI_CONF), _host("cnibin", HOST_CNI_BIN)]
    container["resources"] = args.resources.to_dict()
    container["securityContext"] = security
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    init = {
        "name": "install-multus-binary", "image": image, "command": install,
        "resources": {"requests": {"cpu": "10m", "memory": "15Mi"}},
        "securityContext": security, "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "cnibin", "mountPath": "/host" + HOST_CNI_BIN,
                          "mountPropagation": "Bidirectional"}],
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
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": args.namespace, "labels": dict(_LABELS)},
        "spec": {
            "selector": {"matchLabels": dict(_SELECTOR)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": dict(_LABELS)}, "spec": pod_spec},
        },
    }


def metrics_service(args: MultusInstallArgs) -> dict[str, Any]:
    """A headless Service over the daemons' metrics ports (one endpoint per node)."""
    assert args.metrics_port is not None
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": METRICS_SERVICE, "namespace": args.namespace,
                     "labels": dict(_LABELS)},
        "spec": {"clusterIP": "None", "selector": dict(_SELECTOR),
                 "ports": [{"name": "metrics", "port": args.metrics_port,
                            "targetPort": args.metrics_port, "protocol": "TCP"}]},
    }


def service_monitor(args: MultusInstallArgs) -> dict[str, Any]:
    """The ServiceMonitor of the metrics Service. Unlike a ServiceMonitor with a selector
    alone, it names the Service's namespace: without ``namespaceSelector`` Prometheus only
    looks in the ServiceMonitor's own namespace and finds nothing."""
    mon = args.service_monitor
    assert mon is not None
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION, "kind": SERVICE_MONITOR_KIND,
        "metadata": {"name": "multus-monitor", "namespace": mon.namespace,
                     "labels": {**MANAGED_BY, **mon.labels}},
        "spec": {"selector": {"matchLabels": {"app": "multus"}},
                 "namespaceSelector": {"matchNames": [args.namespace]},
                 "endpoints": [{"port": "metrics", "interval": mon.interval}]},
    }


def monitoring_namespace(args: MultusInstallArgs) -> dict[str, Any]:
    mon = args.service_monitor
    assert mon is not None
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": mon.namespace, "labels": dict(MANAGED_BY)}}


def multus_manifests(args: MultusInstallArgs) -> list[dict[str, Any]]:
    """The Multus objects (not Flannel's, not the CRDs), in apply order."""
    out = [cluster_role(), cluster_role_binding(args), service_account(args)]
    if args.mode == "thick":
        out.append(config_map(args))
    out.append(daemonset(args))
    if args.metrics_port is not None:
        out.append(metrics_service(args))
        if args.service_monitor is not None:
            if args.service_monitor.create_namespace:
                out.append(monitoring_namespace(args))
            out.append(service_monitor(args))
    return out


def install_manifests(args: MultusInstallArgs) -> list[dict[str, Any]]:
    """Everything ``MultusInstall`` deploys, in apply order (offline render)."""
    from .crds import service_monitor_crd
    from .flannel import flannel_manifests

    out: list[dict[str, Any]] = []
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


def validate(args: MultusInstallArgs) -> MultusValidation:
    """What to check once Multus is installed with ``args``.

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


# -- the pod side: networks on workloads ------------------------------------------------------


def attach_networks(pod_template: Mapping[str, Any], selections: Sequence[NetworkSelection],
                    *, device_resources: Mapping[str, int] | None = None,
                    container: str | None = None) -> dict[str, Any]:
    """A copy of ``pod_template`` (``{metadata, spec}``) whose pods get ``selections``.

    The selections become the ``k8s.v1.cni.cncf.io/networks`` annotation; device
    resources (one per SR-IOV attachment, see
    :func:`~netplumb.checks.selections.device_requests`) are added to the requests and
    limits of ``container`` (default: the first). An annotation already in the template
    that differs is a :class:`PlanError`: two sources for one list.
    """
    out = copy.deepcopy(dict(pod_template))
    meta = out.setdefault("metadata", {})
    notes = dict(meta.get("annotations") or {})
    if selections:
        value = networks_annotation(list(selections))
        old = notes.get(NETWORKS_ANNOTATION)
        if old is not None and _decoded(old) != _decoded(value):
            raise PlanError.one(f"metadata.annotations.{NETWORKS_ANNOTATION}", old,
                                "the template already selects networks; give them as "
                                "selections only")
        notes[NETWORKS_ANNOTATION] = value
        meta["annotations"] = notes
    if device_resources:
        containers = (out.get("spec") or {}).get("containers") or []
        index = 0
        if container is not None:
            names = [c.get("name") for c in containers]
            if container not in names:
                raise PlanError.one("spec.containers", names,
                                    f"no container {container!r} for the device resources")
            index = names.index(container)
        if not containers:
            raise PlanError.one("spec.containers", [], "no container to give the device "
                                "resources of the SR-IOV networks to")
        target = containers[index]
        target["resources"] = with_device_resources(
            target.get("resources"), device_resources,
            where=f"spec.containers[{index}].resources")
    return out


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def attach_to_workload(manifest: Mapping[str, Any], selections: Sequence[NetworkSelection],
                       **kwargs: Any) -> dict[str, Any]:
    """:func:`attach_networks` on a Deployment, StatefulSet, DaemonSet (their
    ``spec.template``) or a bare Pod."""
    if manifest.get("kind") == "Pod":
        return attach_networks(manifest, selections, **kwargs)
    out = dict(manifest)
    spec = dict(out.get("spec") or {})
    if "template" not in spec:
        raise PlanError.one("spec.template", None, f"a {manifest.get('kind')} without a pod "
                            "template; expected a Deployment, StatefulSet, DaemonSet or Pod")
    spec["template"] = attach_networks(spec["template"], selections, **kwargs)
    out["spec"] = spec
    return out


def workload(name: str, args: WorkloadArgs,
             device_resources: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The Deployment, StatefulSet or DaemonSet of ``args`` with its networks attached."""
    labels = {**MANAGED_BY, "app": name, **args.labels}
    container: dict[str, Any] = {"name": args.container_name, "image": args.image}
    if args.command:
        container["command"] = list(args.command)
    if args.args:
        container["args"] = list(args.args)
    if args.ports:
        container["ports"] = [p.to_dict() for p in args.ports]
    res = args.resources.to_dict()
    if res:
        container["resources"] = res
    pod_spec: dict[str, Any] = {"containers": [container],
                                "terminationGracePeriodSeconds":
                                    args.termination_grace_period_seconds}
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    template_meta: dict[str, Any] = {"labels": labels}
    if args.annotations:
        template_meta["annotations"] = dict(args.annotations)
    template = attach_networks({"metadata": template_meta, "spec": pod_spec}, args.networks,
                               device_resources=device_resources)
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if args.kind != "DaemonSet":
        spec["replicas"] = args.replicas
    if args.kind == "StatefulSet":
        spec["serviceName"] = name
    spec["template"] = template
    return {"apiVersion": "apps/v1", "kind": args.kind,
            "metadata": {"name": name, "namespace": args.namespace,
                         "labels": {**MANAGED_BY, "app": name}},
            "spec": spec}
