"""The plan (pure): a stack spec resolved into networks, pods and workloads with every check
run and what netplumb adds itself applied, before anything registers; the manifests it
renders to; and the shared installs it places, each declared once."""

from ..planned import (
    DEFAULT_ROUTE_LINK,
    HOSTNAME_LABEL,
    PlannedNetwork,
    Workload,
    workload_of,
    workload_of_pod,
)
from .addons import whereabouts_install, whereabouts_users
from .build import (
    Plan,
    build_plan,
    nad_manifests,
    pod_manifests,
    render_plan,
    workload_manifests,
)
from .cluster_wide import StackInstalls, cluster_wide, stack_installs
from .fixups import (
    add_ips_capability,
    attach_networks,
    attach_to_workload,
    container_resources,
    device_requests,
    with_capability,
    with_device_resources,
)
from .installs import (
    Install,
    MultusDeclared,
    Part,
    declare_flannel,
    declare_guardrails,
    declare_monitoring,
    declare_multus,
    declare_nad_crd,
    declare_node_plugin,
    declare_sriov,
    declare_whereabouts,
)

__all__ = [
    "DEFAULT_ROUTE_LINK",
    "HOSTNAME_LABEL",
    "Install",
    "MultusDeclared",
    "Part",
    "Plan",
    "PlannedNetwork",
    "StackInstalls",
    "Workload",
    "add_ips_capability",
    "attach_networks",
    "attach_to_workload",
    "build_plan",
    "cluster_wide",
    "container_resources",
    "declare_flannel",
    "declare_guardrails",
    "declare_monitoring",
    "declare_multus",
    "declare_nad_crd",
    "declare_node_plugin",
    "declare_sriov",
    "declare_whereabouts",
    "device_requests",
    "nad_manifests",
    "pod_manifests",
    "render_plan",
    "stack_installs",
    "whereabouts_install",
    "whereabouts_users",
    "with_capability",
    "with_device_resources",
    "workload_manifests",
    "workload_of",
    "workload_of_pod",
]
