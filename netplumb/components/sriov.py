"""The SR-IOV network device plugin and its pools."""

from __future__ import annotations

from typing import Any

import pulumi

from ..args.nad import SriovNetworkArgs
from ..args.sriov import SriovPoolArgs
from ..plan import Install, declare_sriov
from .shared import SharedInstall


class SriovPool(SharedInstall[SriovPoolArgs]):
    """The SR-IOV network device plugin advertising ``pools`` (ConfigMap + DaemonSet), with
    the ``sriov`` CNI binary placed on the nodes.

    ``resource_names`` maps each pool to its full name (``intel.com/sriov``);
    :meth:`network_args` returns :class:`SriovNetworkArgs` wired to a pool.

    Outputs: ``resource_names``.
    """

    resource_names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: SriovPoolArgs,
                 opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[SriovPoolArgs] | None = None) -> None:
        install = declared or declare_sriov(args.checked(), name)
        super().__init__(name, install, opts, owners_checked=declared is not None)
        self.names: dict[str, str] = install.outputs["resource_names"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]

    def resource_name(self, pool: str | None = None) -> str:
        """Full resource name of ``pool`` (or of the only pool)."""
        return self.args.resource_name(pool)

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """Args of a :class:`~netplumb.components.SriovNetwork` using ``pool``."""
        return self.args.network_args(pool, **fields)
