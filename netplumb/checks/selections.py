"""Checks of workloads' network selections against the planned networks (what netplumb
adds itself, ``capabilities.ips`` and device resources, is :mod:`netplumb.plan.fixups`).

What is checked, per selection (Multus v4.3.0 and CNI plugins v1.9 behaviour):

- the network exists in the plan or is declared external;
- interface names are Linux names (≤ 15 bytes), unique in the pod, not the primary's ``eth0``;
- ``ips`` need ``capabilities.ips`` on the interface plugin (Multus passes them as
  runtimeConfig only then) and an IPAM that takes them: ``static`` (the address must lie in a
  subnet known on that link but outside every dynamic host-local/whereabouts range there,
  where another pod could get it) or ``host-local`` (which refuses any requested address
  outside its ranges, and the gateway); dhcp and whereabouts ignore them;
- ``mac`` needs ``capabilities.mac`` (and is impossible on ipvlan, whose interfaces share
  the master's MAC);
- ``default-route`` gateways lie in that network's subnets, at most one per address family
  per pod (Multus refuses ECMP default routes).

Every check is linear in the number of selections (networks are indexed once).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from ..args.guardrails import NetworkGuardrailsArgs
from ..cni import fields as fc
from ..cni.fields import IPAddress, IPNetwork
from ..cni.ipam import Pool
from ..cni.selection import NetworkSelection
from ..errors import Finding, format_path
from ..planned import PlannedNetwork, Workload
from .addresses import on_link

PRIMARY_INTERFACE = "eth0"


# -- per-network facts, as the selection checks read them -------------------------------------


@dataclass
class _NetFacts:
    net: PlannedNetwork
    ipam: str | None
    caps: dict[str, bool]
    """Capabilities of the interface plugin (where ``ips`` must be)."""
    any_caps: dict[str, bool]
    """Capabilities of any plugin of the chain (``mac`` works from tuning too)."""
    pools: list[Pool]
    static_nets: list[IPNetwork] = field(default_factory=list)
    link: str | None = None

    def caps_path(self) -> str:
        return self.net.plugin_path(0, "capabilities")


def _facts(net: PlannedNetwork) -> _NetFacts:
    cfg = net.config
    return _NetFacts(net, cfg.ipam_type(), dict(cfg.main.capabilities or {}),
                     cfg.capabilities(), net.pools, net.static_networks, net.host_link)


class _Index:
    """Networks by key, and the dynamic pools on each host link."""

    def __init__(self, networks: Iterable[PlannedNetwork], external: Collection[str]) -> None:
        self.facts: dict[str, _NetFacts] = {}
        self.external = set(external)
        self.link_pools: dict[str, list[tuple[PlannedNetwork, Pool]]] = {}
        for net in networks:
            if net.external:
                self.external.add(net.key)
                continue
            f = _facts(net)
            self.facts.setdefault(net.key, f)
            if f.link is not None:
                for p in f.pools:
                    self.link_pools.setdefault(f.link, []).append((net, p))
        self._keys: list[str] | None = None

    def known(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted({*self.facts, *self.external})
        return self._keys

    def subnets(self, f: _NetFacts, sel: NetworkSelection) -> list[IPNetwork]:
        """Subnets an address or gateway of this attachment may be in."""
        nets: list[IPNetwork] = [p.network for p in f.pools]
        nets += f.static_nets
        if f.ipam == "static" and f.link is not None:
            nets += [p.network for _, p in self.link_pools.get(f.link, [])]
        for ip in sel.ips or []:
            nets.append(fc.ip_interface(ip).network)
        return nets


def _unknown_network(index: _Index, key: str) -> str:
    name = key.split("/", 1)[1]
    same_name = [k for k in index.known() if k.split("/", 1)[1] == name]
    if same_name:
        hint = f"a network of that name exists as {', '.join(same_name[:3])}; set namespace"
    else:
        shown = index.known()[:8]
        more = len(index.known()) - len(shown)
        hint = "expected one of: " + (", ".join(shown) or "(none declared)") + (
            f" (and {more} more)" if more > 0 else "")
    return (f"no network {key} in this plan and not declared external; {hint}, or declare it "
            "external")


def check_selections(networks: Iterable[PlannedNetwork], workloads: Iterable[Workload], *,
                     external: Collection[str] = ()) -> list[Finding]:
    """Every selection check; see the module docstring. ``external`` lists ``ns/name`` of
    networks that exist outside this program (their configs are not checked)."""
    index = _Index(networks, external)
    findings: list[Finding] = []
    missing_cap: dict[tuple[str, str], tuple[str, int]] = {}
    for w in workloads:
        names: dict[str, int] = {}
        gateways = {4: 0, 6: 0}
        for i, (sel, key) in enumerate(zip(w.selections, w.keys, strict=True)):
            ifname = sel.interface or f"net{i + 1}"
            _check_ifname(findings, w.where, i, ifname, names, sel.interface is not None)
            f = index.facts.get(key)
            if f is None:
                if key not in index.external:
                    findings.append(Finding(f"{w.where}.networks[{i}].name", sel.name,
                                            _unknown_network(index, key)))
                continue
            if not (sel.ips or sel.mac is not None or sel.default_route):
                continue  # the paths below are built only for what a selection asks
            at = f"{w.where}.networks[{i}]"
            if sel.ips:
                _check_ips(findings, missing_cap, index, f, sel, at, key)
            if sel.mac is not None:
                _check_mac(findings, missing_cap, f, sel, at, key)
            for j, gw_text in enumerate(sel.default_route or []):
                gw = fc.parse_address(gw_text)
                gateways[gw.version] += 1
                if gateways[gw.version] == 2:
                    findings.append(Finding(
                        f"{at}.default-route[{j}]", gw_text,
                        f"a second IPv{gw.version} default route in this pod; Multus refuses "
                        "ECMP default routes (\"multus does not support ECMP for "
                        "default-route\"); expected one default-route gateway per family"))
                subnets = index.subnets(f, sel)
                if subnets and not on_link(gw, subnets):
                    findings.append(Finding(
                        f"{at}.default-route[{j}]", gw_text,
                        f"gateway not on network {key} (subnets "
                        f"{', '.join(sorted({str(n) for n in subnets}))}); the default route "
                        "via this interface needs an on-link gateway (IPv6 link-local ones "
                        "are)"))
    for (key, cap), (where, count) in missing_cap.items():
        f = index.facts[key]
        others = f" and {count - 1} more selection(s)" if count > 1 else ""
        pinned = f.net.config.main.capabilities is not None
        what = "static IPs (ips)" if cap == "ips" else "a static MAC (mac)"
        fix = (f"capabilities are pinned without it: add \"{cap}\": true" if pinned else
               f"add \"capabilities\": {{\"{cap}\": true}}" + (
                   " (netplumb adds it to NADs it creates)" if cap == "ips" else ""))
        findings.append(Finding(
            f.caps_path(), f.net.config.main.capabilities,
            f"network {key} is selected with {what} by {where}{others}, but Multus passes "
            f"them to the plugin only when the config declares capabilities.{cap}; {fix}"))
    return findings


def _check_ifname(findings: list[Finding], where: str, i: int, ifname: str,
                  names: dict[str, int], explicit: bool) -> None:
    path = f"{where}.networks[{i}].interface"
    if explicit:
        if len(ifname.encode()) > fc.IFNAME_MAX:
            findings.append(Finding(path, ifname, f"interface name is {len(ifname.encode())} "
                                    f"characters; Linux allows at most {fc.IFNAME_MAX}"))
        elif ifname in (PRIMARY_INTERFACE, "lo"):
            findings.append(Finding(path, ifname, f"{ifname!r} is taken by the pod's "
                                    f"{'default network' if ifname != 'lo' else 'loopback'}; "
                                    "expected another name such as net1"))
    if ifname in names:
        findings.append(Finding(path, ifname,
                                f"interface {ifname!r} is already used by networks"
                                f"[{names[ifname]}] (unnamed attachments are net1, net2, … by "
                                "position); expected unique interface names per pod"))
    else:
        names[ifname] = i


def _check_ips(findings: list[Finding], missing_cap: dict[tuple[str, str], tuple[str, int]],
               index: _Index, f: _NetFacts, sel: NetworkSelection, at: str, key: str) -> None:
    if not f.caps.get("ips"):
        where, n = missing_cap.get((key, "ips"), (at, 0))
        missing_cap[(key, "ips")] = (where, n + 1)
    for j, text in enumerate(sel.ips or []):
        path = f"{at}.ips[{j}]"
        addr = fc.ip_interface(text).ip
        if f.ipam == "host-local":
            _check_host_local_ip(findings, f, addr, text, path, key)
        elif f.ipam == "static":
            _check_static_ip(findings, index, f, addr, text, path, key)
        elif f.ipam in ("dhcp", "whereabouts"):
            findings.append(Finding(path, text, f"network {key} uses {f.ipam} IPAM, which "
                                    "ignores requested addresses; expected a network with "
                                    "static IPAM (and capabilities.ips) for fixed addresses"))


def _check_host_local_ip(findings: list[Finding], f: _NetFacts, addr: IPAddress, text: str,
                         path: str, key: str) -> None:
    inside = [p for p in f.pools if p.contains(addr)]
    if not inside:
        ranges = ", ".join(f"{p.first}-{p.last}" for p in f.pools)
        findings.append(Finding(path, text, f"host-local hands out a requested address only "
                                f"from its ranges ({ranges}) of network {key}; outside them "
                                "the ADD fails. Expected an address inside a range, or a "
                                "static-IPAM network on the same link for addresses outside"))
        return
    pool = inside[0]
    if pool.gateway is not None and addr == pool.gateway:
        findings.append(Finding(path, text, f"{addr} is the gateway of network {key}; "
                                "host-local refuses it"))
        return
    findings.append(Finding(path, text, f"{addr} is inside the dynamic range "
                            f"{pool.first}-{pool.last} of network {key}: host-local reserves "
                            "it for this pod only if no other pod got it first",
                            severity="warning"))


def _check_static_ip(findings: list[Finding], index: _Index, f: _NetFacts, addr: IPAddress,
                     text: str, path: str, key: str) -> None:
    siblings = index.link_pools.get(f.link, []) if f.link is not None else []
    subnets = [p.network for _, p in siblings] + f.static_nets
    if subnets and not any(addr.version == n.version and addr in n for n in subnets):
        shown = ", ".join(sorted({str(n) for n in subnets}))
        findings.append(Finding(path, text, f"{addr} is outside the subnets known on "
                                f"{f.link or 'this network'} ({shown}); expected an address "
                                "of the attached segment"))
        return
    for other, pool in siblings:
        if pool.contains(addr):
            findings.append(Finding(path, text, f"{addr} is inside the dynamic range "
                                    f"{pool.first}-{pool.last} of network {other.key} on the "
                                    f"same link {f.link!r}; its IPAM may give it to another "
                                    "pod. Expected an address outside every dynamic range"))
            return


def _check_mac(findings: list[Finding], missing_cap: dict[tuple[str, str], tuple[str, int]],
               f: _NetFacts, sel: NetworkSelection, at: str, key: str) -> None:
    if f.net.config.type == "ipvlan":
        findings.append(Finding(f"{at}.mac", sel.mac, f"network {key} is ipvlan: its "
                                "interfaces share the master's MAC, a per-pod MAC is impossible; "
                                "expected macvlan, bridge or sriov for a fixed MAC"))
        return
    if not f.any_caps.get("mac"):
        where, n = missing_cap.get((key, "mac"), (at, 0))
        missing_cap[(key, "mac")] = (where, n + 1)


def check_policy_targets(args: NetworkGuardrailsArgs, known: Collection[str], *,
                         at: Sequence[str | int] = ()) -> list[Finding]:
    """Every NAD a MultiNetworkPolicy is ``policy_for`` must be a known network (a policy
    for a missing NAD protects nothing)."""
    findings: list[Finding] = []
    for i, p in enumerate(args.multi_network_policies):
        for j, target in enumerate(p.targets()):
            if target not in known:
                findings.append(Finding(
                    format_path([*at, "multi_network_policies", i, "policy_for", j]),
                    p.policy_for[j],
                    f"no network {target} in this plan; a policy for a missing NAD protects "
                    "nothing. Expected one of: " + (", ".join(sorted(known)[:8]) or "(none)")))
    return findings


def check_device_pools(networks: Iterable[tuple[PlannedNetwork, str | None]],
                       pools: Collection[str] | None = None) -> list[Finding]:
    """Networks against the device pools: ``(network, its resource_name)`` pairs.

    An ``sriov`` network needs a device: without a ``resource_name`` Multus passes no
    deviceID and sriov-cni fails every ADD (unless the config pins ``deviceID``). With
    ``pools`` (full names of the plan's SriovPool), a resource must be one of them.
    """
    findings: list[Finding] = []
    known = sorted(pools) if pools is not None else None
    for net, resource in networks:
        if net.external:
            continue
        main = net.config.main
        if (net.config.type == "sriov" and not resource
                and getattr(main, "device_id", None) is None):
            findings.append(Finding(
                net.path("resource_name"), None,
                f"sriov network {net.key} names no device pool: Multus then passes no VF and "
                "sriov-cni fails every ADD; expected resource_name such as intel.com/sriov"))
        elif resource and known is not None and resource not in known:
            findings.append(Finding(
                net.path("resource_name"), resource,
                f"no device pool {resource} in this plan; pods selecting {net.key} would stay "
                f"Pending. Expected one of: {', '.join(known) or '(no pools)'}"))
    return findings
