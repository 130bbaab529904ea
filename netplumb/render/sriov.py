"""The SR-IOV network device plugin (its pools as a ConfigMap, the node DaemonSet) and the
``sriov`` CNI binary placed by an init container of the same DaemonSet."""

from __future__ import annotations

import json
from typing import Any

from ..args.sriov import SriovPoolArgs, SriovResourcePool
from .nad import MANAGED_BY

NAME = "sriov-device-plugin"
CONFIG_MAP = "sriovdp-config"
DAEMONSET = "kube-sriov-device-plugin"
CONFIG_DIR = "/etc/pcidp"

_LABELS = {**MANAGED_BY, "app": "sriovdp", "tier": "node"}
_SELECTOR = {"name": "sriov-device-plugin"}


def resource_entry(args: SriovPoolArgs, pool: SriovResourcePool) -> dict[str, Any]:
    """One ``resourceList`` entry."""
    entry: dict[str, Any] = {"resourceName": pool.resource_name}
    if pool.resource_prefix:
        entry["resourcePrefix"] = pool.resource_prefix
    if pool.device_type:
        entry["deviceType"] = pool.device_type
    if pool.exclude_topology:
        entry["excludeTopology"] = True
    entry["selectors"] = pool.selectors.to_dict()
    return entry


def device_plugin_config(args: SriovPoolArgs) -> dict[str, Any]:
    """The plugin's ``config.json``."""
    return {"resourceList": [resource_entry(args, p) for p in args.pools]}


def service_account(args: SriovPoolArgs) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": args.namespace, "labels": dict(_LABELS)}}


def config_map(args: SriovPoolArgs) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": args.namespace, "labels": dict(_LABELS)},
        "data": {"config.json": json.dumps(device_plugin_config(args), indent=2) + "\n"},
    }


def daemonset(args: SriovPoolArgs) -> dict[str, Any]:
    plugin: dict[str, Any] = {
        "name": "kube-sriovdp",
        "image": args.image,
        "args": ["--log-dir=sriovdp", f"--log-level={args.log_level}",
                 f"--resource-prefix={args.resource_prefix}",
                 f"--config-file={CONFIG_DIR}/config.json"],
        "securityContext": {"privileged": True},
        "volumeMounts": [
            {"name": "devicesock", "mountPath": "/var/lib/kubelet/device-plugins"},
            {"name": "plugins-registry", "mountPath": "/var/lib/kubelet/plugins_registry"},
            {"name": "log", "mountPath": "/var/log"},
            {"name": "config-volume", "mountPath": CONFIG_DIR},
            {"name": "device-info", "mountPath": "/var/run/k8s.cni.cncf.io/devinfo/dp"},
        ],
    }
    resources = args.resources.to_dict()
    if resources:
        plugin["resources"] = resources
    volumes: list[dict[str, Any]] = [
        {"name": "devicesock", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}},
        {"name": "plugins-registry", "hostPath": {"path": "/var/lib/kubelet/plugins_registry"}},
        {"name": "log", "hostPath": {"path": "/var/log"}},
        {"name": "device-info", "hostPath": {"path": "/var/run/k8s.cni.cncf.io/devinfo/dp",
                                             "type": "DirectoryOrCreate"}},
        {"name": "config-volume", "configMap": {
            "name": CONFIG_MAP, "items": [{"key": "config.json", "path": "config.json"}]}},
    ]
    pod_spec: dict[str, Any] = {"hostNetwork": True, "serviceAccountName": NAME}
    if args.install_sriov_cni:
        # sriov-cni's entrypoint copies its binary and, with --no-sleep, exits: an init
        # container places it before the plugin advertises devices pods could use.
        pod_spec["initContainers"] = [{
            "name": "install-sriov-cni",
            "image": args.sriov_cni_image,
            "args": ["--cni-bin-dir=/host/opt/cni/bin", "--no-sleep"],
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "10m", "memory": "15Mi"}},
            "volumeMounts": [{"name": "cnibin", "mountPath": "/host/opt/cni/bin"}],
        }]
        volumes.append({"name": "cnibin", "hostPath": {"path": "/opt/cni/bin"}})
    pod_spec["containers"] = [plugin]
    pod_spec["volumes"] = volumes
    if args.tolerations:
        pod_spec["tolerations"] = [t.to_dict() for t in args.tolerations]
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": args.namespace, "labels": dict(_LABELS)},
        "spec": {
            "selector": {"matchLabels": dict(_SELECTOR)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": {**_LABELS, **_SELECTOR}}, "spec": pod_spec},
        },
    }


def sriov_manifests(args: SriovPoolArgs) -> list[dict[str, Any]]:
    """Every object of the pool, in apply order."""
    return [service_account(args), config_map(args), daemonset(args)]
