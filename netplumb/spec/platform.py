"""Typed arguments of the platform components: Flannel, Multus, SR-IOV pools, guardrails,
and multi-homed workloads.

Defaults follow what the pinned upstream versions do (Multus v4.3.0, Flannel v0.28.10,
sriov-network-device-plugin v3.11.0, sriov-cni v2.10.0), except where upstream's quickstart
value is a known trap; each such default says why in its docstring.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from . import fieldcheck as fc
from .base import PlanModel, validate
from .config import CniVersion
from .fieldcheck import FieldIssue
from .networks import SriovNetworkArgs
from .selection import NetworkSelection
from .workloads import Resources

# -- pinned images ------------------------------------------------------------------------

MULTUS_VERSION = "v4.3.0"
MULTUS_THICK_IMAGE = f"ghcr.io/k8snetworkplumbingwg/multus-cni:{MULTUS_VERSION}-thick"
MULTUS_THIN_IMAGE = f"ghcr.io/k8snetworkplumbingwg/multus-cni:{MULTUS_VERSION}"
FLANNEL_IMAGE = "ghcr.io/flannel-io/flannel:v0.28.10"
FLANNEL_CNI_PLUGIN_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"
SRIOV_DEVICE_PLUGIN_IMAGE = "ghcr.io/k8snetworkplumbingwg/sriov-network-device-plugin:v3.11.0"
SRIOV_CNI_IMAGE = "ghcr.io/k8snetworkplumbingwg/sriov-cni:v2.10.0"

NETWORK_ADMIN_ROLE = "netplumb-network-admin"
NETWORK_VIEWER_ROLE = "netplumb-network-viewer"

_ARGS = ConfigDict(strict=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                   serialize_by_alias=True, use_attribute_docstrings=True)


class PlatformModel(PlanModel):
    """Base of the platform args: strict, unknown keys refused, a docstring per field."""

    model_config = _ARGS

    @classmethod
    def parse(cls, data: Any, *, at: tuple[str | int, ...] = ()) -> Self:
        """Validate typed input (unknown keys refused, nested CNI models too); problems
        come back as a :class:`~netplumb.PlanError` with paths under ``at``."""
        return validate(lambda d: cls.model_validate(d, context={"typed": True}), data, at=at)

    def checked(self) -> Self:
        """These args validated again from what they hold (catches assignments after
        construction and ``model_construct``); raises :class:`~netplumb.PlanError`."""
        return type(self).parse(self.model_dump(by_alias=True, exclude_unset=True))


# -- network selections: keys people write that Multus does not have ---------------------

NON_MULTUS_SELECTION_KEYS: dict[str, str] = {
    "gateway": "Multus has no 'gateway' key in a network selection (it would be dropped "
               "silently). To route the pod's default traffic via this network use "
               "\"default-route\": [\"<gateway>\"]; routes of the network itself belong in the "
               "NAD's IPAM (gateway, routes)",
    "gateway-request": "'gateway-request' is Multus' internal name; the selection key is "
                       "\"default-route\"",
    "ip": "the key is \"ips\", a list of addresses with prefix such as [\"192.0.2.10/24\"]",
    "ifname": "the key is \"interface\"",
    "interfaceName": "the key is \"interface\"",
    "macAddress": "the key is \"mac\"",
    "defaultRoute": "the key is \"default-route\"",
}
"""Keys found in hand-written selections that Multus ignores, with what to write instead."""


def refuse_non_multus_keys(selection: Any, *, at: tuple[str | int, ...] = ()) -> None:
    """Raise :class:`FieldIssue` for a selection key Multus does not know, saying what to
    write instead (e.g. the guide's ``gateway``)."""
    if not isinstance(selection, dict):
        return
    for key in selection:
        hint = NON_MULTUS_SELECTION_KEYS.get(str(key))
        if hint is not None:
            raise FieldIssue(hint, subpath=(*at, str(key)), value=selection[key],
                             has_value=True)


# -- small value checks -------------------------------------------------------------------

IMAGE_REF = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
"""An image reference: ``repo`` (with registry), optional ``tag``, optional ``digest``."""


def pinned_image(value: str) -> str:
    """An image reference with a version tag or a digest; ``latest`` and no tag are refused."""
    m = IMAGE_REF.match(value)
    if not m:
        raise FieldIssue("not an image reference; expected e.g. "
                         "ghcr.io/flannel-io/flannel:v0.28.10")
    if not m["digest"] and (not m["tag"] or m["tag"] == "latest"):
        raise FieldIssue("image is not pinned; expected a version tag (not 'latest') or an "
                         "@sha256 digest so every node runs the same build")
    return value


_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
_SUFFIX = {
    "": Fraction(1), "m": Fraction(1, 1000), "k": Fraction(10**3), "M": Fraction(10**6),
    "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


def quantity_value(text: str) -> Fraction:
    """A Kubernetes quantity (``100m``, ``128Mi``, ``4``) as an exact number."""
    m = _QUANTITY.match(text)
    if not m:
        raise FieldIssue("not a Kubernetes quantity; expected e.g. 100m, 2, 128Mi or 8Gi")
    suffix = m["suffix"] or ""
    if suffix[:1] in ("e", "E") and suffix not in _SUFFIX:
        mult = Fraction(10) ** int(suffix[1:])
    else:
        mult = _SUFFIX[suffix]
    return Fraction(m["num"]) * mult


def _quantity(value: str | int) -> str:
    text = str(value)
    quantity_value(text)
    return text


Quantity = Annotated[str | int, AfterValidator(_quantity)]
"""A Kubernetes quantity; integers are accepted and written as strings."""


def extended_resource(value: str) -> str:
    """An extended resource name ``<domain>/<name>`` such as ``intel.com/sriov``."""
    domain, slash, name = value.partition("/")
    if not slash or not domain or not name or "/" in name:
        raise FieldIssue("expected an extended resource name such as intel.com/sriov")
    if domain.endswith("kubernetes.io") or domain.endswith("k8s.io"):
        raise FieldIssue("the kubernetes.io and k8s.io domains are reserved; expected a vendor "
                         "domain such as intel.com")
    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", domain):
        raise FieldIssue("invalid resource domain; expected a DNS name such as intel.com")
    if len(name) > 63 or not re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", name):
        raise FieldIssue("invalid resource name; expected letters, digits, '-', '_' or '.', "
                         "at most 63 characters")
    return value


def _abs_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value:
        raise FieldIssue("expected an absolute path such as /run/flannel/subnet.env")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not key or len(key) > 317 or any(c.isspace() for c in key):
            raise FieldIssue("invalid label key; expected e.g. app or example.com/role",
                             subpath=(key,), value=key, has_value=True)
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]

# -- shared pod-level pieces --------------------------------------------------------------


class Toleration(PlatformModel):
    """A pod toleration (as in the Kubernetes API)."""

    key: str | None = None
    """Taint key to tolerate; unset with operator Exists tolerates every taint."""
    operator: Literal["Exists", "Equal"] = "Exists"
    """``Exists`` matches any value; ``Equal`` matches ``value``."""
    value: str | None = None
    """Taint value (operator Equal only)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to tolerate; unset tolerates all effects."""
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")
    """How long a NoExecute taint is tolerated before eviction."""

    @model_validator(mode="after")
    def _check(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise FieldIssue("operator Exists takes no value; expected operator Equal or no "
                             "value", subpath=("value",), value=self.value, has_value=True)
        if self.operator == "Equal" and not self.key:
            raise FieldIssue("operator Equal needs a key", subpath=("key",), value=self.key,
                             has_value=True)
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise FieldIssue("tolerationSeconds applies to the NoExecute effect only",
                             subpath=("tolerationSeconds",), value=self.toleration_seconds,
                             has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def _tolerate_all() -> list[Toleration]:
    return [Toleration(operator="Exists", effect="NoSchedule"),
            Toleration(operator="Exists", effect="NoExecute")]


class ContainerResources(PlatformModel):
    """Requests and limits of a container (Kubernetes quantities)."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    """What the scheduler reserves, e.g. ``{"cpu": "100m", "memory": "128Mi"}``."""
    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Hard caps; a container over its memory limit is OOM-killed."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ContainerResources:
        for key, req in self.requests.items():
            lim = self.limits.get(key)
            if lim is not None and quantity_value(str(req)) > quantity_value(str(lim)):
                raise FieldIssue(f"request {req} is above the limit {lim}; expected request "
                                 "<= limit", subpath=("requests", key), value=req,
                                 has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: {r: str(q) for r, q in v.items()}
                for k, v in (("requests", self.requests), ("limits", self.limits)) if v}


# -- Flannel ------------------------------------------------------------------------------


class FlannelArgs(PlatformModel):
    """Flannel as the cluster's default network (``--kube-subnet-mgr`` mode)."""

    namespace: fc.Namespace = "kube-flannel"
    """Namespace of Flannel's objects; labelled PodSecurity ``privileged``."""
    network: str = "10.244.0.0/16"
    """Pod network CIDR (``Network`` in net-conf.json); must contain the nodes' podCIDRs,
    i.e. match the controller-manager's ``--cluster-cidr``."""
    backend: Literal["vxlan", "host-gw"] = "vxlan"
    """``vxlan`` encapsulates (works across L3); ``host-gw`` routes directly and needs every
    node on one L2 segment."""
    iface: str | None = None
    """Node interface for inter-node traffic (``--iface``); unset uses the default-route
    interface, which is wrong on hosts whose cluster network is a second NIC (the guide's
    ``enp0s8``)."""
    ip_masq: bool = True
    """Masquerade traffic leaving the pod network (``--ip-masq``)."""
    enable_nftables: bool = False
    """Use nftables instead of iptables for masquerading (``EnableNFTables``)."""
    cni_name: str = "cbr0"
    """Name of the CNI conflist written to ``/etc/cni/net.d/10-flannel.conflist``."""
    cni_version: CniVersion = "0.3.1"
    """cniVersion of that conflist (Multus' generated config follows it)."""
    image: str = FLANNEL_IMAGE
    """flanneld image (pinned)."""
    cni_plugin_image: str = FLANNEL_CNI_PLUGIN_IMAGE
    """Image that places the ``flannel`` CNI binary into ``/opt/cni/bin`` (pinned)."""
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(operator="Exists", effect="NoSchedule")])
    """Flannel must run on every node, control plane included."""
    node_selector: Labels = Field(default_factory=dict)
    """Extra node selector (Flannel already requires ``kubernetes.io/os: linux``)."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "100m", "memory": "50Mi"}))
    """flanneld's resources; upstream requests only, and so does this default."""
    healthz_port: int = 8081
    """Port of flanneld's /healthz and /readyz on the host network."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the default network from being evicted before the pods that depend on it."""


    @field_validator("network")
    @classmethod
    def _network(cls, v: str) -> str:
        net = fc.ip_network(v)
        if net.version != 4:
            raise FieldIssue("Flannel's Network is IPv4; expected e.g. 10.244.0.0/16")
        if net.prefixlen > 28:
            raise FieldIssue(f"{net} is too small for a pod network; expected at most /28")
        return v

    @field_validator("iface")
    @classmethod
    def _iface(cls, v: str | None) -> str | None:
        return None if v is None else fc.ifname(v)

    @field_validator("cni_name")
    @classmethod
    def _cni_name(cls, v: str) -> str:
        return fc.cni_name(v)

    @field_validator("image", "cni_plugin_image")
    @classmethod
    def _image(cls, v: str) -> str:
        return pinned_image(v)

    @field_validator("healthz_port")
    @classmethod
    def _port(cls, v: int) -> int:
        return fc.int_range(v, 1, 65535, "port")


# -- Multus -------------------------------------------------------------------------------

MultusLogLevel = Literal["panic", "error", "verbose", "debug"]
"""The levels Multus' logging code knows; any other word is ignored with a message on stderr
(``warning`` and ``info`` do not exist in Multus)."""


class ServiceMonitorArgs(PlatformModel):
    """A Prometheus-operator ServiceMonitor scraping the Multus daemon's metrics."""

    namespace: fc.Namespace = "monitoring"
    """Namespace of the ServiceMonitor (where Prometheus looks for them)."""
    interval: str = "30s"
    """Scrape interval (Prometheus duration)."""
    labels: Labels = Field(default_factory=dict)
    """Labels Prometheus' ``serviceMonitorSelector`` matches on."""
    install_crd: bool = False
    """Install netplumb's minimal ServiceMonitor CRD (only where the Prometheus operator is
    absent, e.g. a test cluster)."""
    create_namespace: bool = False
    """Create ``namespace`` (normally the monitoring stack's install created it)."""


    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if not re.match(r"^([0-9]+(ms|s|m|h|d|w|y))+$", v):
            raise FieldIssue("not a Prometheus duration; expected e.g. 30s or 1m")
        return v


class MultusInstallArgs(PlatformModel):
    """Multus on every node, with (by default) Flannel as the default network."""

    mode: Literal["thick", "thin"] = "thick"
    """``thick``: a daemon per node does the work, the host binary is a shim (upstream's
    recommendation). ``thin``: the ``multus`` binary runs on the host for each pod."""
    namespace: fc.Namespace = "kube-system"
    """Namespace of the Multus objects."""
    default_network: Literal["flannel", "none"] = "flannel"
    """``flannel``: install Flannel too. ``none``: the cluster already has a default network."""
    flannel: FlannelArgs = Field(default_factory=FlannelArgs)
    """Flannel's options (with ``default_network: flannel``)."""
    install_nad_crd: bool = True
    """Create the NetworkAttachmentDefinition CRD."""
    image: str | None = None
    """Multus image; default the pinned v4.3.0 image of the chosen mode."""
    cni_version: CniVersion = "0.3.1"
    """cniVersion of the generated ``00-multus.conf`` (thick; thin Multus takes the default
    network's). From 0.4.0 on, Multus refuses a default network below 0.4.0."""
    log_level: MultusLogLevel = "verbose"
    """Multus log level: panic, error, verbose or debug (the only words Multus knows)."""
    log_to_stderr: bool = True
    """Log to the container's stderr (``kubectl logs``)."""
    log_file: str | None = None
    """Also log to this file (a path in the Multus container)."""
    namespace_isolation: bool = False
    """Pods may only select NADs of their own namespace (plus ``global_namespaces``)."""
    global_namespaces: list[str] = Field(default_factory=list)
    """Namespaces whose NADs every pod may select (with ``namespace_isolation``)."""
    readiness_indicator_file: str | None = None
    """Host path that must exist before Multus serves pods; it guards against the race with
    the default network after a reboot (multus-cni #1221, #1387). Unset: Flannel's
    ``/run/flannel/subnet.env`` when Flannel is installed here, else none; ``""``: none."""
    metrics_port: int | None = None
    """Port of the daemon's Prometheus endpoint (thick only); also creates a Service."""
    service_monitor: ServiceMonitorArgs | None = None
    """A ServiceMonitor for the metrics (needs ``metrics_port``)."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "500Mi"}))
    """Multus container resources. Upstream's quickstart caps memory at 50Mi, and the thick
    daemon is OOM-killed at that limit when many pods start at once (multus-cni #1346,
    #1349, #1416); 500Mi leaves room for bursts while 128Mi is what the scheduler
    reserves. No CPU limit: throttling a CNI daemon stalls every pod start on the node."""
    tolerations: list[Toleration] = Field(default_factory=_tolerate_all)
    """Multus must run wherever pods run; by default it tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run Multus on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps Multus from being evicted: without it no pod on the node gets a network."""
    termination_grace_period_seconds: int = 30
    """Seconds the daemon gets to finish requests on shutdown."""


    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else pinned_image(v)

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("warning", "warn", "info"):
            raise FieldIssue(f"Multus has no log level {v!r} (its code knows panic, error, "
                             "verbose and debug, and ignores any other word); expected verbose "
                             "for normal operation or error for quiet nodes")
        return v

    @field_validator("log_file")
    @classmethod
    def _log_file(cls, v: str | None) -> str | None:
        return None if v is None else _abs_path(v)

    @field_validator("readiness_indicator_file")
    @classmethod
    def _readiness(cls, v: str | None) -> str | None:
        return v if not v else _abs_path(v)

    @field_validator("global_namespaces")
    @classmethod
    def _globals(cls, v: list[str]) -> list[str]:
        for i, ns in enumerate(v):
            try:
                fc.k8s_label_name(ns)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(i,), value=ns, has_value=True) from None
        return v

    @field_validator("metrics_port")
    @classmethod
    def _metrics(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 1, 65535, "port")

    @model_validator(mode="after")
    def _check(self) -> MultusInstallArgs:
        if self.metrics_port is not None and self.mode == "thin":
            raise FieldIssue("metrics are served by the thick daemon only; expected mode "
                             "thick or no metrics_port", subpath=("metrics_port",),
                             value=self.metrics_port, has_value=True)
        if self.service_monitor is not None and self.metrics_port is None:
            raise FieldIssue("a ServiceMonitor needs metrics; set metrics_port (e.g. 9091)",
                             subpath=("service_monitor",), value=None, has_value=True)
        if self.global_namespaces and not self.namespace_isolation:
            raise FieldIssue("global_namespaces only matter with namespace_isolation: true",
                             subpath=("global_namespaces",), value=self.global_namespaces,
                             has_value=True)
        if (self.mode == "thick" and self.installs_flannel
                and _version(self.cni_version) >= (0, 4, 0) > _version(self.flannel.cni_version)):
            raise FieldIssue(f"Multus at cniVersion {self.cni_version} refuses a default network "
                             f"below 0.4.0 (Flannel's is {self.flannel.cni_version}); expected "
                             "equal versions", subpath=("cni_version",), value=self.cni_version,
                             has_value=True)
        if self.default_network == "none" and "flannel" in self.model_fields_set:
            raise FieldIssue("Flannel options given but default_network is none; expected "
                             "default_network: flannel or no flannel options",
                             subpath=("flannel",), value=None, has_value=True)
        return self

    @property
    def image_ref(self) -> str:
        return self.image or (MULTUS_THICK_IMAGE if self.mode == "thick" else MULTUS_THIN_IMAGE)

    @property
    def installs_flannel(self) -> bool:
        return self.default_network == "flannel"

    def readiness_file(self) -> str | None:
        """The readiness indicator as a host path, after the Flannel default is applied."""
        if self.readiness_indicator_file is not None:
            return self.readiness_indicator_file or None
        return "/run/flannel/subnet.env" if self.installs_flannel else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


# -- SR-IOV -------------------------------------------------------------------------------

_HEX4 = re.compile(r"^[0-9a-fA-F]{4}$")
_PCI = re.compile(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


def _each(v: list[str], check: Any) -> list[str]:
    for i, item in enumerate(v):
        try:
            check(item)
        except FieldIssue as exc:
            raise FieldIssue(exc.message, subpath=(i,), value=item, has_value=True) from None
    return v


def _hex4(s: str) -> None:
    if not _HEX4.match(s):
        raise FieldIssue("expected a 4-digit hex PCI id such as 8086")


def _pci(s: str) -> None:
    if not _PCI.match(s):
        raise FieldIssue("not a PCI address; expected e.g. 0000:3b:00.0")


def _pf_name(s: str) -> None:
    name, hash_, vfs = s.partition("#")
    fc.ifname(name)
    if hash_ and not re.match(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", vfs):
        raise FieldIssue("invalid VF range; expected e.g. ens1f0#0-3 or ens1f0#0,2")


class SriovSelectors(PlatformModel):
    """Which devices go into a pool; every given selector must match (a device missing from
    any list is left out)."""

    vendors: list[str] = Field(default_factory=list)
    """PCI vendor ids, e.g. ``8086`` (Intel), ``15b3`` (Mellanox)."""
    devices: list[str] = Field(default_factory=list)
    """PCI device ids of the VFs, e.g. ``154c``."""
    drivers: list[str] = Field(default_factory=list)
    """Kernel drivers bound to the VFs, e.g. ``iavf`` or ``vfio-pci`` (DPDK)."""
    pf_names: list[str] = Field(default_factory=list, alias="pfNames")
    """Physical functions whose VFs to take, optionally with a VF range (``ens1f0#0-3``)."""
    root_devices: list[str] = Field(default_factory=list, alias="rootDevices")
    """PCI addresses of the physical functions."""
    link_types: list[str] = Field(default_factory=list, alias="linkTypes")
    """Link types, e.g. ``ether`` or ``infiniband``."""
    pci_addresses: list[str] = Field(default_factory=list, alias="pciAddresses")
    """PCI addresses of individual VFs."""
    is_rdma: bool = Field(default=False, alias="isRdma")
    """Only RDMA-capable devices, and mount their RDMA character devices into the pod."""
    need_vhost_net: bool = Field(default=False, alias="needVhostNet")
    """Also mount /dev/vhost-net (DPDK virtio-user)."""

    _vendors = field_validator("vendors", "devices")(
        classmethod(lambda cls, v: _each(v, _hex4)))
    _roots = field_validator("root_devices", "pci_addresses")(
        classmethod(lambda cls, v: _each(v, _pci)))
    _pfs = field_validator("pf_names")(classmethod(lambda cls, v: _each(v, _pf_name)))

    SELECTING: ClassVar[tuple[str, ...]] = (
        "vendors", "devices", "drivers", "pf_names", "root_devices", "pci_addresses")

    @model_validator(mode="after")
    def _some(self) -> SriovSelectors:
        if not any(getattr(self, k) for k in self.SELECTING):
            raise FieldIssue("no selector; a pool without selectors takes every SR-IOV device "
                             "of the node. Expected at least one of vendors, devices, drivers, "
                             "pfNames, rootDevices, pciAddresses", value={}, has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, f in type(self).model_fields.items():
            value = getattr(self, name)
            if value:
                out[f.alias or name] = value
        return out


class SriovResourcePool(PlatformModel):
    """One resource the device plugin advertises (an entry of ``resourceList``)."""

    resource_name: str
    """Pool name without prefix, e.g. ``sriov`` (letters, digits, '_' and '-')."""
    resource_prefix: str | None = None
    """Prefix for this pool; default the plugin's (``SriovPoolArgs.resource_prefix``)."""
    device_type: Literal["netDevice", "accelerator", "auxNetDevice"] | None = None
    """Kind of device; the plugin's default is ``netDevice``."""
    exclude_topology: bool = False
    """Do not report NUMA topology (for pools spanning NUMA nodes)."""
    selectors: SriovSelectors
    """Which devices form the pool."""

    @field_validator("resource_name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[a-zA-Z0-9_-]+$", v) or len(v) > 63:
            raise FieldIssue("invalid resourceName; the device plugin accepts letters, digits, "
                             "'_' and '-' (at most 63)")
        return v

    @field_validator("resource_prefix")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is not None:
            extended_resource(f"{v}/x")
        return v


class SriovPoolArgs(PlatformModel):
    """The SR-IOV network device plugin with its pools, and the sriov CNI binary."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the device plugin's objects."""
    resource_prefix: str = "intel.com"
    """Default prefix of the pools' resource names (``--resource-prefix``)."""
    pools: list[SriovResourcePool] = Field(min_length=1)
    """The resources to advertise; each becomes ``<prefix>/<resource_name>``."""
    image: str = SRIOV_DEVICE_PLUGIN_IMAGE
    """Device plugin image (pinned)."""
    install_sriov_cni: bool = True
    """Place the ``sriov`` CNI binary in /opt/cni/bin (an init container of the plugin)."""
    sriov_cni_image: str = SRIOV_CNI_IMAGE
    """sriov-cni image (pinned)."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes with SR-IOV NICs, e.g. ``feature.node.kubernetes.io/network-sriov.capable``."""
    tolerations: list[Toleration] = Field(default_factory=list)
    """Tolerations of the device plugin pods."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "250m", "memory": "40Mi"}, limits={"cpu": "1", "memory": "200Mi"}))
    """Device plugin resources (upstream's values)."""
    log_level: int = 10
    """Device plugin verbosity (``--log-level``)."""


    @field_validator("resource_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        extended_resource(f"{v}/x")
        return v

    @field_validator("image", "sriov_cni_image")
    @classmethod
    def _image(cls, v: str) -> str:
        return pinned_image(v)

    @model_validator(mode="after")
    def _unique(self) -> SriovPoolArgs:
        seen: dict[str, int] = {}
        for i, pool in enumerate(self.pools):
            full = self.full_name(pool)
            if full in seen:
                raise FieldIssue(f"resource {full} is also pools[{seen[full]}]; expected unique "
                                 "resource names", subpath=("pools", i, "resource_name"),
                                 value=pool.resource_name, has_value=True)
            seen[full] = i
        return self

    def full_name(self, pool: SriovResourcePool) -> str:
        """``<prefix>/<resource_name>``: what pods request and NADs name."""
        return f"{pool.resource_prefix or self.resource_prefix}/{pool.resource_name}"

    def resource_names(self) -> dict[str, str]:
        """Pool name → full resource name."""
        return {p.resource_name: self.full_name(p) for p in self.pools}

    def resource_name(self, pool: str | None = None) -> str:
        """The full resource name of ``pool`` (or of the only pool)."""
        names = self.resource_names()
        if pool is None:
            if len(names) != 1:
                raise KeyError(f"{len(names)} pools; name one of: {', '.join(names)}")
            return next(iter(names.values()))
        if pool not in names:
            raise KeyError(f"no pool {pool!r}; expected one of: {', '.join(names)}")
        return names[pool]

    def network_args(self, pool: str | None = None, **fields: Any) -> SriovNetworkArgs:
        """:class:`SriovNetworkArgs` bound to one of these pools (``resource_name`` set)."""
        return SriovNetworkArgs(resource_name=self.resource_name(pool), **fields)


# -- guardrails ---------------------------------------------------------------------------


class QuotaArgs(PlatformModel):
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
        if v is not None and v < 0:
            raise FieldIssue("negative; expected a pod count >= 0")
        return v

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: dict[str, int]) -> dict[str, int]:
        for key, n in v.items():
            if key.startswith("requests.") or key.startswith("limits."):
                raise FieldIssue("give the bare resource name (netplumb writes the requests. "
                                 f"key); expected {key.split('.', 1)[1]}", subpath=(key,),
                                 value=key, has_value=True)
            try:
                extended_resource(key)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(key,), value=key, has_value=True) from None
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


class Subject(PlatformModel):
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
            try:
                fc.k8s_label_name(self.namespace)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=("namespace",), value=self.namespace,
                                 has_value=True) from None
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind == "ServiceAccount":
            out["namespace"] = self.namespace
        else:
            out["apiGroup"] = "rbac.authorization.k8s.io"
        return out


class RoleBindingArgs(PlatformModel):
    """Grants one of netplumb's network roles, cluster-wide or in one namespace."""

    role: Literal["admin", "viewer"]
    """``admin``: may create, change and delete NADs and MultiNetworkPolicies. ``viewer``:
    may read them."""
    subjects: list[Subject] = Field(min_length=1)
    """Who is granted the role."""
    namespace: fc.Namespace | None = None
    """Bind in this namespace only (a RoleBinding); unset binds cluster-wide."""
    name: fc.K8sName | None = None
    """Binding name; default ``netplumb-<role>-<namespace or cluster>-<index>``."""




class NetworkRbacArgs(PlatformModel):
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


class PodSecurityArgs(PlatformModel):
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


class IpBlock(PlatformModel):
    """An address range a policy peer may be."""

    cidr: str
    """The range, e.g. ``10.0.0.0/8``."""
    except_: list[str] = Field(default_factory=list, alias="except")
    """Sub-ranges left out; each inside ``cidr``."""

    @model_validator(mode="after")
    def _check(self) -> IpBlock:
        try:
            net = fc.ip_network(self.cidr)
        except FieldIssue as exc:
            raise FieldIssue(exc.message, subpath=("cidr",), value=self.cidr,
                             has_value=True) from None
        for i, ex in enumerate(self.except_):
            try:
                sub = fc.ip_network(ex)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=("except", i), value=ex,
                                 has_value=True) from None
            if sub.version != net.version or not sub.subnet_of(net):  # type: ignore[arg-type]
                raise FieldIssue(f"not inside {net}; expected a sub-range of cidr",
                                 subpath=("except", i), value=ex, has_value=True)
        return self


class PolicyPeer(PlatformModel):
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


class PolicyPort(PlatformModel):
    """A port (or range) a policy rule allows."""

    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """L4 protocol."""
    port: int | str | None = None
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


class PolicyRule(PlatformModel):
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


class _PolicyBody(PlatformModel):
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
        return _each(v, ref)

    def targets(self) -> list[str]:
        """``namespace/name`` of every NAD in ``policy_for``."""
        return [r if "/" in r else f"{self.namespace}/{r}" for r in self.policy_for]


class NetworkGuardrailsArgs(PlatformModel):
    """Quotas, policies, RBAC and PodSecurity around the networks."""

    quotas: list[QuotaArgs] = Field(default_factory=list)
    """ResourceQuotas (cpu, memory, device resources)."""
    network_policies: list[NetworkPolicyArgs] = Field(default_factory=list)
    """NetworkPolicies for the default network."""
    multi_network_policies: list[MultiNetworkPolicyArgs] = Field(default_factory=list)
    """MultiNetworkPolicies for secondary networks (enforced by a multi-networkpolicy
    implementation such as multi-networkpolicy-iptables, which is not installed here)."""
    install_multi_network_policy_crd: bool = False
    """Install netplumb's minimal MultiNetworkPolicy CRD (where no implementation does)."""
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


# -- multi-homed workloads ----------------------------------------------------------------


class ContainerPort(PlatformModel):
    """A port the container listens on."""

    container_port: int = Field(alias="containerPort")
    """Port number."""
    name: str | None = None
    """Port name (referenced by Services and policies)."""
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    """L4 protocol."""

    @field_validator("container_port")
    @classmethod
    def _port(cls, v: int) -> int:
        return fc.int_range(v, 1, 65535, "port")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"containerPort": self.container_port}
        if self.name:
            out["name"] = self.name
        if self.protocol != "TCP":
            out["protocol"] = self.protocol
        return out


class WorkloadArgs(PlatformModel):
    """A Deployment, StatefulSet or DaemonSet whose pods get secondary networks."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    """Workload kind."""
    name: fc.Namespace | None = None
    """Workload name; in a program it defaults to the component's resource name."""
    namespace: fc.Namespace = "default"
    """Namespace of the workload (and the default namespace of its selections)."""
    replicas: int = 1
    """Pods of a Deployment/StatefulSet; for a DaemonSet the number of nodes it is expected
    to run on (used by the capacity check only)."""
    container_name: str = "main"
    """Name of the (single) container."""
    image: str
    """Container image."""
    command: list[str] = Field(default_factory=list)
    """Entrypoint override; empty uses the image's."""
    args: list[str] = Field(default_factory=list)
    """Arguments."""
    ports: list[ContainerPort] = Field(default_factory=list)
    """Ports the container listens on."""
    resources: Resources = Field(default_factory=Resources)
    """Container requests and limits; device resources of SR-IOV networks are added."""
    networks: list[NetworkSelection] = Field(default_factory=list)
    """Secondary attachments (the ``k8s.v1.cni.cncf.io/networks`` annotation)."""
    labels: Labels = Field(default_factory=dict)
    """Pod labels (the selector uses ``app: <name>``)."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Pod annotations."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on."""
    termination_grace_period_seconds: int = 30
    """Seconds to wait on delete."""



    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: int) -> int:
        if v < 0:
            raise FieldIssue("negative; expected replicas >= 0")
        return v

    @model_validator(mode="before")
    @classmethod
    def _no_foreign_selection_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for i, sel in enumerate(data.get("networks") or []):
                refuse_non_multus_keys(sel, at=("networks", i))
        return data

