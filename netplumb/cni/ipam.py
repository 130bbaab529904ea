"""IPAM configs: host-local, static, dhcp, whereabouts, and any other type kept raw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from ..validation import FieldIssue, by_type, each, known_or_raw, located
from . import fields as fc
from .base import CniModel
from .fields import IPAddress, IPInterface, IPNetwork


@dataclass(frozen=True)
class Pool:
    """An allocatable address range, as the IPAM plugin would hand out addresses."""

    network: IPNetwork
    first: IPAddress
    last: IPAddress
    gateway: IPAddress | None
    where: tuple[str | int, ...]
    excluded: tuple[IPNetwork, ...] = ()

    @property
    def size(self) -> int:
        """How many addresses the plugin can hand out (gateway and exclusions removed)."""
        n = int(self.last) - int(self.first) + 1
        if self.gateway is not None and int(self.first) <= int(self.gateway) <= int(self.last):
            n -= 1
        for ex in self.excluded:
            lo = max(int(ex.network_address), int(self.first))
            hi = min(int(ex.broadcast_address), int(self.last))
            if hi >= lo:
                n -= hi - lo + 1
        return max(n, 0)

    def contains(self, addr: IPAddress) -> bool:
        return addr.version == self.first.version and int(self.first) <= int(addr) <= int(self.last)


class Route(CniModel):
    """A route the IPAM plugin installs in the pod."""

    dst: str
    """Destination CIDR, e.g. ``0.0.0.0/0``."""
    gw: str | None = None
    """Next hop; defaults to the interface's gateway."""

    @field_validator("dst")
    @classmethod
    def _dst(cls, v: str) -> str:
        if "/" not in v:
            raise FieldIssue("not a CIDR; expected a destination such as 0.0.0.0/0")
        try:
            fc.parse_network(v, False)
        except ValueError:
            raise FieldIssue("not a CIDR; expected a destination such as 0.0.0.0/0") from None
        return v

    @field_validator("gw")
    @classmethod
    def _gw(cls, v: str | None) -> str | None:
        if v is not None:
            fc.ip_address(v)
        return v

    @model_validator(mode="after")
    def _family(self) -> Route:
        if self.gw is not None:
            dst = fc.parse_network(self.dst, False)
            if fc.parse_address(self.gw).version != dst.version:
                raise FieldIssue(f"gateway is IPv{fc.parse_address(self.gw).version} but dst "
                                 f"{self.dst} is IPv{dst.version}; expected the same family",
                                 subpath=("gw",), value=self.gw, has_value=True)
        return self


class Dns(CniModel):
    """DNS settings the IPAM plugin reports to the runtime."""
    nameservers: list[str] | None = None
    """Name server addresses."""
    domain: str | None = None
    """Local domain."""
    search: list[str] | None = None
    """Search domains."""
    options: list[str] | None = None
    """Resolver options, e.g. ``ndots:2``."""

    @field_validator("nameservers")
    @classmethod
    def _ns(cls, v: list[str] | None) -> list[str] | None:
        return each(v, fc.ip_address)


def _check_range(subnet: str, start: str | None, end: str | None, gateway: str | None,
                 *, too_small_check: bool = True) -> None:
    """host-local's rules for one range, each error located at its own key."""
    net = located(fc.ip_network, subnet, "subnet")
    if too_small_check and net.prefixlen > net.max_prefixlen - 2:
        raise FieldIssue(f"network {net} is too small to allocate from; expected a prefix of at "
                         f"most /{net.max_prefixlen - 2}", subpath=("subnet",), value=subnet,
                         has_value=True)
    addrs: dict[str, IPAddress] = {}
    for key, text in (("rangeStart", start), ("rangeEnd", end), ("gateway", gateway)):
        if text is None:
            continue
        addr = located(fc.ip_address, text, key)
        if addr.version != net.version:
            raise FieldIssue(f"IPv{addr.version} address in IPv{net.version} subnet {net}; "
                             "expected the subnet's family", subpath=(key,), value=text,
                             has_value=True)
        if addr not in net:
            raise FieldIssue(f"not inside subnet {net}; expected an address from "
                             f"{net.network_address} to {net.broadcast_address}",
                             subpath=(key,), value=text, has_value=True)
        addrs[key] = addr
    if "rangeStart" in addrs and "rangeEnd" in addrs and (
            int(addrs["rangeStart"]) > int(addrs["rangeEnd"])):
        raise FieldIssue(f"rangeStart {start} is after rangeEnd {end}; expected start <= end",
                         subpath=("rangeStart",), value=start, has_value=True)
    if too_small_check:
        first = addrs.get("rangeStart", _default_first(net))
        last = addrs.get("rangeEnd", _default_last(net))
        if int(first) > int(last):
            key = "rangeStart" if "rangeStart" in addrs else "rangeEnd"
            raise FieldIssue(f"empty range: first address {first} is after last address {last}; "
                             f"expected an address between {_default_first(net)} and "
                             f"{_default_last(net)}", subpath=(key,), value=str(addrs[key]),
                             has_value=True)


def _default_first(net: IPNetwork) -> IPAddress:
    return net.network_address + 1


def _default_last(net: IPNetwork) -> IPAddress:
    # host-local: the last address before broadcast for IPv4; for IPv6 the last address.
    return net.broadcast_address - 1 if net.version == 4 else net.broadcast_address


def _pool(subnet: str, start: str | None, end: str | None, gateway: str | None,
          where: tuple[str | int, ...]) -> Pool:
    net = fc.parse_network(subnet)
    gw = fc.parse_address(gateway) if gateway else net.network_address + 1
    first = fc.parse_address(start) if start else _default_first(net)
    last = fc.parse_address(end) if end else _default_last(net)
    return Pool(net, first, last, gw, where)


def _ranges_overlap(a: Pool, b: Pool) -> bool:
    """host-local's ``Range.Overlaps``: the first-to-last spans meet (same family); two
    ranges of one subnet with disjoint spans do not overlap."""
    return (a.first.version == b.first.version and int(a.first) <= int(b.last)
            and int(b.first) <= int(a.last))


def _span(p: Pool) -> str:
    return f"{p.first}-{p.last} of {p.network}"


class HostLocalRange(CniModel):
    """One range of a host-local range set."""

    subnet: str
    """The CIDR to allocate from; host bits must be zero (host-local refuses them)."""
    range_start: str | None = Field(default=None, alias="rangeStart")
    """First address handed out (inclusive); defaults to the subnet's first host."""
    range_end: str | None = Field(default=None, alias="rangeEnd")
    """Last address handed out (inclusive); defaults to the subnet's last host."""
    gateway: str | None = None
    """Gateway reported to the pod; defaults to the subnet's first host."""

    @model_validator(mode="after")
    def _check(self) -> HostLocalRange:
        _check_range(self.subnet, self.range_start, self.range_end, self.gateway)
        return self


class HostLocalIpam(CniModel):
    """host-local: allocates from ranges, state in files on the node."""

    type: Literal["host-local"]
    """The IPAM plugin's binary name (fixed for this model)."""
    subnet: str | None = None
    """Legacy single range: the CIDR (prefer ``ranges``)."""
    range_start: str | None = Field(default=None, alias="rangeStart")
    """Legacy single range: first address."""
    range_end: str | None = Field(default=None, alias="rangeEnd")
    """Legacy single range: last address."""
    gateway: str | None = None
    """Legacy single range: gateway."""
    ranges: list[list[HostLocalRange]] | None = None
    """Range sets: one address is allocated from each set (one set per family for dual-stack)."""
    routes: list[Route] | None = None
    """Routes to install in the pod."""
    data_dir: str | None = Field(default=None, alias="dataDir")
    """Where reservations are kept; default ``/var/lib/cni/networks``."""
    resolv_conf: str | None = Field(default=None, alias="resolvConf")
    """A resolv.conf file whose settings are reported as the network's DNS."""

    @model_validator(mode="after")
    def _check(self) -> HostLocalIpam:
        if self.subnet is None:
            for key in ("range_start", "range_end", "gateway"):
                if getattr(self, key) is not None and not self.ranges:
                    alias = HostLocalIpam.model_fields[key].alias or key
                    raise FieldIssue(f"{alias} without subnet; expected subnet or ranges",
                                     subpath=("subnet",), value=None, has_value=True)
            if not self.ranges:
                raise FieldIssue("no address range; expected 'subnet' or a non-empty 'ranges'",
                                 subpath=("ranges",), value=self.ranges, has_value=True)
        else:
            _check_range(self.subnet, self.range_start, self.range_end, self.gateway)
        sets = self.range_sets()
        for i, rs in enumerate(sets):
            where = ("ranges", i - (1 if self.subnet is not None else 0))
            if not rs:
                raise FieldIssue("empty range set; expected at least one range",
                                 subpath=where, value=[], has_value=True)
            fams = {p.network.version for p in rs}
            if len(fams) > 1:
                raise FieldIssue("mixed address families in one range set; expected one family "
                                 "per set (use a second set for dual-stack)", subpath=where,
                                 value=[str(p.network) for p in rs], has_value=True)
            for a in range(len(rs)):
                for b in range(a):
                    if _ranges_overlap(rs[a], rs[b]):
                        raise FieldIssue(f"range {_span(rs[a])} overlaps {_span(rs[b])} in the "
                                         "same range set; expected disjoint ranges",
                                         subpath=(*rs[a].where, "subnet"),
                                         value=str(rs[a].network), has_value=True)
        for i, rs in enumerate(sets):
            for j in range(i):
                for p in rs:
                    for q in sets[j]:
                        if _ranges_overlap(p, q):
                            raise FieldIssue(f"range sets overlap: {_span(p)} and {_span(q)}; "
                                             "expected disjoint range sets",
                                             subpath=(*p.where, "subnet"), value=str(p.network),
                                             has_value=True)
        return self

    _sets: list[list[Pool]] | None = PrivateAttr(default=None)

    def range_sets(self) -> list[list[Pool]]:
        """Every range set as pools, the legacy range (if any) first, as host-local does."""
        if self._sets is None:
            self._sets = self._range_sets()
        return self._sets

    def _range_sets(self) -> list[list[Pool]]:
        sets: list[list[Pool]] = []
        if self.subnet is not None:
            sets.append([_pool(self.subnet, self.range_start, self.range_end, self.gateway, ())])
        for i, rs in enumerate(self.ranges or []):
            sets.append([_pool(r.subnet, r.range_start, r.range_end, r.gateway, ("ranges", i, j))
                         for j, r in enumerate(rs)])
        return sets

    def pools(self) -> list[Pool]:
        return [p for rs in self.range_sets() for p in rs]


class StaticAddress(CniModel):
    address: str
    """Address with prefix length, e.g. ``192.0.2.10/24``."""
    gateway: str | None = None
    """Gateway reported for this address."""

    @model_validator(mode="after")
    def _check(self) -> StaticAddress:
        iface = located(fc.ip_interface, self.address, "address")
        if self.gateway is not None:
            gw = located(fc.ip_address, self.gateway, "gateway")
            if gw.version != iface.version:
                raise FieldIssue(f"IPv{gw.version} gateway for IPv{iface.version} address; "
                                 "expected the same family", subpath=("gateway",),
                                 value=self.gateway, has_value=True)
            if gw not in iface.network:
                raise FieldIssue(f"gateway not inside {iface.network}; expected an on-link "
                                 "address", subpath=("gateway",), value=self.gateway,
                                 has_value=True)
        return self


class StaticIpam(CniModel):
    """static: fixed addresses from the config, or per pod through ``capabilities.ips``."""

    type: Literal["static"]
    """The IPAM plugin's binary name (fixed for this model)."""
    addresses: list[StaticAddress] | None = None
    """Fixed addresses; every pod selecting the network gets them, unless the selection
    asks for ``ips`` (with ``capabilities.ips``)."""
    routes: list[Route] | None = None
    """Routes to install in the pod."""
    dns: Dns | None = None
    """DNS settings reported to the runtime."""


class DhcpIpam(CniModel):
    """dhcp: leases from a DHCP server on the segment, through the node's dhcp daemon."""

    type: Literal["dhcp"]
    """The IPAM plugin's binary name (fixed for this model)."""
    daemon_socket_path: str | None = Field(default=None, alias="daemonSocketPath")
    """The dhcp daemon's socket; default ``/run/cni/dhcp.sock``."""


def _whereabouts_range(text: str) -> tuple[IPNetwork, IPAddress | None, IPAddress | None]:
    """whereabouts' ``range``: ``CIDR`` (host bits allowed) or ``first-last/prefix``."""
    body, slash, prefix = text.partition("/")
    if not slash:
        raise FieldIssue("not a CIDR; expected e.g. 192.0.2.0/24 or 192.0.2.10-192.0.2.20/24")
    first: IPAddress | None = None
    last: IPAddress | None = None
    if "-" in body:
        a, _, b = body.partition("-")
        first, last = fc.ip_address(a), fc.ip_address(b)
        body = a
    try:
        net = fc.parse_network(f"{body}/{prefix}", False)
    except ValueError:
        raise FieldIssue("not a CIDR; expected e.g. 192.0.2.0/24") from None
    if first is not None and last is not None:
        if last.version != net.version or last not in net:
            raise FieldIssue(f"range end {last} is outside {net}; expected first-last inside "
                             "one network")
        if int(first) > int(last):
            raise FieldIssue(f"range start {first} is after range end {last}; expected "
                             "first <= last")
    return net, first, last


class WhereaboutsRange(CniModel):
    range: str
    """CIDR to allocate from (``192.0.2.0/24``, or ``first-last/prefix``)."""
    range_start: str | None = None
    """First address handed out (inclusive)."""
    range_end: str | None = None
    """Last address handed out (inclusive)."""
    exclude: list[str] | None = None
    """CIDRs never handed out."""

    @model_validator(mode="after")
    def _check(self) -> WhereaboutsRange:
        _check_whereabouts(self.range, self.range_start, self.range_end, self.exclude, None)
        return self


def _check_whereabouts(rng: str, start: str | None, end: str | None,
                       exclude: list[str] | None, gateway: str | None) -> None:
    net, _, _ = located(_whereabouts_range, rng, "range")
    addrs: dict[str, IPAddress] = {}
    for key, text in (("range_start", start), ("range_end", end), ("gateway", gateway)):
        if text is None:
            continue
        addr = located(fc.ip_address, text, key)
        if addr.version != net.version or addr not in net:
            raise FieldIssue(f"not inside range {net}; expected an address of that network",
                             subpath=(key,), value=text, has_value=True)
        addrs[key] = addr
    if "range_start" in addrs and "range_end" in addrs and (
            int(addrs["range_start"]) > int(addrs["range_end"])):
        raise FieldIssue("range_start is after range_end; expected start <= end",
                         subpath=("range_start",), value=start, has_value=True)
    for i, ex in enumerate(exclude or []):
        try:
            exnet = fc.parse_network(ex, False)
        except ValueError:
            raise FieldIssue("not a CIDR; expected e.g. 192.0.2.16/28", subpath=("exclude", i),
                             value=ex, has_value=True) from None
        if "/" not in ex:
            raise FieldIssue("not a CIDR; expected e.g. 192.0.2.16/28", subpath=("exclude", i),
                             value=ex, has_value=True)
        if exnet.version != net.version:
            raise FieldIssue(f"IPv{exnet.version} exclusion for IPv{net.version} range",
                             subpath=("exclude", i), value=ex, has_value=True)


def _whereabouts_pool(rng: str, start: str | None, end: str | None, exclude: list[str] | None,
                      where: tuple[str | int, ...]) -> Pool:
    net, f, la = _whereabouts_range(rng)
    first = fc.parse_address(start) if start else (f or net.network_address + 1)
    last = fc.parse_address(end) if end else (la or _default_last(net))
    ex = tuple(fc.parse_network(e, False) for e in exclude or [])
    return Pool(net, first, last, None, where, ex)


class WhereaboutsIpam(CniModel):
    """whereabouts: cluster-wide allocation kept in Kubernetes custom resources."""

    type: Literal["whereabouts"]
    """The IPAM plugin's binary name (fixed for this model)."""
    range: str | None = None
    """CIDR to allocate from."""
    range_start: str | None = None
    """First address handed out (inclusive)."""
    range_end: str | None = None
    """Last address handed out (inclusive)."""
    exclude: list[str] | None = None
    """CIDRs never handed out."""
    gateway: str | None = None
    """Gateway reported to the pod."""
    routes: list[Route] | None = None
    """Routes to install in the pod."""
    ip_ranges: list[WhereaboutsRange] | None = Field(default=None, alias="ipRanges")
    """Several ranges (e.g. dual-stack)."""
    enable_overlapping_ranges: bool | None = None
    """Check every address against the cluster-wide reservations too, so overlapping ranges
    (under one ``network_name``) never hand out an address twice; whereabouts' default is
    true."""
    network_name: str | None = None
    """Keeps this network's pools and reservations apart from those of other networks with
    the same range (whereabouts names its pool objects after it)."""

    @model_validator(mode="after")
    def _check(self) -> WhereaboutsIpam:
        if self.range is None and not self.ip_ranges:
            raise FieldIssue("no range; expected 'range' or 'ipRanges'", subpath=("range",),
                             value=None, has_value=True)
        if self.range is not None:
            _check_whereabouts(self.range, self.range_start, self.range_end, self.exclude,
                               self.gateway)
        return self

    def pools(self) -> list[Pool]:
        out = []
        if self.range is not None:
            out.append(_whereabouts_pool(self.range, self.range_start, self.range_end,
                                         self.exclude, ()))
        for i, r in enumerate(self.ip_ranges or []):
            out.append(_whereabouts_pool(r.range, r.range_start, r.range_end, r.exclude,
                                         ("ipRanges", i)))
        return out


class RawIpam(CniModel):
    """An IPAM type netplumb does not model: every field is kept as given."""

    open_schema: ClassVar[bool] = True

    type: str | None = None
    """The IPAM plugin's binary name."""

    @model_validator(mode="after")
    def _typed_if_not_empty(self) -> RawIpam:
        if self.type is None and self.model_extra:
            raise FieldIssue("IPAM settings without a type; expected 'type' (host-local, "
                             "static, dhcp, whereabouts, …) or an empty object for no IPAM",
                             subpath=("type",), value=None, has_value=True)
        if self.type is not None and (not self.type or "/" in self.type):
            raise FieldIssue("invalid IPAM type; expected the plugin binary's name",
                             subpath=("type",), value=self.type, has_value=True)
        if self.type is not None:
            located(lambda t: fc.not_a_near_miss(t, KNOWN_IPAM, "IPAM"), self.type, "type")
        return self


KNOWN_IPAM: dict[str, type[CniModel]] = by_type(HostLocalIpam, StaticIpam, DhcpIpam,
                                                  WhereaboutsIpam)
"""The IPAM types netplumb models, by type: validated by their own rules."""


if TYPE_CHECKING:
    Ipam = CniModel
else:
    Ipam = known_or_raw(KNOWN_IPAM, RawIpam)
"""Any IPAM config: the known types are validated, any other kept raw."""


def ipam_pools(ipam: object) -> list[Pool]:
    """The allocatable pools of an IPAM config, where netplumb knows how it allocates."""
    if isinstance(ipam, HostLocalIpam | WhereaboutsIpam):
        return ipam.pools()
    return []


# -- what an IPAM config names, for the plan's checks ----------------------------------------

Sub = tuple[str | int, ...]


@dataclass
class IpamFacts:
    """The addresses an IPAM config names, each with its key path inside the IPAM object."""

    subnets: list[IPNetwork] = field(default_factory=list)
    """Subnets its interface gets an address from (ranges, static addresses)."""
    statics: list[tuple[IPInterface, Sub]] = field(default_factory=list)
    """Fixed addresses of static IPAM (every pod selecting the network gets them, unless
    its selection asks for ``ips``)."""
    bounds: list[tuple[IPAddress, IPNetwork, Sub]] = field(default_factory=list)
    """Explicit host-local range bounds, with the range's subnet."""
    gateways: list[tuple[IPAddress, Sub]] = field(default_factory=list)
    """Gateways the config declares: of ranges and addresses, and the next hops of routes."""
    routes: list[tuple[IPAddress, Sub]] = field(default_factory=list)
    """Route next hops."""


def _host_local_range(out: IpamFacts, subnet: str, start: str | None, end: str | None,
                      gateway: str | None, at: Sub) -> None:
    net = fc.parse_network(subnet)
    out.subnets.append(net)
    for key, text in (("rangeStart", start), ("rangeEnd", end)):
        if text is not None:
            out.bounds.append((fc.parse_address(text), net, (*at, key)))
    if gateway is not None:
        out.gateways.append((fc.parse_address(gateway), (*at, "gateway")))


def _routes(out: IpamFacts, routes: list[Route] | None) -> None:
    for k, route in enumerate(routes or []):
        if route.gw is not None:
            gw = fc.parse_address(route.gw)
            out.routes.append((gw, ("routes", k, "gw")))
            out.gateways.append((gw, ("routes", k, "gw")))


def ipam_facts(ipam: object) -> IpamFacts:
    """The facts of a host-local, static or whereabouts config; empty for other types."""
    out = IpamFacts()
    if isinstance(ipam, HostLocalIpam):
        if ipam.subnet is not None:
            _host_local_range(out, ipam.subnet, ipam.range_start, ipam.range_end,
                              ipam.gateway, ())
        for i, rs in enumerate(ipam.ranges or []):
            for j, r in enumerate(rs):
                _host_local_range(out, r.subnet, r.range_start, r.range_end, r.gateway,
                                  ("ranges", i, j))
        _routes(out, ipam.routes)
    elif isinstance(ipam, StaticIpam):
        for j, a in enumerate(ipam.addresses or []):
            iface = fc.ip_interface(a.address)
            out.subnets.append(iface.network)
            out.statics.append((iface, ("addresses", j, "address")))
            if a.gateway is not None:
                out.gateways.append((fc.parse_address(a.gateway), ("addresses", j, "gateway")))
        _routes(out, ipam.routes)
    elif isinstance(ipam, WhereaboutsIpam):
        out.subnets += [p.network for p in ipam.pools()]
        if ipam.gateway is not None:
            out.gateways.append((fc.parse_address(ipam.gateway), ("gateway",)))
        _routes(out, ipam.routes)
    return out
