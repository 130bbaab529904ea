"""Example: a jumbo-frame storage network, composed from netplumb components by hand.

Storage traffic gets its own macvlan network at MTU 9000 on the storage NIC (config
``master``, default ``ens2f0``; its MTU must be 9000 or more, or the plugin refuses the
pod), addresses are assigned per pod (static IPAM, ``ips`` in the selection), and a small
management bridge sits beside it. One pod is attached to both. Deploy with ``pulumi up`` in
this directory; ``tests/e2e/test_examples.py`` deploys and destroys it on the embedded
cluster.
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

config = pulumi.Config()
master = config.get("master") or "ens2f0"
mgmt_bridge = config.get("mgmtBridge") or "br-mgmt"

storage = MacvlanNetwork("storage", MacvlanNetworkArgs(
    master=master, mode="bridge", mtu=9000, capabilities={"ips": True},
    ipam=StaticIpam(type="static")))

mgmt = BridgeNetwork("mgmt", BridgeNetworkArgs(
    bridge=mgmt_bridge,
    ipam=HostLocalIpam(type="host-local", subnet="198.51.100.0/24",
                       range_start="198.51.100.50", range_end="198.51.100.99")))

app = MultiHomedPod("app", PodArgs(networks=[
    storage.selection("storage0", ips=["192.0.2.10/24"]),
    mgmt.selection("mgmt0"),
]), pulumi.ResourceOptions(depends_on=[storage, mgmt]))

pulumi.export("storage_config", storage.config)
pulumi.export("pod", app.pod_name)
