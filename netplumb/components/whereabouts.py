"""whereabouts in the cluster: cluster-wide IP allocation for whereabouts-IPAM networks."""

from __future__ import annotations

import pulumi

from ..args.whereabouts import WhereaboutsArgs
from ..plan import whereabouts_wanted
from ..render import whereabouts as whereabouts_render
from .objects import check_owners, children, register_identity, register_shared


class Whereabouts(pulumi.ComponentResource):
    """whereabouts v0.9.2: its CRDs (IPPool, OverlappingRangeIPReservation, NodeSlicePool;
    netplumb's own schemas), RBAC, the reconciler's schedule, and a DaemonSet running the
    ip-control-loop beside ``netplumb-node whereabouts-config``, which keeps the plugin's
    configuration and kubeconfig on every node; the node-slice-controller on request. The
    plugin binary comes with the node plugin. Pods of whereabouts-IPAM networks should
    ``depends_on`` the component.

    Outputs: ``namespace``, ``daemonset_name``, ``crds`` (names of the CRDs it installs).
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    crds: pulumi.Output[list[str]]

    def __init__(self, name: str, args: WhereaboutsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = whereabouts_render.whereabouts_manifests(checked)
        check_owners(whereabouts_wanted(checked, name))
        super().__init__("netplumb:index:Whereabouts", name, None, opts)
        self.args = checked
        crds = [m for m in manifests if m["kind"] == "CustomResourceDefinition"]
        self.crd_resources = [
            register_shared(f"{name}-crd-{m['spec']['names']['plural']}", m, children(self))
            for m in crds]
        by_kind = {m["kind"]: m for m in manifests if m["kind"] != "CustomResourceDefinition"}
        self.cluster_role, self.cluster_role_binding, self.service_account = (
            register_identity(name, by_kind, self))
        self.config_map = register_shared(f"{name}-config", by_kind["ConfigMap"],
                                          children(self))
        ready = [self.service_account, self.cluster_role_binding, *self.crd_resources]
        self.daemonset = register_shared(f"{name}-daemonset", by_kind["DaemonSet"],
                                         children(self, self.config_map, *ready))
        self.node_slice_controller: pulumi.CustomResource | None = None
        if "Deployment" in by_kind:
            self.node_slice_controller = register_shared(
                f"{name}-node-slice-controller", by_kind["Deployment"],
                children(self, self.daemonset, *ready))
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(whereabouts_render.DAEMONSET)
        self.crds = pulumi.Output.from_input([m["metadata"]["name"] for m in crds])
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name, "crds": self.crds})
