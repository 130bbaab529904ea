"""Networks against the node plugin the stack installs: a plugin the install leaves out, or
dhcp IPAM without the dhcp daemon, fails every pod that attaches (``failed to find plugin``,
``dhcp daemon not running``) unless the nodes get them elsewhere; a host-local ``dataDir`` the
node plugin does not read is neither measured nor reconciled. A warning naming both keys."""

from __future__ import annotations

from collections.abc import Iterable

from ..args.fields import dir_path
from ..args.node_plugin import NODE_PLUGINS, NodePluginArgs
from ..errors import Finding
from ..planned import PlannedNetwork


def check_node_plugin(networks: Iterable[PlannedNetwork], node: NodePluginArgs | None,
                      at: str) -> list[Finding]:
    """A warning per network using a plugin the stack's node plugin leaves out (of those its
    image ships), per dhcp-IPAM network when the dhcp daemon does not run, and per host-local
    ``dataDir`` outside the node plugin's ``host_local_dirs``. ``at`` is the
    path of the node plugin's options (``multus.node_plugin`` or ``node_plugin``)."""
    if node is None:
        return []
    installed = set(node.installed_plugins)
    findings = []
    for net in networks:
        for k, plugin in enumerate(net.config.plugins):
            used = [(plugin.type, net.plugin_path(k, "type"))]
            ipam = getattr(plugin, "ipam", None)
            ipam_type = getattr(ipam, "type", None)
            if isinstance(ipam_type, str):
                used.append((ipam_type, net.plugin_path(k, "ipam", "type")))
            for name, path in used:
                if name in NODE_PLUGINS and name not in installed:
                    findings.append(Finding(
                        path, name,
                        f"network {net.key} uses the {name} plugin, which the node plugin "
                        f"leaves out ({at}.plugins); pods fail to attach unless "
                        f"the nodes get {name} elsewhere. Expected {name} among the plugins",
                        severity="warning"))
            data_dir = getattr(ipam, "data_dir", None)
            if (ipam_type == "host-local" and isinstance(data_dir, str) and node.metrics
                    and dir_path(data_dir) not in node.read_host_local_dirs):
                findings.append(Finding(
                    net.plugin_path(k, "ipam", "dataDir"), data_dir,
                    f"network {net.key} keeps its host-local reservations in {data_dir}, "
                    f"which the node plugin does not read ({at}.host_local_dirs): its pool "
                    "is not measured, netplumb doctor cannot see its leaks and the "
                    f"reconcile cannot free them. Expected {data_dir} among "
                    f"{at}.host_local_dirs", severity="warning"))
            if ipam_type == "dhcp" and not node.run_dhcp_daemon and "dhcp" in installed:
                findings.append(Finding(
                    net.plugin_path(k, "ipam", "type"), "dhcp",
                    f"network {net.key} uses dhcp IPAM, which needs the dhcp daemon on every "
                    f"node, and {at}.run_dhcp_daemon is false; pods fail to "
                    "attach unless the nodes run one otherwise", severity="warning"))
    return findings
