"""Typed arguments of :class:`~netplumb.components.NetworkGuardrails`: quotas, policies,
network RBAC and PodSecurity labels around the networks."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from ..cni import fields as fc
from ..validation import FieldIssue, each, located
from .base import InputModel
from .fields import extended_resource
from .resources import Quantity

NETWORK_ADMIN_ROLE = "netplumb-network-admin"
NETWORK_VIEWER_ROLE = "netplumb-network-viewer"


class QuotaArgs(InputModel):
    """A ResourceQuota for a namespace running multi-homed workloads."""

    name: fc.K8sName
    """ResourceQuota name."""
    namespace: fc.Namespace = "default"
    """Namespace the quota applies to."""
    requests_cpu: Quantity | None = None
    """``requests.cpu``: sum of CPU requests."""
    requests_memory: Quantity | None = None
    """``requests.memory``: sum of memory requests."""
    limits_cpu: Quantity | None = None
    """``limits.cpu``: sum of CPU limits."""
    limits_memory: Quantity | None = None
    """``limits.memory``: sum of memory limits."""
    pods: int | None = None
    """Maximum number of pods."""
    devices: dict[str, int] = Field(default_factory=dict)
    """Device resources such as ``intel.com/sriov: 4``. Written as
    ``requests.intel.com/sriov``: Kubernetes only counts extended resources under the
    ``requests.`` key, a bare ``intel.com/sriov`` is accepted and never enforced."""
    extra: dict[str, Quantity] = Field(default_factory=dict)
    """Other quota keys, as Kubernetes spells them (``count/services``, …)."""

    @field_validator("pods")
    @classmethod
    def _pods(cls, v: int | None) -> int | None:
        return fc.at_least(v, 0, "negative; expected a pod count >= 0")

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: dict[str, int]) -> dict[str, int]:
        for key, n in v.items():
            if key.startswith("requests.") or key.startswith("limits."):
                raise FieldIssue("give the bare resource name (netplumb writes the requests. "
                                 f"key); expected {key.split('.', 1)[1]}", subpath=(key,),
                                 value=key, has_value=True)
            located(extended_resource, key, key)
            if n < 0:
                raise FieldIssue("negative; expected a device count >= 0", subpath=(key,),
                                 value=n, has_value=True)
        return v

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for key in v:
            if "/" in key and not key.startswith(("requests.", "limits.", "count/")):
                raise FieldIssue("a bare extended resource in a quota is never enforced "
                                 "(Kubernetes counts requests.<resource> only); put it under "
                                 "devices", subpath=(key,), value=key, has_value=True)
        return v

    @model_validator(mode="after")
    def _something(self) -> QuotaArgs:
        fields = ("requests_cpu", "requests_memory", "limits_cpu", "limits_memory", "pods")
        if not any(getattr(self, f) is not None for f in fields) and not (
                self.devices or self.extra):
            raise FieldIssue("empty quota; expected at least one limit", value=None,
                             has_value=True)
        return self


class Subject(InputModel):
    """Who a role binding grants to."""

    kind: Literal["User", "Group", "ServiceAccount"]
    """Identity kind."""
    name: str
    """User, group or service account name."""
    namespace: str | None = None
    """Namespace of a ServiceAccount (required for it, not allowed otherwise)."""

    @model_validator(mode="after")
    def _check(self) -> Subject:
        if not self.name:
            raise FieldIssue("empty name", subpath=("name",), value=self.name, has_value=True)
        if self.kind == "ServiceAccount" and not self.namespace:
            raise FieldIssue("a ServiceAccount subject needs its namespace",
                             subpath=("namespace",), value=None, has_value=True)
        if self.kind != "ServiceAccount" and self.namespace is not None:
            raise FieldIssue(f"a {self.kind} subject has no namespace", subpath=("namespace",),
                             value=self.namespace, has_value=True)
        if self.namespace is not None:
            located(fc.k8s_label_name, self.namespace, "namespace")
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind == "ServiceAccount":
            out["namespace"] = self.namespace
        else:
            out["apiGroup"] = "rbac.authorization.k8s.io"
        return out


class RoleBindingArgs(InputModel):
    """Grants one of netplumb's network roles, cluster-wide or in one namespace."""

    role: Literal["admin", "viewer"]
    """``admin``: may create, change and delete NADs and MultiNetworkPolicies. ``viewer``:
    may read them."""
    subjects: list[Subject] = Field(min_length=1)
    """Who is granted the role."""
    namespace: fc.Namespace | None = None
    """Bind in this namespace only (a RoleBinding); unset binds cluster-wide."""
    name: fc.K8sName | None = None
    """Binding name; default ``<name of the ClusterRole it binds>-<namespace or
    cluster>-<index>`` (``netplumb-network-admin-cluster-0`` with the default roles)."""


class NetworkRbacArgs(InputModel):
    """Who may define networks: a ClusterRole that alone writes NADs, a read-only one."""

    admin_role: str = NETWORK_ADMIN_ROLE
    """Name of the ClusterRole that may write NADs and MultiNetworkPolicies."""
    viewer_role: str = NETWORK_VIEWER_ROLE
    """Name of the read-only ClusterRole for tenants."""
    aggregate_viewer_to_view: bool = False
    """Label the viewer role so Kubernetes' built-in view/edit/admin roles include it
    (every namespace user can then read the NADs of their namespace)."""
    bindings: list[RoleBindingArgs] = Field(default_factory=list)
    """Who gets which role."""

    @field_validator("admin_role", "viewer_role")
    @classmethod
    def _role(cls, v: str) -> str:
        return fc.k8s_name(v)

PssLevel = Literal["privileged", "baseline", "restricted"]


class PodSecurityArgs(InputModel):
    """PodSecurity admission labels for one namespace."""

    namespace: fc.Namespace
    """The namespace to label."""
    enforce: PssLevel = "baseline"
    """Pods violating this level are refused."""
    audit: PssLevel | None = None
    """Level recorded in the audit log; default the enforce level."""
    warn: PssLevel | None = None
    """Level warned about at apply; default the enforce level."""
    version: str = "latest"
    """Policy version (``latest`` or ``v1.<minor>``)."""
    create: bool = False
    """Create the namespace; otherwise the labels are patched onto an existing one."""


    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v != "latest" and not re.match(r"^v1\.[0-9]+$", v):
            raise FieldIssue("expected latest or a version such as v1.36")
        return v

    def labels(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for mode, level in (("enforce", self.enforce), ("audit", self.audit or self.enforce),
                            ("warn", self.warn or self.enforce)):
            out[f"pod-security.kubernetes.io/{mode}"] = level
            out[f"pod-security.kubernetes.io/{mode}-version"] = self.version
        return out


class IpBlock(InputModel):
    """An address range a policy peer may be."""

    cidr: str
    """The range, e.g. ``10.0.0.0/8``."""
    except_: list[str] = Field(default_factory=list, alias="except")
    """Sub-ranges left out; each inside ``cidr``."""

    @model_validator(mode="after")
    def _check(self) -> IpBlock:
        net = located(fc.ip_network, self.cidr, "cidr")
        for i, ex in enumerate(self.except_):
            sub = located(fc.ip_network, ex, "except", i)
            if sub.version != net.version or not sub.subnet_of(net):  # type: ignore[arg-type]
                raise FieldIssue(f"not inside {net}; expected a sub-range of cidr",
                                 subpath=("except", i), value=ex, has_value=True)
        return self


class PolicyPeer(InputModel):
    """Where traffic may come from (ingress) or go to (egress)."""

    pod_selector: dict[str, str] | None = None
    """Pods with these labels (``{}``: all pods) in the policy's namespace, or in the
    namespaces of ``namespace_selector``."""
    namespace_selector: dict[str, str] | None = None
    """Namespaces with these labels (``{}``: all namespaces)."""
    ip_block: IpBlock | None = None
    """An address range (not combinable with the selectors)."""

    @model_validator(mode="after")
    def _check(self) -> PolicyPeer:
        selectors = self.pod_selector is not None or self.namespace_selector is not None
        if self.ip_block is not None and selectors:
            raise FieldIssue("ip_block cannot be combined with selectors; expected a separate "
                             "peer", subpath=("ip_block",), value=None, has_value=True)
        if self.ip_block is None and not selectors:
            raise FieldIssue("empty peer; expected pod_selector, namespace_selector or "
                             "ip_block", value={}, has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pod_selector is not None:
            out["podSelector"] = {"matchLabels": dict(self.pod_selector)}
        if self.namespace_selector is not None:
            out["namespaceSelector"] = {"matchLabels": dict(self.namespace_selector)}
        if self.ip_block is not None:
            block: dict[str, Any] = {"cidr": self.ip_block.cidr}
            if self.ip_block.except_:
                block["except"] = list(self.ip_block.except_)
            out["ipBlock"] = block
        return out


def _port_or_name(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldIssue("expected a port number or a container port name")
    return value


class PolicyPort(InputModel):
    """A port (or range) a policy rule allows."""

    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """L4 protocol."""
    port: Annotated[int | str, BeforeValidator(_port_or_name)] | None = None
    """Port number or named container port; unset: all ports."""
    end_port: int | None = None
    """Last port of a range starting at ``port`` (numeric ports only)."""

    @model_validator(mode="after")
    def _check(self) -> PolicyPort:
        if isinstance(self.port, int):
            if not 1 <= self.port <= 65535:
                raise FieldIssue("port out of range; expected 1-65535", subpath=("port",),
                                 value=self.port, has_value=True)
        elif isinstance(self.port, str) and (
                not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", self.port)
                or not re.search(r"[a-z]", self.port) or len(self.port) > 15):
            raise FieldIssue("invalid port name; expected a number or a container port name "
                             "such as http (a quoted number is a name, and names need a letter)",
                             subpath=("port",), value=self.port, has_value=True)
        if self.end_port is not None:
            if not isinstance(self.port, int) or self.end_port < self.port:
                raise FieldIssue("end_port needs a numeric port <= end_port",
                                 subpath=("end_port",), value=self.end_port, has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"protocol": self.protocol}
        if self.port is not None:
            out["port"] = self.port
        if self.end_port is not None:
            out["endPort"] = self.end_port
        return out


class PolicyRule(InputModel):
    """One ingress or egress rule: traffic with any of ``peers`` on any of ``ports``."""

    peers: list[PolicyPeer] = Field(default_factory=list)
    """Allowed peers; empty: any peer."""
    ports: list[PolicyPort] = Field(default_factory=list)
    """Allowed ports; empty: any port."""

    def to_dict(self, direction: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.peers:
            out[direction] = [p.to_dict() for p in self.peers]
        if self.ports:
            out["ports"] = [p.to_dict() for p in self.ports]
        return out


class _PolicyBody(InputModel):
    name: fc.K8sName
    """Policy name."""
    namespace: fc.Namespace = "default"
    """Namespace of the policy (and of the pods it selects)."""
    pod_selector: dict[str, str] = Field(default_factory=dict)
    """Pods the policy applies to (``{}``: every pod of the namespace)."""
    policy_types: list[Literal["Ingress", "Egress"]] | None = None
    """Directions the policy isolates; default Ingress, plus Egress when egress rules are
    given (as Kubernetes does)."""
    ingress: list[PolicyRule] = Field(default_factory=list)
    """Allowed incoming traffic."""
    egress: list[PolicyRule] = Field(default_factory=list)
    """Allowed outgoing traffic."""



    @model_validator(mode="after")
    def _types(self) -> Self:
        if self.policy_types is not None:
            if self.egress and "Egress" not in self.policy_types:
                raise FieldIssue("egress rules given but policy_types lacks Egress; they "
                                 "would be ignored", subpath=("policy_types",),
                                 value=self.policy_types, has_value=True)
            if self.ingress and "Ingress" not in self.policy_types:
                raise FieldIssue("ingress rules given but policy_types lacks Ingress; they "
                                 "would be ignored", subpath=("policy_types",),
                                 value=self.policy_types, has_value=True)
        return self

    def types(self) -> list[str]:
        if self.policy_types is not None:
            return list(self.policy_types)
        return ["Ingress", "Egress"] if self.egress else ["Ingress"]


class NetworkPolicyArgs(_PolicyBody):
    """A Kubernetes NetworkPolicy (applies to the default network, eth0)."""


class MultiNetworkPolicyArgs(_PolicyBody):
    """A MultiNetworkPolicy: NetworkPolicy semantics on secondary networks."""

    policy_for: list[str] = Field(min_length=1)
    """NADs the policy applies to: ``name`` (in the policy's namespace) or
    ``namespace/name``; written to the ``k8s.v1.cni.cncf.io/policy-for`` annotation."""

    @field_validator("policy_for")
    @classmethod
    def _refs(cls, v: list[str]) -> list[str]:
        def ref(s: str) -> None:
            ns, slash, name = s.rpartition("/")
            if slash:
                fc.k8s_label_name(ns)
            fc.k8s_name(name)
        return each(v, ref)

    def targets(self) -> list[str]:
        """``namespace/name`` of every NAD in ``policy_for``."""
        return [r if "/" in r else f"{self.namespace}/{r}" for r in self.policy_for]


class NetworkGuardrailsArgs(InputModel):
    """Quotas, policies, RBAC and PodSecurity around the networks."""

    quotas: list[QuotaArgs] = Field(default_factory=list)
    """ResourceQuotas (cpu, memory, device resources)."""
    network_policies: list[NetworkPolicyArgs] = Field(default_factory=list)
    """NetworkPolicies for the default network."""
    multi_network_policies: list[MultiNetworkPolicyArgs] = Field(default_factory=list)
    """MultiNetworkPolicies for secondary networks (enforced by a multi-networkpolicy
    implementation such as multi-networkpolicy-iptables, which a stack's
    ``multi_network_policy`` installs)."""
    install_multi_network_policy_crd: bool = False
    """Install netplumb's MultiNetworkPolicy CRD (where no implementation does; a stack's
    ``multi_network_policy`` installs it too, unless this does)."""
    rbac: NetworkRbacArgs | None = Field(default_factory=NetworkRbacArgs)
    """The network admin / viewer ClusterRoles and their bindings; ``None``: no RBAC."""
    pod_security: list[PodSecurityArgs] = Field(default_factory=list)
    """PodSecurity labels per namespace."""

    @model_validator(mode="after")
    def _unique(self) -> NetworkGuardrailsArgs:
        groups: list[tuple[str, list[tuple[str, str]]]] = [
            ("quotas", [(q.namespace, q.name) for q in self.quotas]),
            ("network_policies", [(p.namespace, p.name) for p in self.network_policies]),
            ("multi_network_policies",
             [(p.namespace, p.name) for p in self.multi_network_policies]),
            ("pod_security", [(p.namespace, "") for p in self.pod_security]),
        ]
        for key, idents in groups:
            seen: dict[tuple[str, str], int] = {}
            for i, ident in enumerate(idents):
                if ident in seen:
                    field = "name" if ident[1] else "namespace"
                    raise FieldIssue(f"{'/'.join(x for x in ident if x)} is also "
                                     f"{key}[{seen[ident]}]; expected each once",
                                     subpath=(key, i, field), value=ident[1] or ident[0],
                                     has_value=True)
                seen[ident] = i
        return self
