"""whereabouts (v0.9.2) in the cluster: netplumb's own schemas of its three CRDs, RBAC, the
reconciler's schedule, and the DaemonSet that runs the ip-control-loop beside the container
writing the plugin's configuration onto every node; optionally the node-slice-controller.

The plugin binary is not here: the node plugin installs it (with the measuring shim). The
plugin runs on the host for every pod, so it needs a kubeconfig on the host: ``netplumb-node
whereabouts-config`` writes ``whereabouts.conf`` (datastore ``kubernetes``, the kubeconfig's
path, the reconciler schedule) and ``whereabouts.kubeconfig`` (the API server, its CA and the
ServiceAccount's token, rewritten whenever the token rotates) under
``/etc/cni/net.d/whereabouts.d``, where the plugin and the ip-control-loop look.
"""

from __future__ import annotations

from typing import Any

from .. import hostpaths as host
from ..args.whereabouts import WhereaboutsArgs
from .manifests import (
    config_map,
    crd,
    daemonset,
    deployment,
    field_env,
    host_volume,
    mount,
    object_schema,
    placed,
    rule,
    service_account_with_role,
)
from .nad import NAD_GROUP
from .node_plugin import restricted

GROUP = "whereabouts.cni.cncf.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# duplicates: intended: each add-on's names, labels and paths (render/multi_network_policy.py,
# render/whereabouts.py, render/sriov.py): alike in shape, each its own in value.
NAME = "whereabouts"
DAEMONSET = "whereabouts"
CONFIG_MAP = "whereabouts-config"
NODE_SLICE_CONTROLLER = "whereabouts-node-slice-controller"
CRON_KEY = "cron-expression"

_LABELS = {"app": "whereabouts", "tier": "node"}
_SELECTOR = {"name": "whereabouts"}
_CONTROLLER_SELECTOR = {"name": "whereabouts-node-slice-controller"}
_CRON_DIR = "/cron-schedule"
"""Where the ip-control-loop reads its schedule (``config``) and watches for updates."""
_HOST = "/host"
"""The ip-control-loop reads the plugin's flat file under this prefix."""


# -- CRDs -------------------------------------------------------------------------------------


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def ippool_crd() -> dict[str, Any]:
    """IPPool: one per range (per node slice with ``node_slice_size``); ``spec.allocations``
    maps an address's offset in the range to the pod holding it."""
    allocation = object_schema("The pod interface holding the address at this offset.", {
        "id": _string("Container (sandbox) ID of the pod."),
        "podref": _string("The pod, as namespace/name."),
        "ifname": _string("The pod's interface name."),
    }, ["id", "podref"])
    spec = object_schema("A range and the addresses allocated from it.", {
        "range": _string("The range, in CIDR notation (e.g. 198.51.100.0/24)."),
        "allocations": {
            "type": "object",
            "description": "Allocated addresses, keyed by their offset in the range.",
            "additionalProperties": allocation,
        },
    }, ["range", "allocations"])
    return crd(GROUP, VERSION, "IPPool", "ippools", "ippool", [],
               "Addresses whereabouts has allocated from one range, cluster-wide.", spec)


def overlapping_range_reservation_crd() -> dict[str, Any]:
    """OverlappingRangeIPReservation: one per allocated address (named after it), so ranges
    that overlap across networks never hand one address out twice."""
    spec = object_schema("The pod interface holding this object's address.", {
        "containerid": _string("Container (sandbox) ID of the pod."),
        "podref": _string("The pod, as namespace/name."),
        "ifname": _string("The pod's interface name."),
    }, ["podref"])
    return crd(GROUP, VERSION, "OverlappingRangeIPReservation",
               "overlappingrangeipreservations", "overlappingrangeipreservation", [],
               "An address reserved across every whereabouts range that contains it.", spec)


def node_slice_pool_crd() -> dict[str, Any]:
    """NodeSlicePool: a range cut into slices of ``sliceSize``, one slice per node (written
    by the node-slice-controller; ``status`` is a plain field, as the controller updates the
    whole object)."""
    spec = object_schema("The range to cut and the size of each node's slice.", {
        "range": _string("The whole range, in CIDR notation."),
        "sliceSize": _string("Prefix length of each node's slice, e.g. /28 or 28."),
    }, ["range", "sliceSize"])
    node_slice = object_schema(None, {
        "nodeName": _string("The node holding the slice; empty: free."),
        "sliceRange": _string("The slice, in CIDR notation."),
    }, ["nodeName", "sliceRange"])
    status = object_schema("Which node holds which slice.", {
        "allocations": {"type": "array", "items": node_slice},
    }, ["allocations"])
    return crd(GROUP, VERSION, "NodeSlicePool", "nodeslicepools", "nodeslicepool", [],
               "A whereabouts range cut into per-node slices.", spec, status_schema=status)


def whereabouts_crds() -> list[dict[str, Any]]:
    return [ippool_crd(), overlapping_range_reservation_crd(), node_slice_pool_crd()]


# -- RBAC and workloads -----------------------------------------------------------------------


def rules() -> list[dict[str, Any]]:
    """What the plugin (on the hosts, with this ServiceAccount's token) and the controllers
    do: write pools, reservations and slices; hold a Lease per pool while they allocate
    (client-go's LeaseLock: get, create, update); read pods, nodes and NADs; record events."""
    return [
        rule([GROUP], ["ippools", "overlappingrangeipreservations", "nodeslicepools"],
             ["get", "list", "watch", "create", "update", "patch", "delete"]),
        rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
        rule([""], ["pods", "nodes"], ["get", "list", "watch"]),
        rule([NAD_GROUP], ["network-attachment-definitions"], ["get", "list", "watch"]),
        rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update"]),
    ]


def config_writer_args(args: WhereaboutsArgs) -> list[str]:
    """``netplumb-node whereabouts-config``: the files into the host's whereabouts.d (seen at
    ``/host``), naming host paths, rewritten when the token or CA changes."""
    return ["whereabouts-config", f"--dir={_HOST}{host.WHEREABOUTS_CONF_DIR}",
            f"--host-dir={host.WHEREABOUTS_CONF_DIR}", f"--namespace={args.namespace}",
            f"--reconciler-cron={args.reconciler_schedule}", "--watch"]


def _env() -> list[dict[str, Any]]:
    return [field_env("NODENAME", "spec.nodeName"),
            field_env("WHEREABOUTS_NAMESPACE", "metadata.namespace")]


def daemonset_spec(args: WhereaboutsArgs) -> dict[str, Any]:
    """The pod spec of the whereabouts DaemonSet."""
    control_loop = {
        "name": "ip-control-loop", "image": args.image,
        # v0.9.2's ip-control-loop never parses its flags (it logs at debug whatever
        # -log-level says), so none is passed
        "command": ["/ip-control-loop"],
        "env": _env(),
        "resources": args.resources.to_dict(),
        "securityContext": restricted(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("cron-schedule", _CRON_DIR, readOnly=True),
                         mount("whereabouts-d", _HOST + host.WHEREABOUTS_CONF_DIR,
                               readOnly=True)],
    }
    writer = {
        "name": "whereabouts-config", "image": args.config_image,
        "args": config_writer_args(args),
        "resources": {"requests": {"cpu": "5m", "memory": "10Mi"},
                      "limits": {"memory": "50Mi"}},
        "securityContext": restricted(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [mount("whereabouts-d", _HOST + host.WHEREABOUTS_CONF_DIR)],
    }
    pod_spec: dict[str, Any] = {
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": NAME,
        "tolerations": [t.to_dict() for t in args.tolerations],
        "containers": [writer, control_loop],
        "volumes": [
            host_volume("whereabouts-d", host.WHEREABOUTS_CONF_DIR, "DirectoryOrCreate"),
            {"name": "cron-schedule", "configMap": {
                "name": CONFIG_MAP, "items": [{"key": CRON_KEY, "path": "config"}]}},
        ],
    }
    return placed(pod_spec, args.priority_class_name, args.node_selector)


def node_slice_controller(args: WhereaboutsArgs) -> dict[str, Any]:
    """The node-slice-controller Deployment (one replica); it reads the flat file the
    DaemonSet wrote on its node at the plugin's own path."""
    pod_spec: dict[str, Any] = {
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": NAME,
        "containers": [{
            "name": "node-slice-controller", "image": args.image,
            "command": ["/node-slice-controller"],
            "env": _env(),
            "resources": args.resources.to_dict(),
            "securityContext": restricted(),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [mount("whereabouts-d", host.WHEREABOUTS_CONF_DIR,
                                   readOnly=True)],
        }],
        "volumes": [host_volume("whereabouts-d", host.WHEREABOUTS_CONF_DIR,
                                "DirectoryOrCreate")],
    }
    placed(pod_spec, None, args.node_selector)
    return deployment(NODE_SLICE_CONTROLLER, args.namespace, _LABELS, _CONTROLLER_SELECTOR,
                      pod_spec)


def whereabouts_manifests(args: WhereaboutsArgs) -> list[dict[str, Any]]:
    """Every object of the install, in apply order: CRDs (with ``install_crds``), ClusterRole
    and binding, ServiceAccount, the schedule's ConfigMap, the DaemonSet, the
    node-slice-controller (on request)."""
    out = whereabouts_crds() if args.install_crds else []
    out += service_account_with_role(NAME, args.namespace, rules(), _LABELS)
    out.append(config_map(CONFIG_MAP, args.namespace,
                          {CRON_KEY: args.reconciler_schedule}, _LABELS))
    out.append(daemonset(DAEMONSET, args.namespace, _LABELS, _SELECTOR, daemonset_spec(args)))
    if args.node_slice_controller:
        out.append(node_slice_controller(args))
    return out
