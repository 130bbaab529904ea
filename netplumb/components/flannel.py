"""Flannel as the cluster's default network."""

from __future__ import annotations

from typing import Any

import pulumi

from ..args.flannel import FlannelArgs
from ..ownership import Wanted
from ..render import flannel as flannel_render
from .objects import check_owners, children, register_object


class Flannel(pulumi.ComponentResource):
    """Flannel as the default network: namespace (PodSecurity privileged), RBAC, config
    (pod CIDR, backend, CNI conflist) and the DaemonSet running ``flanneld --ip-masq
    --kube-subnet-mgr [--iface=…]``.

    Outputs: ``namespace``, ``daemonset_name``, ``network``.
    """

    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]
    network: pulumi.Output[str]

    def __init__(self, name: str, args: FlannelArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        manifests = flannel_render.flannel_manifests(checked)
        check_owners([Wanted(name, manifests, instead="use the cluster's default network")])
        ns, role, binding, sa, cm, ds = manifests
        super().__init__("netplumb:index:Flannel", name, None, opts)
        self.args = checked

        def reg(role_name: str, manifest: dict[str, Any],
                *deps: pulumi.Resource | None) -> pulumi.CustomResource:
            return register_object(f"{name}-{role_name}", manifest, children(self, *deps),
                                   cluster_wide=True)

        self.ns = reg("namespace", ns)
        self.cluster_role = reg("cluster-role", role)
        self.cluster_role_binding = reg("cluster-role-binding", binding, self.cluster_role)
        self.service_account = reg("service-account", sa, self.ns)
        self.config_map = reg("config", cm, self.ns)
        self.daemonset = reg("daemonset", ds, self.config_map, self.service_account,
                             self.cluster_role_binding)
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.daemonset_name = pulumi.Output.from_input(flannel_render.DAEMONSET)
        self.network = pulumi.Output.from_input(checked.network)
        self.register_outputs({"namespace": self.namespace,
                               "daemonset_name": self.daemonset_name,
                               "network": self.network})
