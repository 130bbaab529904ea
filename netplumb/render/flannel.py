"""Flannel as the default network: namespace, RBAC, config and the node DaemonSet."""

from __future__ import annotations

from typing import Any

from .. import hostpaths as host
from ..args.flannel import FlannelArgs
from .manifests import (
    config_map,
    config_map_volume,
    daemonset,
    field_env,
    flags,
    host_volume,
    json_file,
    mount,
    namespace,
    resources_if_set,
    rule,
    service_account_with_role,
)

NAME = "flannel"
CONFIG_MAP = "kube-flannel-cfg"
DAEMONSET = "kube-flannel-ds"
CNI_CONF_FILE = f"{host.CNI_CONF_DIR}/10-flannel.conflist"

_LABELS = {"app": "flannel", "k8s-app": "flannel", "tier": "node"}
_SELECTOR = {"app": "flannel"}
_PRIVILEGED = {f"pod-security.kubernetes.io/{m}": "privileged"
               for m in ("enforce", "audit", "warn")}
_CONFIG_DIR = "/etc/kube-flannel/"


def net_conf(args: FlannelArgs) -> dict[str, Any]:
    """``net-conf.json``: the pod network and the backend."""
    return {"Network": args.network, "EnableNFTables": args.enable_nftables,
            "Backend": {"Type": args.backend}}


def cni_conf(args: FlannelArgs) -> dict[str, Any]:
    """``cni-conf.json``: the conflist installed on each node (flannel, then portmap)."""
    return {
        "name": args.cni_name,
        "cniVersion": args.cni_version,
        "plugins": [
            {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def flanneld_args(args: FlannelArgs) -> list[str]:
    """flanneld's command-line: subnets from the nodes' podCIDRs, optional masquerade and
    interface."""
    return [*flags(("ip-masq", args.ip_masq)), "--kube-subnet-mgr", *flags(("iface", args.iface)),
            f"--healthz-port={args.healthz_port}"]


def daemonset_spec(args: FlannelArgs) -> dict[str, Any]:
    """The pod spec of Flannel's DaemonSet."""
    env = [
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        {"name": "EVENT_QUEUE_DEPTH", "value": "5000"},
    ]
    container: dict[str, Any] = {
        "name": "kube-flannel",
        "image": args.image,
        "command": ["/opt/bin/flanneld"],
        "args": flanneld_args(args),
        "ports": [{"name": "healthz", "containerPort": args.healthz_port, "protocol": "TCP"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"},
                          "initialDelaySeconds": 10, "periodSeconds": 30},
        # asked every 2 s: Multus and every pod of the node wait for this network, and the
        # DaemonSet counts as ready only once a probe has passed
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"},
                           "initialDelaySeconds": 1, "periodSeconds": 2},
        "securityContext": {"privileged": False,
                            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "env": env,
        "volumeMounts": [
            mount("run", host.FLANNEL_RUN_DIR),
            mount("flannel-cfg", _CONFIG_DIR),
            mount("xtables-lock", host.XTABLES_LOCK),
        ],
        **resources_if_set(args.resources.to_dict()),
    }
    init = [
        {"name": "install-cni-plugin", "image": args.cni_plugin_image,
         "command": ["cp"], "args": ["-f", "/flannel", f"{host.CNI_BIN_DIR}/flannel"],
         "volumeMounts": [mount("cni-plugin", host.CNI_BIN_DIR)]},
        {"name": "install-cni", "image": args.image,
         "command": ["/opt/bin/install-conf"],
         "args": [f"{_CONFIG_DIR}cni-conf.json", CNI_CONF_FILE],
         "volumeMounts": [mount("cni", host.CNI_CONF_DIR),
                          mount("flannel-cfg", _CONFIG_DIR)]},
    ]
    pod_spec: dict[str, Any] = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
        "hostNetwork": True,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "serviceAccountName": NAME,
        "initContainers": init,
        "containers": [container],
        "volumes": [
            host_volume("run", host.FLANNEL_RUN_DIR),
            host_volume("cni-plugin", host.CNI_BIN_DIR),
            host_volume("cni", host.CNI_CONF_DIR),
            config_map_volume("flannel-cfg", CONFIG_MAP),
            host_volume("xtables-lock", host.XTABLES_LOCK, "FileOrCreate"),
        ],
    }
    if args.priority_class_name:
        pod_spec["priorityClassName"] = args.priority_class_name
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    return pod_spec


def flannel_manifests(args: FlannelArgs) -> list[dict[str, Any]]:
    """Every Flannel object, in apply order: namespace, ClusterRole and its binding,
    ServiceAccount, ConfigMap, DaemonSet."""
    data = {"cni-conf.json": json_file(cni_conf(args)), "net-conf.json": json_file(net_conf(args))}
    return [
        namespace(args.namespace, {**_LABELS, **_PRIVILEGED}),
        *service_account_with_role(NAME, args.namespace, [
            rule([""], ["pods"], ["get"]),
            rule([""], ["nodes"], ["get", "list", "watch"]),
            rule([""], ["nodes/status"], ["patch"])], _LABELS),
        config_map(CONFIG_MAP, args.namespace, data, _LABELS),
        # flanneld and its CNI config installer read the ConfigMap at start: a change rolls
        daemonset(DAEMONSET, args.namespace, _LABELS, _SELECTOR, daemonset_spec(args),
                  config=[data]),
    ]
