"""Example: an SR-IOV pool, a network on its virtual functions, and pods that use them.

The SR-IOV network device plugin advertises the VFs of the storage NIC's physical function
(config ``pf``, default ``ens1f0``; VFs 0-7) as ``intel.com/sriov_storage``; the ``sriov``
CNI binary is placed on the nodes; a network takes its VFs (VLAN 100, spoof checking on);
and ``replicas`` pods (default 2) each get one VF as ``net1`` with a static address, their
device requests filled in from the network's pool.

It needs SR-IOV hardware: nodes whose NIC has VFs created, and the device plugin and
sriov-cni images. Without them the device plugin advertises nothing and the pods stay
Pending, so ``tests/e2e/test_examples.py`` only previews it against the embedded cluster
(which has no SR-IOV NIC, and whose toolchain cannot build those two images).
"""

import pulumi

from netplumb import (
    MultiHomedPod,
    PodArgs,
    SriovNetwork,
    SriovPool,
    SriovPoolArgs,
    SriovResourcePool,
    SriovSelectors,
    StaticIpam,
)

config = pulumi.Config()
pf = config.get("pf") or "ens1f0"
replicas = config.get_int("replicas") or 2

pool = SriovPool("sriov", SriovPoolArgs(
    node_selector={"feature.node.kubernetes.io/network-sriov.capable": "true"},
    pools=[SriovResourcePool(
        resource_name="sriov_storage",
        selectors=SriovSelectors(pf_names=[f"{pf}#0-7"], drivers=["iavf", "mlx5_core"]))]))

network = SriovNetwork("storage", pool.network_args(
    "sriov_storage", vlan=100, spoofchk="on", capabilities={"ips": True},
    ipam=StaticIpam(type="static")), pulumi.ResourceOptions(depends_on=[pool]))

pods = []
for i in range(replicas):
    pod = MultiHomedPod(f"app-{i}", PodArgs(networks=[
        network.selection("net1", ips=[f"192.0.2.{20 + i}/24"])]),
        pulumi.ResourceOptions(depends_on=[network]),
        device_resources={pool.resource_name("sriov_storage"): 1})
    pods.append(pod.pod_name)

pulumi.export("resource_names", pool.resource_names)
pulumi.export("pods", pods)
