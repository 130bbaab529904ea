"""The SR-IOV network device plugin and its pools."""

from __future__ import annotations

from typing import Any

import pulumi

from ..args.nad import SriovNetworkArgs
from ..args.sriov import SriovPoolArgs
from ..plan import declare_sriov
from .shared import SharedInstall


class SriovPool(SharedInstall[SriovPoolArgs], declare=declare_sriov):
    """The SR-IOV network device plugin advertising ``pools`` (ConfigMap + DaemonSet), with
    the ``sriov`` CNI binary placed on the nodes.

    ``resource_names`` maps each pool to its full name (``intel.com/sriov``);
    :meth:`network_args` returns :class:`SriovNetworkArgs` wired to a pool.

    Outputs: ``resource_names``.
    """

    resource_names: pulumi.Output[dict[str, str]]

    def _handles(self) -> None:
        self.names: dict[str, str] = self.declared.outputs["resource_names"]
        self.service_account = self.resources["service-account"]
        self.config_map = self.resources["config"]
        self.daemonset = self.resources["daemonset"]

    def resource_name(self, pool: str | None = None) -> str:
        """Full resource name of ``pool`` (or of the only pool)."""
        return self.args.resource_name(pool)

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """Args of a :class:`~netplumb.components.SriovNetwork` using ``pool``."""
        return self.args.network_args(pool, **fields)
