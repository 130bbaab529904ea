"""CNI plugin configs: the interface plugins, the chained meta plugins, and a raw fallback.

Enums, ranges and defaults follow the plugins' own code (containernetworking/plugins
v1.9 and sriov-cni), which is what will run on the node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ..validation import FieldIssue, by_type, known_or_raw
from . import fields as fc
from .base import CniModel
from .ipam import Ipam


class Plugin(CniModel):
    """What every plugin config has: its ``type`` and optional ``capabilities``."""

    type: str
    """The plugin binary to run."""
    capabilities: dict[str, bool] | None = None
    """Runtime capabilities the plugin accepts (``ips``, ``mac``, ``portMappings``, …)."""

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if not v or v in (".", "..") or any(c in v for c in "/\\") or any(c.isspace() for c in v):
            raise FieldIssue("invalid plugin type; expected the plugin binary's name, e.g. "
                             "macvlan (no path separators or whitespace)")
        return v

    @field_validator("capabilities")
    @classmethod
    def _caps(cls, v: dict[str, bool] | None) -> dict[str, bool] | None:
        for key in v or {}:
            if not key:
                raise FieldIssue("empty capability name", subpath=(key,), value=key,
                                 has_value=True)
        return v

    def master_link(self) -> str | None:
        """The host link this plugin's interfaces hang off, if it has one."""
        return None


class _WithIpam(Plugin):
    ipam: Ipam | None = None
    """Address management for the interface; ``{}`` for an interface without addresses."""


# duplicates: intended: each plugin's model declares its own CNI fields and checks, as the
# plugin's code reads them; their declarations are alike in shape (BridgePlugin, VlanPlugin).
class MacvlanPlugin(_WithIpam):
    """macvlan: a sub-interface of ``master`` with its own MAC address."""

    type: Literal["macvlan"]
    """The plugin's binary name (fixed for this model)."""
    master: fc.IfName | None = None
    """Host interface to attach to; defaults to the node's default-route interface."""
    mode: Literal["bridge", "private", "vepa", "passthru"] | None = None
    """Forwarding mode; default ``bridge``."""
    mtu: fc.Mtu | None = None
    """MTU; 0 or unset inherits the master's. Must not exceed the master's MTU."""
    mac: fc.Mac | None = None
    """MAC address of the interface (a pod's selection can also set it, with
    ``capabilities.mac``)."""
    link_in_container: bool | None = Field(default=None, alias="linkInContainer")
    """``master`` lives in the pod's namespace rather than the host's."""
    bcqueuelen: int | None = None
    """Length of the macvlan broadcast/multicast queue (kernel default when unset)."""


    def master_link(self) -> str | None:
        return self.master


class IpvlanPlugin(_WithIpam):
    """ipvlan: a sub-interface of ``master`` sharing its MAC address."""

    type: Literal["ipvlan"]
    """The plugin's binary name (fixed for this model)."""
    master: fc.IfName | None = None
    """Host interface to attach to; defaults to the node's default-route interface."""
    mode: Literal["l2", "l3", "l3s"] | None = None
    """Mode; default ``l2``."""
    mtu: fc.Mtu | None = None
    """MTU; 0 or unset inherits the master's. Must not exceed the master's MTU."""
    link_in_container: bool | None = Field(default=None, alias="linkInContainer")
    """``master`` lives in the pod's namespace rather than the host's."""


    def master_link(self) -> str | None:
        return self.master


class VlanTrunk(CniModel):
    min_id: int | None = Field(default=None, alias="minID")
    """First VLAN id of a trunk range (1-4094)."""
    max_id: int | None = Field(default=None, alias="maxID")
    """Last VLAN id of a trunk range (1-4094)."""
    id: int | None = None
    """A single VLAN id carried by the trunk (1-4094)."""

    @model_validator(mode="after")
    def _check(self) -> VlanTrunk:
        for key, alias in (("min_id", "minID"), ("max_id", "maxID"), ("id", "id")):
            v = getattr(self, key)
            if v is not None and not 1 <= v <= 4094:
                raise FieldIssue("VLAN id out of range; expected 1-4094", subpath=(alias,),
                                 value=v, has_value=True)
        if self.min_id is not None and self.max_id is not None and self.min_id > self.max_id:
            raise FieldIssue("minID is above maxID; expected minID <= maxID", subpath=("minID",),
                             value=self.min_id, has_value=True)
        return self


class BridgePlugin(_WithIpam):
    """bridge: a veth pair from the pod to a Linux bridge on the host."""

    type: Literal["bridge"]
    """The plugin's binary name (fixed for this model)."""
    bridge: fc.IfName | None = None
    """Bridge name on the host; default ``cni0``."""
    is_gateway: bool | None = Field(default=None, alias="isGateway")
    """Give the bridge the gateway address."""
    is_default_gateway: bool | None = Field(default=None, alias="isDefaultGateway")
    """Also make it the pod's default route (implies isGateway)."""
    force_address: bool | None = Field(default=None, alias="forceAddress")
    """With ``isGateway``: replace an address the bridge already has instead of failing."""
    ip_masq: bool | None = Field(default=None, alias="ipMasq")
    """Masquerade traffic leaving the bridge's subnet."""
    ip_masq_backend: Literal["iptables", "nftables"] | None = Field(default=None,
                                                                     alias="ipMasqBackend")
    """Which tool installs the masquerade rules; default iptables."""
    mtu: fc.Mtu | None = None
    """MTU of the bridge and the pod's veth."""
    hairpin_mode: bool | None = Field(default=None, alias="hairpinMode")
    """Let traffic leave the pod's bridge port and come back through it (hairpin);
    not together with ``promiscMode``."""
    promisc_mode: bool | None = Field(default=None, alias="promiscMode")
    """Put the bridge in promiscuous mode."""
    vlan: int | None = None
    """Access VLAN of the pod's port, 0 for none (bridge accepts 0-4094)."""
    vlan_trunk: list[VlanTrunk] | None = Field(default=None, alias="vlanTrunk")
    """VLANs tagged on the pod's port (VLAN filtering on the bridge)."""
    preserve_default_vlan: bool | None = Field(default=None, alias="preserveDefaultVlan")
    """Keep the port in the bridge's default VLAN (1) besides ``vlan``."""
    macspoofchk: bool | None = None
    """Drop frames from the pod whose source MAC is not its interface's."""
    enabledad: bool | None = None
    """Run IPv6 duplicate address detection on the pod's interface."""
    disable_container_interface: bool | None = Field(default=None,
                                                     alias="disableContainerInterface")
    """Leave the pod's end of the veth down (no IPAM allowed then)."""
    port_isolation: bool | None = Field(default=None, alias="portIsolation")
    """Isolate the pod's bridge port: isolated ports cannot talk to each other, only to
    ports that are not isolated."""


    @field_validator("vlan")
    @classmethod
    def _vlan(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 0, 4094, "VLAN id")

    def master_link(self) -> str | None:
        return self.bridge or "cni0"


class HostDevicePlugin(_WithIpam):
    """host-device: moves an existing host link into the pod."""

    type: Literal["host-device"]
    """The plugin's binary name (fixed for this model)."""
    device: fc.IfName | None = None
    """Link name on the host."""
    hwaddr: fc.Mac | None = None
    """MAC address of the link."""
    kernelpath: str | None = None
    """Kernel device path, e.g. ``/sys/devices/pci0000:00/…/net/eth1``."""
    pci_bus_id: fc.PciAddress | None = Field(default=None, alias="pciBusID")
    """PCI address, e.g. ``0000:3b:00.1``."""

    SELECTORS: ClassVar[tuple[str, ...]] = ("device", "hwaddr", "kernelpath", "pciBusID")


    @model_validator(mode="after")
    def _one_selector(self) -> HostDevicePlugin:
        given = [k for k in self.SELECTORS if self.to_dict().get(k) not in (None, "")]
        if len(given) != 1:
            shown = {k: self.to_dict().get(k) for k in given}
            raise FieldIssue(
                "host-device needs exactly one of device, hwaddr, kernelpath, pciBusID; got "
                + (", ".join(given) if given else "none")
                + (" (the plugin would silently use only the first)" if len(given) > 1 else ""),
                subpath=(given[1] if len(given) > 1 else "device",), value=shown or None,
                has_value=True)
        return self

    def master_link(self) -> str | None:
        return self.device


class SriovPlugin(_WithIpam):
    """sriov: a virtual function of an SR-IOV NIC, usually picked by the device plugin."""

    type: Literal["sriov"]
    """The plugin's binary name (fixed for this model)."""
    device_id: fc.PciAddress | None = Field(default=None, alias="deviceID")
    """PCI address of the VF; normally filled in by Multus from the device plugin."""
    vlan: int | None = None
    """VLAN on the VF, 0-4095 (0 disables tagging)."""
    vlan_qos: int | None = Field(default=None, alias="vlanQoS")
    """802.1p priority, 0-7."""
    vlan_proto: Literal["802.1q", "802.1Q", "802.1ad", "802.1AD"] | None = Field(
        default=None, alias="vlanProto")
    """VLAN protocol of ``vlan`` (802.1ad: QinQ); needs a non-zero ``vlan``."""
    spoofchk: Literal["on", "off"] | None = None
    """MAC spoof checking on the VF."""
    trust: Literal["on", "off"] | None = None
    """Trusted VF: may change its MAC, enter promiscuous or all-multicast mode."""
    link_state: Literal["auto", "enable", "disable"] | None = None
    """VF link state: follow the PF (``auto``), always up, or always down."""
    min_tx_rate: int | None = None
    """Mbps, 0 for no limit."""
    max_tx_rate: int | None = None
    """Mbps, 0 for no limit."""
    mac: fc.Mac | None = None
    """MAC address of the VF."""

    @field_validator("vlan")
    @classmethod
    def _vlan(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 0, 4095, "VLAN id")

    @field_validator("vlan_qos")
    @classmethod
    def _qos(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 0, 7, "vlanQoS")

    @field_validator("min_tx_rate", "max_tx_rate")
    @classmethod
    def _rate(cls, v: int | None) -> int | None:
        return fc.at_least(v, 0, "negative rate; expected Mbps >= 0")

    @model_validator(mode="after")
    def _rates(self) -> SriovPlugin:
        lo, hi = self.min_tx_rate, self.max_tx_rate
        if lo and hi and lo > hi:
            raise FieldIssue("min_tx_rate above max_tx_rate; expected min <= max",
                             subpath=("min_tx_rate",), value=lo, has_value=True)
        proto = self.vlan_proto
        if proto is not None and proto.lower() != "802.1q" and not self.vlan:
            raise FieldIssue("vlanProto other than 802.1q needs a non-zero vlan (sriov-cni)",
                             subpath=("vlanProto",), value=proto, has_value=True)
        if self.vlan_qos and not self.vlan:
            raise FieldIssue("vlanQoS needs a non-zero vlan", subpath=("vlanQoS",),
                             value=self.vlan_qos, has_value=True)
        return self


# duplicates: intended: declared alike in shape to BridgePlugin, fields of another plugin (see
# the note above MacvlanPlugin).
class VlanPlugin(_WithIpam):
    """vlan: an 802.1q sub-interface of ``master``."""

    type: Literal["vlan"]
    """The plugin's binary name (fixed for this model)."""
    master: fc.IfName | None = None
    """Host interface the VLAN sub-interface is created on."""
    vlan_id: int | None = Field(default=None, alias="vlanId")
    """VLAN id; the plugin accepts 0-4094."""
    mtu: fc.Mtu | None = None
    """MTU; 0 or unset inherits the master's. Must not exceed the master's MTU."""
    link_in_container: bool | None = Field(default=None, alias="linkInContainer")
    """``master`` lives in the pod's namespace rather than the host's."""


    @field_validator("vlan_id")
    @classmethod
    def _vid(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 0, 4094, "VLAN id")

    def master_link(self) -> str | None:
        return self.master


class TuningPlugin(Plugin):
    """tuning (chained): sysctls, MAC, MTU, promiscuous mode of the pod's interface."""

    type: Literal["tuning"]
    """The plugin's binary name (fixed for this model)."""
    mtu: fc.Mtu | None = None
    """MTU to set on the interface."""
    mac: fc.Mac | None = None
    """MAC address to set on the interface."""
    promisc: bool | None = None
    """Promiscuous mode of the interface."""
    allmulti: bool | None = None
    """All-multicast mode of the interface."""
    sysctl: dict[str, str] | None = None
    """Interface sysctls, e.g. ``{"net.ipv4.conf.IFNAME.arp_filter": "1"}``."""
    tx_q_len: int | None = Field(default=None, alias="txQLen")
    """Transmit queue length of the interface."""
    data_dir: str | None = Field(default=None, alias="dataDir")
    """Where the interface's previous settings are kept for DEL to restore; default
    ``/run/cni/tuning``."""


    @field_validator("tx_q_len")
    @classmethod
    def _txq(cls, v: int | None) -> int | None:
        return fc.at_least(v, 0, "negative queue length; expected >= 0")


class PortmapPlugin(Plugin):
    """portmap (chained): host port forwarding, driven by ``capabilities.portMappings``."""

    type: Literal["portmap"]
    """The plugin's binary name (fixed for this model)."""
    snat: bool | None = None
    """Masquerade hairpin and localhost traffic to mapped ports; default true."""
    mark_masq_bit: int | None = Field(default=None, alias="markMasqBit")
    """Mark bit (0-31) that asks for masquerading; default 13. Not together with
    ``externalSetMarkChain``."""
    external_set_mark_chain: str | None = Field(default=None, alias="externalSetMarkChain")
    """An existing iptables chain that marks packets for masquerading (e.g.
    ``KUBE-MARK-MASQ``), used instead of ``markMasqBit``."""
    conditions_v4: list[str] | None = Field(default=None, alias="conditionsV4")
    """Extra match arguments every IPv4 port-mapping rule carries."""
    conditions_v6: list[str] | None = Field(default=None, alias="conditionsV6")
    """Extra match arguments every IPv6 port-mapping rule carries."""
    masq_all: bool | None = Field(default=None, alias="masqAll")
    """Masquerade all traffic to mapped ports, not only hairpin and localhost traffic."""
    backend: Literal["iptables", "nftables"] | None = None
    """Which tool installs the rules; default iptables."""

    @field_validator("mark_masq_bit")
    @classmethod
    def _bit(cls, v: int | None) -> int | None:
        return None if v is None else fc.int_range(v, 0, 31, "markMasqBit")


class BandwidthPlugin(Plugin):
    """bandwidth (chained): token-bucket shaping in bits per second."""

    type: Literal["bandwidth"]
    """The plugin's binary name (fixed for this model)."""
    ingress_rate: int | None = Field(default=None, alias="ingressRate")
    """Rate of traffic to the pod, in bits per second (with ``ingressBurst``)."""
    ingress_burst: int | None = Field(default=None, alias="ingressBurst")
    """Burst of traffic to the pod, in bits."""
    egress_rate: int | None = Field(default=None, alias="egressRate")
    """Rate of traffic from the pod, in bits per second (with ``egressBurst``)."""
    egress_burst: int | None = Field(default=None, alias="egressBurst")
    """Burst of traffic from the pod, in bits."""

    @field_validator("ingress_rate", "ingress_burst", "egress_rate", "egress_burst")
    @classmethod
    def _nonneg(cls, v: int | None) -> int | None:
        return fc.at_least(v, 0, "negative; expected bits (per second) >= 0")

    @model_validator(mode="after")
    def _pairs(self) -> BandwidthPlugin:
        for way in ("ingress", "egress"):
            rate, burst = getattr(self, f"{way}_rate"), getattr(self, f"{way}_burst")
            if bool(rate) != bool(burst):
                missing = f"{way}Burst" if rate else f"{way}Rate"
                raise FieldIssue(f"{way}Rate and {way}Burst go together; {missing} is missing",
                                 subpath=(missing,), value=None, has_value=True)
        return self


class SbrPlugin(Plugin):
    """sbr (chained): source-based routing, one table per interface."""

    type: Literal["sbr"]
    """The plugin's binary name (fixed for this model)."""
    table: int | None = None
    """First routing table id to use."""


class RawPlugin(Plugin):
    """A plugin type netplumb does not model: every field is kept as given."""

    open_schema: ClassVar[bool] = True

    @field_validator("type")
    @classmethod
    def _near_miss(cls, v: str) -> str:
        return fc.not_a_near_miss(v, PLUGIN_TYPES, "plugin")


KNOWN_PLUGINS: dict[str, type[Plugin]] = by_type(
    MacvlanPlugin, IpvlanPlugin, BridgePlugin, HostDevicePlugin, SriovPlugin, VlanPlugin,
    TuningPlugin, PortmapPlugin, BandwidthPlugin, SbrPlugin)
"""The plugins netplumb models, by type: validated by their own rules."""


PLUGIN_TYPES: frozenset[str] = frozenset({
    *KNOWN_PLUGINS,
    # the rest of containernetworking/plugins v1.9 (main, meta, windows)
    "dummy", "loopback", "ptp", "tap", "firewall", "vrf", "win-bridge", "win-overlay",
    # what the platform installs
    "flannel", "multus", "multus-shim",
})
"""Plugin types netplumb knows to exist; a type one typo away from one is refused."""


if TYPE_CHECKING:
    AnyPlugin = Plugin
else:
    AnyPlugin = known_or_raw(KNOWN_PLUGINS, RawPlugin)
"""Any plugin config: the known types validated, any other kept raw."""
