"""Example: a program that composes netplumb components by hand.

A jumbo-frame storage network over macvlan, a management bridge, and one pod attached to
both, with a static address on storage. Deploy with ``pulumi up`` in this directory.
"""

import pulumi

from netplumb import (
    BridgeNetwork,
    BridgeNetworkArgs,
    HostLocalIpam,
    MacvlanNetwork,
    MacvlanNetworkArgs,
    MultiHomedPod,
    PodArgs,
    StaticIpam,
)

storage = MacvlanNetwork("storage", MacvlanNetworkArgs(
    master="np-under0", mode="bridge", mtu=1500, capabilities={"ips": True},
    ipam=StaticIpam(type="static")))

mgmt = BridgeNetwork("mgmt", BridgeNetworkArgs(
    bridge="np-br-mgmt",
    ipam=HostLocalIpam(type="host-local", subnet="198.51.100.0/24",
                       range_start="198.51.100.50", range_end="198.51.100.99")))

app = MultiHomedPod("app", PodArgs(networks=[
    storage.selection("storage0", ips=["192.0.2.10/24"]),
    mgmt.selection("mgmt0"),
]), pulumi.ResourceOptions(depends_on=[storage, mgmt]))

pulumi.export("storage_config", storage.config)
pulumi.export("pod", app.pod_name)
