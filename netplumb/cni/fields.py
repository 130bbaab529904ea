"""Small validators for the value kinds CNI configs are made of.

Each raises :class:`FieldIssue` (a ``ValueError``) saying what would be valid; the
pydantic models turn it into a :class:`~netplumb.errors.PlanError` naming the path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, TypeVar

from pydantic import AfterValidator

from ..spelling import nearest
from ..validation import FieldIssue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

N = TypeVar("N", int, int | None)

IFNAME_MAX = 15
MTU_MIN, MTU_MAX = 68, 65535
_PCI = re.compile(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
# CNI spec: network names start alphanumeric, then alphanumerics, '_', '.', '-'.
_CNI_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
# DNS-1123 subdomain, what Kubernetes requires of object names such as a NAD's.
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@lru_cache(maxsize=1 << 16)
def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ipaddress.ip_address``, memoised (plans repeat addresses; parsing IPv6 is slow)."""
    return ipaddress.ip_address(text)


@lru_cache(maxsize=1 << 16)
def parse_network(text: str, strict: bool = True) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``ipaddress.ip_network``, memoised."""
    return ipaddress.ip_network(text, strict=strict)


def ip_address(text: str) -> IPAddress:
    try:
        return parse_address(text)
    except ValueError:
        raise FieldIssue("not an IP address; expected IPv4 or IPv6 such as 192.0.2.10") from None


def ip_network(text: str) -> IPNetwork:
    """A CIDR whose host bits are zero (``192.0.2.0/24``)."""
    if "/" not in text:
        raise FieldIssue("not a CIDR; expected a network such as 192.0.2.0/24")
    try:
        return parse_network(text, True)
    except ValueError as exc:
        try:
            net = parse_network(text, False)
        except ValueError:
            raise FieldIssue("not a CIDR; expected a network such as 192.0.2.0/24") from exc
        raise FieldIssue(f"has host bits set; the network address is {net}") from None


def ip_interface(text: str) -> IPInterface:
    """An address with prefix length (``192.0.2.10/24``)."""
    if "/" not in text:
        raise FieldIssue("missing prefix length; expected an address with prefix such as "
                         "192.0.2.10/24")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise FieldIssue("not an address with prefix; expected e.g. 192.0.2.10/24") from None


def ifname(name: str) -> str:
    """A Linux interface name: 1–15 bytes, no '/', ':' or whitespace, not '.' or '..'."""
    if not name:
        raise FieldIssue("empty interface name; expected 1-15 characters")
    if len(name.encode()) > IFNAME_MAX:
        raise FieldIssue(f"interface name is {len(name.encode())} characters; Linux allows at "
                         f"most {IFNAME_MAX}")
    if name in (".", ".."):
        raise FieldIssue("'.' and '..' are not valid interface names")
    bad = [c for c in name if c in "/:" or c.isspace()]
    if bad:
        raise FieldIssue(f"interface name contains {bad[0]!r}; '/', ':' and whitespace are not "
                         "allowed")
    return name


def mtu(value: int, *, allow_zero: bool = True) -> int:
    """An MTU in 68–65535; ``0`` means "inherit/default" where the plugin's code says so."""
    if value == 0 and allow_zero:
        return value
    if not MTU_MIN <= value <= MTU_MAX:
        zero = "0 (inherit) or " if allow_zero else ""
        raise FieldIssue(f"MTU out of range; expected {zero}{MTU_MIN}-{MTU_MAX}")
    return value


def mac(value: str) -> str:
    return matching(_MAC, value,
                    "not a MAC address; expected six hex octets such as 02:00:5e:10:00:01")


def pci_address(value: str) -> str:
    """A PCI address, with or without its domain (``0000:3b:00.1``, ``3b:00.1``)."""
    return matching(_PCI, value, "not a PCI address; expected e.g. 0000:3b:00.1")


def cni_name(value: str) -> str:
    return matching(_CNI_NAME, value, "invalid CNI network name; expected a letter or digit "
                    "followed by letters, digits, '_', '.' or '-'")


def k8s_name(value: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain, ≤ 253 characters)."""
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise FieldIssue("invalid Kubernetes name; expected lower-case letters, digits, '-' and "
                         "'.', starting and ending alphanumeric, at most 253 characters")
    return value


def k8s_label_name(value: str) -> str:
    """A DNS-1123 label (≤ 63 characters), what namespaces must be."""
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise FieldIssue("invalid name; expected a DNS-1123 label: lower-case letters, digits "
                         "and '-', starting and ending alphanumeric, at most 63 characters")
    return value


def nad_key(value: str) -> str:
    """``namespace/name`` of a NetworkAttachmentDefinition."""
    ns, slash, name = value.partition("/")
    if not slash:
        raise FieldIssue("expected namespace/name")
    k8s_label_name(ns)
    k8s_name(name)
    return value


def int_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise FieldIssue(f"{what} out of range; expected {low}-{high}")
    return value


def at_least(value: N, low: int, message: str) -> N:
    """``value`` (or None) unless it is below ``low``, which ``message`` refuses."""
    if value is not None and value < low:
        raise FieldIssue(message)
    return value


def matching(pattern: re.Pattern[str], value: str, message: str) -> str:
    """``value`` if ``pattern`` matches it; otherwise ``message`` says what was expected."""
    if not pattern.match(value):
        raise FieldIssue(message)
    return value


# Field types carrying their check, for models to declare instead of repeating validators.
IfName = Annotated[str, AfterValidator(ifname)]
"""A Linux interface name."""
Mtu = Annotated[int, AfterValidator(mtu)]
"""An MTU, or 0 for the plugin's default."""
Mac = Annotated[str, AfterValidator(mac)]
"""A MAC address."""
PciAddress = Annotated[str, AfterValidator(pci_address)]
"""A PCI address."""
K8sName = Annotated[str, AfterValidator(k8s_name)]
"""A Kubernetes object name (DNS-1123 subdomain)."""
Namespace = Annotated[str, AfterValidator(k8s_label_name)]
"""A namespace name (DNS-1123 label)."""


def not_a_near_miss(kind: str, known: Iterable[str], what: str) -> str:
    """A ``type`` that is not a known one but one typo away from it (``host_local``,
    ``macvlna``) is refused: the runtime would not find that binary. Any other unknown
    type is a plugin netplumb does not model, and is accepted."""
    hint = nearest(kind, known, strict=True)
    if hint is not None and kind.rstrip("0123456789") != hint:  # "dummy2": another binary
        raise FieldIssue(f"unknown {what} type {kind!r}; did you mean {hint!r}? (the runtime "
                         f"looks for a binary of exactly this name)")
    return kind
