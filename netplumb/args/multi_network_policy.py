"""Typed arguments of :class:`~netplumb.components.MultiNetworkPolicyEnforcer`:
MultiNetworkPolicy enforcement on secondary networks by multi-networkpolicy-iptables (the
upstream snapshot at commit cbf2b117), with netplumb's MultiNetworkPolicy CRD."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ..cni import fields as fc
from ..validation import FieldIssue, each, once_each
from .base import InputModel
from .fields import Labels, Verbosity, abs_path
from .images import MULTI_NETWORKPOLICY_IMAGE, PinnedImage
from .placement import Toleration, tolerate_all
from .resources import ContainerResources

DEFAULT_NETWORK_PLUGINS = ("macvlan",)
"""The network plugin types multi-networkpolicy-iptables acts for unless told otherwise
(its ``--network-plugins`` default)."""
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
"""containerd's CRI socket on the node."""
SYNC_PERIOD = 30
"""Its ``--sync-period`` default, in seconds."""

_PLUGIN_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def plugin_type(value: str) -> str:
    """A CNI plugin type as a NAD's config names it (``macvlan``, ``sriov``): no commas, which
    would split ``--network-plugins``."""
    return fc.matching(_PLUGIN_TYPE, value,
                       "not a CNI plugin type; expected a name such as macvlan or sriov")


def _rule(value: str) -> str:
    text = value.strip()
    if not text or "\n" in value:
        raise FieldIssue("expected one iptables rule per item, such as "
                         "-p udp --dport 67 -j ACCEPT")
    if re.match(r"^-(A|I|N|D|F|X|P)\b|^--(append|insert|new-chain|delete|flush)\b", text):
        raise FieldIssue("give the rule without its command: multi-networkpolicy-iptables "
                         "appends it to its own chain (-A MULTI-INGRESS-COMMON or "
                         "-A MULTI-EGRESS-COMMON)")
    return value


class CustomIptablesRulesArgs(InputModel):
    """iptables rules (match and target, no ``-A``) accepted on every policed interface
    before the policies, per family and direction: for traffic no policy describes but the
    network needs (DHCP, neighbour discovery). Written to a ConfigMap the enforcer reads
    at start (``--custom-v4-ingress-rule-file`` and the like); a change rolls its pods."""

    v4_ingress: list[str] = Field(default_factory=list)
    """IPv4 rules for incoming traffic, e.g. ``-p icmp --icmp-type redirect -j ACCEPT``."""
    v4_egress: list[str] = Field(default_factory=list)
    """IPv4 rules for outgoing traffic."""
    v6_ingress: list[str] = Field(default_factory=list)
    """IPv6 rules for incoming traffic, e.g.
    ``-p icmpv6 --icmpv6-type neighbor-solicitation -j ACCEPT``."""
    v6_egress: list[str] = Field(default_factory=list)
    """IPv6 rules for outgoing traffic."""

    _check = field_validator("v4_ingress", "v4_egress", "v6_ingress", "v6_egress")(
        classmethod(lambda cls, v: each(v, _rule)))

    def files(self) -> dict[str, list[str]]:
        """File name → rules, for the lists that have any (the flag is the file's stem)."""
        return {f"custom-{key.replace('_', '-')}-rules.txt": rules
                for key, rules in (("v4_ingress", self.v4_ingress),
                                   ("v4_egress", self.v4_egress),
                                   ("v6_ingress", self.v6_ingress),
                                   ("v6_egress", self.v6_egress)) if rules}


def _ipv6_prefix(value: str) -> str:
    net = fc.ip_network(value)
    if net.version != 6:
        raise FieldIssue("not an IPv6 prefix; these are accepted in IPv6 rules only "
                         "(e.g. fe80::/10)")
    return value


class MultiNetworkPolicyEnforcerArgs(InputModel):
    """multi-networkpolicy-iptables on every node: for each running pod on the node attached
    to a network whose plugin type is in ``network_plugins``, it writes iptables rules inside
    the pod's network namespace from the MultiNetworkPolicies whose
    ``k8s.v1.cni.cncf.io/policy-for`` names that network.

    It finds a pod's namespace through the container runtime (CRI ``ContainerStatus`` over
    ``container_runtime_endpoint``, then ``/proc/<pid>/ns/net`` of the host, seen under
    ``/host``), so it runs privileged in the host network; it reads pods, namespaces, NADs and
    MultiNetworkPolicies and records events."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the DaemonSet, its ServiceAccount and its rules' ConfigMap."""
    image: PinnedImage = MULTI_NETWORKPOLICY_IMAGE
    """multi-networkpolicy-iptables image, pinned: built from the upstream snapshot at
    commit cbf2b117 (upstream publishes only a moving ``snapshot`` tag)."""
    install_crd: bool | None = None
    """Create netplumb's MultiNetworkPolicy CRD (``multi-networkpolicies.k8s.cni.cncf.io``,
    v1beta1, with a full schema). Unset: yes, unless the stack's
    ``guardrails.install_multi_network_policy_crd`` creates it; ``false``: the cluster has
    it."""
    network_plugins: list[str] = Field(default_factory=lambda: list(DEFAULT_NETWORK_PLUGINS))
    """Plugin types of the networks it enforces policies on (``--network-plugins``): a NAD's
    type is its config's ``type``, or its first plugin's in a conflist. Policies for networks
    of other types are ignored. Default: upstream's, macvlan only."""
    container_runtime_endpoint: str = CONTAINERD_SOCKET
    """The container runtime's CRI socket on the node (``--container-runtime-endpoint``;
    containerd's by default; CRI-O's is ``/run/crio/crio.sock``)."""
    sync_period: int = SYNC_PERIOD
    """Seconds between full syncs of every pod's rules (``--sync-period``), besides the
    syncs on every change."""
    pod_iptables: bool = False
    """Keep each pod's generated rules on the node under
    ``/var/lib/multi-networkpolicy/iptables/<pod UID>`` for troubleshooting
    (``--pod-iptables``). Off by default, as upstream: with it, every sync (one per pod
    change on the node) runs ``iptables-save`` three times per family in every policed
    pod's namespace, to write those files."""
    accept_icmp: bool = False
    """Accept all ICMP on policed interfaces (``--accept-icmp``)."""
    accept_icmpv6: bool = False
    """Accept all ICMPv6 (``--accept-icmpv6``); without it neighbour discovery needs rules
    of its own (``custom_rules.v6_ingress``/``v6_egress``)."""
    allow_ipv6_src_prefix: list[str] = Field(default_factory=list)
    """IPv6 source prefixes accepted before the policies (``--allow-ipv6-src-prefix``),
    e.g. ``fe80::/10``."""
    allow_ipv6_dst_prefix: list[str] = Field(default_factory=list)
    """IPv6 destination prefixes accepted before the policies
    (``--allow-ipv6-dst-prefix``), e.g. ``ff00::/8``."""
    custom_rules: CustomIptablesRulesArgs = Field(default_factory=CustomIptablesRulesArgs)
    """Extra iptables rules accepted before the policies, per family and direction."""
    log_level: Verbosity = 0
    """klog verbosity (``--v``); 4 logs every sync, 8 every pod."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "100m", "memory": "80Mi"}, limits={"cpu": "100m", "memory": "150Mi"}))
    """The container's resources (upstream's)."""
    tolerations: list[Toleration] = Field(default_factory=tolerate_all)
    """Policies must hold on every node pods run on; by default it tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the enforcer from being evicted: without it no rule changes reach the pods of
    its node."""

    @field_validator("network_plugins")
    @classmethod
    def _plugins(cls, v: list[str]) -> list[str]:
        if not v:
            raise FieldIssue("empty; expected at least one plugin type such as macvlan")
        return once_each(each(v, plugin_type))

    @field_validator("container_runtime_endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if v.startswith("unix://"):
            raise FieldIssue("expected the socket's path without unix:// (the enforcer adds "
                             f"it), such as {CONTAINERD_SOCKET}")
        abs_path(v)
        if v.endswith("/") or v.count("/") < 2:
            raise FieldIssue(f"expected a socket inside a directory, such as {CONTAINERD_SOCKET}")
        return v

    @field_validator("sync_period")
    @classmethod
    def _sync(cls, v: int) -> int:
        return fc.int_range(v, 1, 86400, "sync period (seconds)")

    @field_validator("allow_ipv6_src_prefix", "allow_ipv6_dst_prefix")
    @classmethod
    def _prefixes(cls, v: list[str]) -> list[str]:
        return each(v, _ipv6_prefix)

    def installs_crd(self) -> bool:
        """Whether this install creates the CRD (unset counts as yes: a stack settles it
        first, :meth:`netplumb.args.StackSpec.multi_network_policy_crd_key`)."""
        return self.install_crd is not False
