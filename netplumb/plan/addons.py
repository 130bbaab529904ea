"""The add-ons a stack's networks need, decided from the plan (pure): whereabouts for networks
with whereabouts IPAM."""

from __future__ import annotations

from collections.abc import Iterable

from ..args.stack import StackSpec
from ..args.whereabouts import WhereaboutsArgs
from ..errors import Finding
from ..planned import PlannedNetwork


def whereabouts_users(networks: Iterable[PlannedNetwork]) -> list[PlannedNetwork]:
    """The networks whose IPAM is whereabouts."""
    return [n for n in networks if n.config.ipam_type() == "whereabouts"]


def whereabouts_install(spec: StackSpec, networks: Iterable[PlannedNetwork], at: str
                        ) -> tuple[WhereaboutsArgs | None, list[Finding]]:
    """What whereabouts the stack installs, and an error when its networks use whereabouts
    and the stack neither installs it nor says the cluster has it.

    ``whereabouts: {installed: here}`` installs it; ``{installed: external}`` installs
    nothing; unset, a stack that installs Multus (the cluster's platform) installs it when a
    network uses it. Beside Multus it defaults to Multus' namespace, and its config writer
    to the node plugin's image. ``at`` is the spec's path prefix (for the
    ``whereabouts`` key in messages)."""
    setting = spec.whereabouts
    if setting is not None:
        if setting.installed == "external":
            return None, []
        return _beside_multus(spec, setting.install_args(), setting.model_fields_set), []
    users = whereabouts_users(networks)
    if not users:
        return None, []
    if spec.multus is not None:
        return _beside_multus(spec, WhereaboutsArgs(), set()), []
    first = users[0]
    others = f" (and {len(users) - 1} more networks)" if len(users) > 1 else ""
    return None, [Finding(
        first.ipam_path("type"), "whereabouts",
        f"network {first.key}{others} uses whereabouts IPAM, which needs whereabouts in the "
        "cluster (its CRDs, RBAC and ip-control-loop), and this stack neither installs it "
        "nor says the cluster has it. Expected, at " + (f"{at}whereabouts" if at.endswith(":")
                                                        else f"{at}.whereabouts") +
        ": {installed: external} when another stack or tool installed it, or {} to install "
        "it with this stack")]


def _beside_multus(spec: StackSpec, args: WhereaboutsArgs, given: set[str]) -> WhereaboutsArgs:
    """``args`` in Multus' namespace and with the node plugin's image for the config writer,
    where the stack installs them and ``given`` (the keys set) does not say otherwise."""
    update: dict[str, str] = {}
    if spec.multus is not None and "namespace" not in given:
        update["namespace"] = spec.multus.namespace
    node = spec.node_plugin_args()
    if node is not None and "config_image" not in given:
        update["config_image"] = node.image
    return args.model_copy(update=update) if update else args
