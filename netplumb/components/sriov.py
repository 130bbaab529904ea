"""The SR-IOV network device plugin and its pools."""

from __future__ import annotations

from typing import Any

import pulumi

from ..args.nad import SriovNetworkArgs
from ..args.sriov import SriovPoolArgs
from ..plan import sriov_wanted
from ..render import sriov as sriov_render
from .objects import check_owners, children, register_shared


class SriovPool(pulumi.ComponentResource):
    """The SR-IOV network device plugin advertising ``pools`` (ConfigMap + DaemonSet), with
    the ``sriov`` CNI binary placed on the nodes.

    ``resource_names`` maps each pool to its full name (``intel.com/sriov``);
    :meth:`network_args` returns :class:`SriovNetworkArgs` wired to a pool.

    Outputs: ``resource_names``.
    """

    resource_names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: SriovPoolArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        sa, cm, ds = sriov_render.sriov_manifests(checked)
        check_owners(sriov_wanted(checked, name))
        super().__init__("netplumb:index:SriovPool", name, None, opts)
        self.args = checked
        self.names: dict[str, str] = checked.resource_names()
        self.service_account = register_shared(f"{name}-service-account", sa, children(self))
        self.config_map = register_shared(f"{name}-config", cm, children(self))
        self.daemonset = register_shared(f"{name}-daemonset", ds,
                                           children(self, self.config_map, self.service_account))
        self.resource_names = pulumi.Output.from_input(self.names)
        self.register_outputs({"resource_names": self.resource_names})

    def resource_name(self, pool: str | None = None) -> str:
        """Full resource name of ``pool`` (or of the only pool)."""
        return self.args.resource_name(pool)

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """Args of a :class:`~netplumb.components.SriovNetwork` using ``pool``."""
        return self.args.network_args(pool, **fields)
