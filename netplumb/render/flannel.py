"""Flannel as the default network: namespace, RBAC, config and the node DaemonSet."""

from __future__ import annotations

import json
from typing import Any

from ..args.flannel import FlannelArgs
from .nad import MANAGED_BY

NAME = "flannel"
CONFIG_MAP = "kube-flannel-cfg"
DAEMONSET = "kube-flannel-ds"
CNI_CONF_FILE = "/etc/cni/net.d/10-flannel.conflist"
SUBNET_ENV = "/run/flannel/subnet.env"
"""Written by flanneld once the node's lease is in place: the sign the network is up."""

_LABELS = {**MANAGED_BY, "app": "flannel", "k8s-app": "flannel", "tier": "node"}
_PRIVILEGED = {f"pod-security.kubernetes.io/{m}": "privileged"
               for m in ("enforce", "audit", "warn")}


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
    out = ["--kube-subnet-mgr"]
    if args.ip_masq:
        out.insert(0, "--ip-masq")
    if args.iface:
        out.append(f"--iface={args.iface}")
    out.append(f"--healthz-port={args.healthz_port}")
    return out


def namespace(args: FlannelArgs) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": args.namespace, "labels": {**_LABELS, **_PRIVILEGED}}}


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
        ],
    }


def cluster_role_binding(args: FlannelArgs) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": dict(_LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": args.namespace}],
    }


def service_account(args: FlannelArgs) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": args.namespace, "labels": dict(_LABELS)}}


def config_map(args: FlannelArgs) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": args.namespace, "labels": dict(_LABELS)},
        "data": {"cni-conf.json": json.dumps(cni_conf(args), indent=2) + "\n",
                 "net-conf.json": json.dumps(net_conf(args), indent=2) + "\n"},
    }


def daemonset(args: FlannelArgs) -> dict[str, Any]:
    selector = {"app": "flannel"}
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE",
         "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
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
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"},
                           "initialDelaySeconds": 5, "periodSeconds": 10},
        "securityContext": {"privileged": False,
                            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        "env": env,
        "volumeMounts": [
            {"name": "run", "mountPath": "/run/flannel"},
            {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"},
            {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        ],
    }
    resources = args.resources.to_dict()
    if resources:
        container["resources"] = resources
    init = [
        {"name": "install-cni-plugin", "image": args.cni_plugin_image,
         "command": ["cp"], "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
         "volumeMounts": [{"name": "cni-plugin", "mountPath": "/opt/cni/bin"}]},
        {"name": "install-cni", "image": args.image,
         "command": ["/opt/bin/install-conf"],
         "args": ["/etc/kube-flannel/cni-conf.json", CNI_CONF_FILE],
         "volumeMounts": [{"name": "cni", "mountPath": "/etc/cni/net.d"},
                          {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]},
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
            {"name": "run", "hostPath": {"path": "/run/flannel"}},
            {"name": "cni-plugin", "hostPath": {"path": "/opt/cni/bin"}},
            {"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
            {"name": "flannel-cfg", "configMap": {"name": CONFIG_MAP}},
            {"name": "xtables-lock",
             "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
        ],
    }
    if args.priority_class_name:
        pod_spec["priorityClassName"] = args.priority_class_name
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": args.namespace, "labels": dict(_LABELS)},
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": {**_LABELS, **selector}}, "spec": pod_spec},
        },
    }


def flannel_manifests(args: FlannelArgs) -> list[dict[str, Any]]:
    """Every Flannel object, in apply order."""
    return [namespace(args), cluster_role(), cluster_role_binding(args), service_account(args),
            config_map(args), daemonset(args)]
