"""The SR-IOV network device plugin (its pools as a ConfigMap, the node DaemonSet) and the
``sriov`` CNI binary placed by an init container of the same DaemonSet."""

from __future__ import annotations

from typing import Any

from .. import hostpaths as host
from ..args.sriov import SriovPoolArgs, SriovResourcePool
from .manifests import (
    config_map,
    config_map_volume,
    daemonset,
    host_volume,
    installer_resources,
    json_file,
    mount,
    resources_if_set,
    service_account,
)

# duplicates: intended: each add-on's names, labels and paths (render/multi_network_policy.py,
# render/whereabouts.py, render/sriov.py): alike in shape, each its own in value.
NAME = "sriov-device-plugin"
CONFIG_MAP = "sriovdp-config"
DAEMONSET = "kube-sriov-device-plugin"
CONFIG_DIR = "/etc/pcidp"

_LABELS = {"app": "sriovdp", "tier": "node"}
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


def daemonset_spec(args: SriovPoolArgs) -> dict[str, Any]:
    """The pod spec of the device plugin's DaemonSet."""
    plugin: dict[str, Any] = {
        "name": "kube-sriovdp",
        "image": args.image,
        "args": ["--log-dir=sriovdp", f"--log-level={args.log_level}",
                 f"--resource-prefix={args.resource_prefix}",
                 f"--config-file={CONFIG_DIR}/config.json"],
        "securityContext": {"privileged": True},
        "volumeMounts": [
            mount("devicesock", host.DEVICE_PLUGINS_DIR),
            mount("plugins-registry", host.PLUGINS_REGISTRY_DIR),
            mount("log", host.LOG_DIR),
            mount("config-volume", CONFIG_DIR),
            mount("device-info", host.DEVICE_INFO_DIR),
        ],
        **resources_if_set(args.resources.to_dict()),
    }
    volumes: list[dict[str, Any]] = [
        host_volume("devicesock", host.DEVICE_PLUGINS_DIR),
        host_volume("plugins-registry", host.PLUGINS_REGISTRY_DIR),
        host_volume("log", host.LOG_DIR),
        host_volume("device-info", host.DEVICE_INFO_DIR, "DirectoryOrCreate"),
        config_map_volume("config-volume", CONFIG_MAP, "config.json"),
    ]
    pod_spec: dict[str, Any] = {"hostNetwork": True, "serviceAccountName": NAME}
    if args.install_sriov_cni:
        # sriov-cni's entrypoint copies its binary and, with --no-sleep, exits: an init
        # container places it before the plugin advertises devices pods could use.
        pod_spec["initContainers"] = [{
            "name": "install-sriov-cni",
            "image": args.sriov_cni_image,
            "args": [f"--cni-bin-dir=/host{host.CNI_BIN_DIR}", "--no-sleep"],
            "securityContext": {"allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": installer_resources(),
            "volumeMounts": [mount("cnibin", f"/host{host.CNI_BIN_DIR}")],
        }]
        volumes.append(host_volume("cnibin", host.CNI_BIN_DIR))
    pod_spec["containers"] = [plugin]
    pod_spec["volumes"] = volumes
    if args.tolerations:
        pod_spec["tolerations"] = [t.to_dict() for t in args.tolerations]
    if args.node_selector:
        pod_spec["nodeSelector"] = dict(args.node_selector)
    return pod_spec


def sriov_manifests(args: SriovPoolArgs) -> list[dict[str, Any]]:
    """Every object of the pool, in apply order: ServiceAccount, ConfigMap, DaemonSet."""
    data = {"config.json": json_file(device_plugin_config(args))}
    return [
        service_account(NAME, args.namespace, _LABELS),
        config_map(CONFIG_MAP, args.namespace, data, _LABELS),
        # the device plugin reads its pools at start: a change rolls it
        daemonset(DAEMONSET, args.namespace, _LABELS, _SELECTOR, daemonset_spec(args),
                  config=[data]),
    ]
