"""Policies against what they select and what enforces them (pure): what an enforcer
silently ignores, and what surprises people. Every finding names the policy's key.

- A NetworkPolicy or MultiNetworkPolicy whose ``pod_selector`` matches no pod and no
  workload template of the plan in its namespace enforces nothing (a warning). Only where
  the plan declares pods or workloads in that namespace: elsewhere the pods come from
  outside the plan, which cannot know them. The labels compared are those netplumb renders
  (``app: <name>``, ``app.kubernetes.io/managed-by: netplumb`` and the item's ``labels``).
- A MultiNetworkPolicy whose selected pods attach to none of its ``policy_for`` networks
  applies to no interface (multi-networkpolicy-iptables writes rules only for the
  interfaces of those networks): a warning.
- With ``multi_network_policy`` installed: ``policy_for`` naming a network of the plan whose
  plugin type is not among the enforcer's ``network_plugins`` (the type multi-networkpolicy-
  iptables reads is the NAD config's ``type``, or its first plugin's in a conflist); the
  enforcer ignores the policy on that network: an error, as for a NAD that does not exist
  (:func:`netplumb.checks.selections.check_policy_targets`).
- Peers on a network without IPAM: multi-networkpolicy-iptables matches an ``ip_block``
  against the packets' addresses and a pod or namespace selector by the addresses in the
  selected pods' network-status. Pods of a network without IPAM get no address from it, so
  such a peer matches nothing there and the traffic the rule allows is dropped (a warning).
- With ``multi_network_policy`` installed: a peer with ``pod_selector`` and no
  ``namespace_selector`` matches pods of every namespace in multi-networkpolicy-iptables
  (it lists the selected pods cluster-wide), where a NetworkPolicy's matches the policy's
  own namespace only (a warning).
- A MultiNetworkPolicy selecting pods that also attach to another network of a type the
  enforcer acts for: multi-networkpolicy-iptables sends every such interface of a selected
  pod through one chain per direction that ends in a DROP, while the policy's rules allow
  only on its ``policy_for`` networks (its ``pkg/server/server.go``). So a policy for net1
  isolates the pods it selects on net2 as well (a warning naming the pods and networks).
- NetworkPolicies in a stack that installs Flannel (``multus.default_network: flannel``)
  and no ``network_policy``: Flannel enforces none, so they are ignored (a warning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..args.guardrails import (
    MultiNetworkPolicyArgs,
    NetworkPolicyArgs,
    PolicyRule,
)
from ..args.multi_network_policy import DEFAULT_NETWORK_PLUGINS, MultiNetworkPolicyEnforcerArgs
from ..args.pod import PodArgs
from ..args.stack import StackSpec
from ..args.workload import WorkloadArgs
from ..cni.selection import NETWORKS_ANNOTATION
from ..errors import Finding, format_path
from ..planned import PlannedNetwork
from ..render.manifests import MANAGED_BY

Loc = Sequence[str | int]


@dataclass(frozen=True)
class _Member:
    """A pod or workload template of the plan, as a policy's selector sees it."""

    what: str
    """``pod a`` or ``Deployment b``."""
    labels: Mapping[str, str]
    networks: frozenset[str] | None
    """``namespace/name`` of the NADs it attaches to; None: unknown (given as a raw
    annotation)."""


def _member(what: str, name: str, namespace: str, args: PodArgs | WorkloadArgs) -> _Member:
    if args.networks:
        keys: frozenset[str] | None = frozenset(s.key(namespace) for s in args.networks)
    else:
        keys = None if NETWORKS_ANNOTATION in args.annotations else frozenset()
    return _Member(f"{what} {name}", {**MANAGED_BY, "app": name, **args.labels}, keys)


def _members(pods: Iterable[tuple[str, PodArgs]],
             workloads: Iterable[tuple[str, WorkloadArgs]]) -> dict[str, list[_Member]]:
    """The plan's pods and workload templates by namespace."""
    out: dict[str, list[_Member]] = {}
    for name, p in pods:
        out.setdefault(p.namespace, []).append(_member("pod", name, p.namespace, p))
    for name, w in workloads:
        out.setdefault(w.namespace, []).append(_member(w.kind, name, w.namespace, w))
    return out


def _shown(items: Sequence[str], limit: int = 4) -> str:
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _selection(policy: NetworkPolicyArgs | MultiNetworkPolicyArgs, kind: str,
               members: Mapping[str, list[_Member]], where: str) -> list[Finding]:
    there = members.get(policy.namespace)
    if not there:
        return []
    selector = policy.pod_selector
    chosen = [m for m in there if all(m.labels.get(k) == v for k, v in selector.items())]
    key = f"{policy.namespace}/{policy.name}"
    if not chosen:
        return [Finding(
            f"{where}.pod_selector", selector,
            f"{kind} {key} selects no pod of this plan: none of the pods and workload "
            f"templates it declares in namespace {policy.namespace} "
            f"({_shown([m.what for m in there])}) has all of these labels, so the policy "
            "enforces nothing (netplumb's pods and templates carry app: <name> and their "
            "labels). Checked only in namespaces where the plan declares pods or workloads. "
            "Expected a pod_selector matching their labels",
            severity="warning")]
    if not isinstance(policy, MultiNetworkPolicyArgs):
        return []
    targets = set(policy.targets())
    if any(m.networks is None or m.networks & targets for m in chosen):
        return []
    return [Finding(
        f"{where}.pod_selector", selector,
        f"{kind} {key} selects {_shown([m.what for m in chosen])}, but none of them attaches "
        f"to the networks it is for ({', '.join(sorted(targets))}); the enforcer writes its "
        "rules only for interfaces of those networks, so it enforces nothing. Expected "
        "pods attached to them, or policy_for naming the networks the pods use",
        severity="warning")]


def _rules(policy: MultiNetworkPolicyArgs) -> list[tuple[str, PolicyRule]]:
    out: list[tuple[str, PolicyRule]] = []
    types = policy.types()
    if "Ingress" in types:
        out += [(f"ingress[{j}]", r) for j, r in enumerate(policy.ingress)]
    if "Egress" in types:
        out += [(f"egress[{j}]", r) for j, r in enumerate(policy.egress)]
    return out


def _no_ipam(policy: MultiNetworkPolicyArgs, nets: Mapping[str, PlannedNetwork],
             where: str) -> list[Finding]:
    bare = sorted(t for t in set(policy.targets())
                  if t in nets and nets[t].config.ipam_type() is None)
    if not bare:
        return []
    findings: list[Finding] = []
    for rule_at, rule in _rules(policy):
        ingress = rule_at.startswith("ingress")
        for k, peer in enumerate(rule.peers):
            value: object
            if peer.ip_block is not None:
                key, value = "ip_block", peer.ip_block.cidr
                how = (f"an ip_block is matched against the packets' "
                       f"{'source' if ingress else 'destination'} addresses")
            else:
                key = "pod_selector" if peer.pod_selector is not None else "namespace_selector"
                value = peer.pod_selector if peer.pod_selector is not None else (
                    peer.namespace_selector)
                how = ("a pod or namespace selector is matched by the addresses the selected "
                       "pods have on the network (their network-status)")
            findings.append(Finding(
                f"{where}.{rule_at}.peers[{k}].{key}", value,
                f"network{'s' if len(bare) > 1 else ''} {', '.join(bare)} "
                f"{'have' if len(bare) > 1 else 'has'} no IPAM, so pods get no address "
                f"on {'them' if len(bare) > 1 else 'it'}; {how}, so this peer can match "
                f"nothing there and the {'ingress' if ingress else 'egress'} this rule "
                "allows is dropped. Expected IPAM on the network (whereabouts, static, "
                "host-local) or a rule without peers (any peer)",
                severity="warning"))
    return findings


def _unsupported(policy: MultiNetworkPolicyArgs, nets: Mapping[str, PlannedNetwork],
                 enforcer: MultiNetworkPolicyEnforcerArgs, enforcer_at: str,
                 where: str) -> list[Finding]:
    findings: list[Finding] = []
    for j, target in enumerate(policy.targets()):
        net = nets.get(target)
        if net is None:
            continue  # missing NADs: check_policy_targets
        kind = net.config.type
        if kind not in enforcer.network_plugins:
            findings.append(Finding(
                f"{where}.policy_for[{j}]", policy.policy_for[j],
                f"network {target} is {kind}, and the MultiNetworkPolicy enforcer acts only "
                f"for {', '.join(enforcer.network_plugins)} ({enforcer_at}): "
                "multi-networkpolicy-iptables ignores this policy on it, so it protects "
                f"nothing there. Expected {kind} among {enforcer_at}"))
    return findings


def _isolated_elsewhere(policy: MultiNetworkPolicyArgs, members: Mapping[str, list[_Member]],
                        nets: Mapping[str, PlannedNetwork], plugins: Sequence[str],
                        where: str) -> list[Finding]:
    targets = set(policy.targets())
    selector = policy.pod_selector
    hit: dict[str, list[str]] = {}
    for m in members.get(policy.namespace) or []:
        if m.networks is None or not m.networks & targets:
            continue
        if not all(m.labels.get(k) == v for k, v in selector.items()):
            continue
        for other in sorted(m.networks - targets):
            net = nets.get(other)
            if net is not None and net.config.type in plugins:
                hit.setdefault(other, []).append(m.what)
    if not hit:
        return []
    directions = " and ".join(d.lower() for d in policy.types())
    shown = "; ".join(f"{net}: {_shown(whats)}" for net, whats in sorted(hit.items()))
    return [Finding(
        f"{where}.policy_for", policy.policy_for,
        f"the pods this policy selects also attach to other networks the enforcer acts for "
        f"({shown}): multi-networkpolicy-iptables isolates a selected pod on every such "
        f"interface while this policy's rules allow only on {', '.join(sorted(targets))}, "
        f"so their {directions} there is dropped unless a policy for that network allows "
        "it. Expected policy_for to name those networks too, or policies of their own",
        severity="warning")]


def _namespace_wide(policy: MultiNetworkPolicyArgs, where: str) -> list[Finding]:
    findings: list[Finding] = []
    for rule_at, rule in _rules(policy):
        for k, peer in enumerate(rule.peers):
            if peer.pod_selector is not None and peer.namespace_selector is None:
                findings.append(Finding(
                    f"{where}.{rule_at}.peers[{k}].pod_selector", peer.pod_selector,
                    "multi-networkpolicy-iptables matches a pod_selector without "
                    "namespace_selector against pods of every namespace (a NetworkPolicy "
                    f"against the policy's own, {policy.namespace}); expected a "
                    "namespace_selector (e.g. {kubernetes.io/metadata.name: "
                    f"{policy.namespace}}}) to keep the peers in one namespace, or labels "
                    "no other namespace's pods carry",
                    severity="warning"))
    return findings


def _unenforced(spec: StackSpec, at: Loc, root: Loc) -> list[Finding]:
    policies = spec.guardrails.network_policies if spec.guardrails is not None else []
    if (not policies or spec.network_policy is not None or spec.multus is None
            or spec.multus.default_network != "flannel"):
        return []
    more = f" and {len(policies) - 1} more" if len(policies) > 1 else ""
    return [Finding(
        format_path([*at, "network_policies", 0]), policies[0].name,
        f"this stack installs Flannel ({format_path([*root, 'multus', 'default_network'])}), "
        f"which enforces no NetworkPolicy, and no enforcer: this policy{more} would be "
        f"ignored. Expected {format_path([*root, 'network_policy'])}: {{}} (kube-router's "
        "firewall beside Flannel)",
        severity="warning")]


def check_policies(spec: StackSpec, networks: Iterable[PlannedNetwork],
                   pods: Iterable[tuple[str, PodArgs]],
                   workloads: Iterable[tuple[str, WorkloadArgs]], *,
                   root: Loc = ()) -> list[Finding]:
    """Every check of the module docstring on the policies of ``spec``'s guardrails, against
    its networks, pods and workloads and the enforcers it installs. ``root`` is the spec's
    path (findings name keys under it)."""
    guardrails = spec.guardrails
    if guardrails is None:
        return []
    at = [*root, "guardrails"]
    enforcer = spec.multi_network_policy
    enforcer_at = format_path([*root, "multi_network_policy", "network_plugins"])
    members = _members(pods, workloads)
    nets = {n.key: n for n in networks if not n.external}
    findings = _unenforced(spec, at, root)
    for i, np in enumerate(guardrails.network_policies):
        where = format_path([*at, "network_policies", i])
        findings += _selection(np, "NetworkPolicy", members, where)
    for i, mnp in enumerate(guardrails.multi_network_policies):
        where = format_path([*at, "multi_network_policies", i])
        if enforcer is not None:
            findings += _unsupported(mnp, nets, enforcer, enforcer_at, where)
        findings += _selection(mnp, "MultiNetworkPolicy", members, where)
        findings += _no_ipam(mnp, nets, where)
        plugins = (enforcer.network_plugins if enforcer is not None
                   else list(DEFAULT_NETWORK_PLUGINS))
        findings += _isolated_elsewhere(mnp, members, nets, plugins, where)
        if enforcer is not None:
            findings += _namespace_wide(mnp, where)
    return findings
