"""The plan (pure): a stack spec resolved into networks, pods and workloads with every check
run and what netplumb adds itself applied, before anything registers; and the manifests it
renders to."""

from .build import (
    Plan,
    build_plan,
    nad_manifests,
    pod_manifests,
    render_plan,
    workload_manifests,
)
from .cluster_wide import cluster_wide, guardrails_wanted, multus_wanted, sriov_wanted
from .fixups import (
    add_ips_capability,
    attach_networks,
    attach_to_workload,
    container_resources,
    device_requests,
    with_capability,
    with_device_resources,
)
from .network import DEFAULT_ROUTE_LINK, PlannedNetwork
from .workload import HOSTNAME_LABEL, Workload, workload_of, workload_of_pod

__all__ = [
    "DEFAULT_ROUTE_LINK",
    "HOSTNAME_LABEL",
    "Plan",
    "PlannedNetwork",
    "Workload",
    "add_ips_capability",
    "attach_networks",
    "attach_to_workload",
    "build_plan",
    "cluster_wide",
    "container_resources",
    "device_requests",
    "guardrails_wanted",
    "multus_wanted",
    "nad_manifests",
    "pod_manifests",
    "render_plan",
    "sriov_wanted",
    "with_capability",
    "with_device_resources",
    "workload_manifests",
    "workload_of",
    "workload_of_pod",
]
