"""Example: networks for several tenants on one cluster, with guardrails around them.

Each tenant (config ``tenants``, default ``team-a team-b``) gets its own namespace
(PodSecurity ``baseline``), a ResourceQuota, a NetworkPolicy that admits traffic from its own
namespace only, a bridge network of its own (one /25 each) and one pod on it. Network RBAC:
only the group ``network-admins`` may write NetworkAttachmentDefinitions; each tenant's
group may read its own namespace's. The cluster-wide roles are named after config
``rolePrefix`` (default ``tenants``), so they never collide with a platform's.

Namespaces and ClusterRoles are cluster-wide: ``pulumi destroy`` leaves them in place (as
netplumb does for every cluster-wide object, see the README's "Many teams on one cluster").
"""

import ipaddress

import pulumi

from netplumb import (
    BridgeNetwork,
    BridgeNetworkArgs,
    ContainerResources,
    HostLocalIpam,
    MultiHomedPod,
    NetworkGuardrails,
    NetworkGuardrailsArgs,
    NetworkPolicyArgs,
    NetworkRbacArgs,
    PodArgs,
    PodSecurityArgs,
    PolicyPeer,
    PolicyRule,
    QuotaArgs,
    RoleBindingArgs,
    Subject,
)

config = pulumi.Config()
tenants = (config.get("tenants") or "team-a team-b").split()
prefix = config.get("rolePrefix") or "tenants"
bridge_prefix = config.get("bridgePrefix") or "br-"
pool = ipaddress.IPv4Network(config.get("pool") or "203.0.113.0/24")
subnets = list(pool.subnets(new_prefix=25))
if len(tenants) > len(subnets):
    raise ValueError(f"config tenants: {len(tenants)} tenants, but pool {pool} has room for "
                     f"{len(subnets)} /25 networks")

guardrails = NetworkGuardrails("guardrails", NetworkGuardrailsArgs(
    pod_security=[PodSecurityArgs(namespace=t, enforce="baseline", create=True)
                  for t in tenants],
    quotas=[QuotaArgs(name="tenant", namespace=t, pods=10, requests_cpu="2",
                      requests_memory="2Gi") for t in tenants],
    network_policies=[NetworkPolicyArgs(
        name="same-namespace-only", namespace=t,
        ingress=[PolicyRule(peers=[PolicyPeer(pod_selector={})])]) for t in tenants],
    rbac=NetworkRbacArgs(
        admin_role=f"{prefix}-network-admin", viewer_role=f"{prefix}-network-viewer",
        bindings=[
            RoleBindingArgs(role="admin", subjects=[Subject(kind="Group",
                                                            name="network-admins")]),
            *(RoleBindingArgs(role="viewer", namespace=t,
                              subjects=[Subject(kind="Group", name=f"{t}-devs")])
              for t in tenants),
        ])))

pods = {}
for tenant, subnet in zip(tenants, subnets, strict=False):
    hosts = list(subnet.hosts())
    network = BridgeNetwork(f"{tenant}-net", BridgeNetworkArgs(
        name="tenant-net", namespace=tenant, bridge=f"{bridge_prefix}{tenant}"[:15],
        ipam=HostLocalIpam(type="host-local", subnet=str(subnet),
                           range_start=str(hosts[9]), range_end=str(hosts[-1]))),
        pulumi.ResourceOptions(depends_on=[guardrails]))
    pod = MultiHomedPod(f"{tenant}-app", PodArgs(
        name="app", namespace=tenant, networks=[network.selection("net1")],
        # the quota counts requests: every pod in the namespace must state them
        resources=ContainerResources(requests={"cpu": "50m", "memory": "32Mi"},
                                     limits={"cpu": "100m", "memory": "64Mi"})),
        pulumi.ResourceOptions(depends_on=[network]))
    pods[tenant] = pod.pod_name

pulumi.export("admin_role", guardrails.admin_role)
pulumi.export("quotas", guardrails.quotas)
pulumi.export("pods", pods)
