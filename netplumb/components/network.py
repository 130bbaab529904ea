"""NetworkAttachmentDefinition components, one per kind, plus the NAD CRD."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

import pulumi

from ..args.nad import (
    BridgeNetworkArgs,
    CniNetworkArgs,
    HostDeviceNetworkArgs,
    IpvlanNetworkArgs,
    MacvlanNetworkArgs,
    NadFields,
    SriovNetworkArgs,
    VlanNetworkArgs,
)
from ..checks.addresses import check_network_addresses
from ..cni.selection import NetworkSelection
from ..errors import raise_on_errors
from ..plan import Install, declare_nad_crd
from ..planned import PlannedNetwork
from ..render.nad import nad
from .objects import children, register_object
from .shared import SharedInstall

# duplicates: intended: the NAD kinds' args imported above, as args/__init__.py imports them to
# export them: an import list.

A = TypeVar("A", bound=NadFields)


def register_nad(name: str, planned: PlannedNetwork, args: NadFields,
                 opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register one planned network's NetworkAttachmentDefinition."""
    manifest = nad(planned.name, planned.namespace, planned.config,
                   resource_name=args.resource_name, labels=args.labels,
                   annotations=args.annotations)
    return register_object(name, manifest, opts)


class NadCrd(SharedInstall[None], declare=lambda _, name: declare_nad_crd(name)):
    """The ``network-attachment-definitions.k8s.cni.cncf.io`` CRD (netplumb's own schema)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None, *,
                 declared: Install[None] | None = None) -> None:
        super().__init__(name, None, opts, declared=declared)

    def _handles(self) -> None:
        self.crd = self.resources["crd"]


class NetworkAttachment(pulumi.ComponentResource, Generic[A]):
    """A NetworkAttachmentDefinition built from typed args.

    Args are validated (unknown keys refused) and the CNI config built *before* anything
    registers, so bad input raises :class:`netplumb.PlanError` and nothing is half-applied.

    Outputs: ``nad_name``, ``namespace``, ``config`` (the rendered CNI JSON).
    """

    TYPE: ClassVar[str] = "netplumb:index:NetworkAttachment"
    """Pulumi type token: ``netplumb:index:<class name>``."""

    _by_args: ClassVar[dict[type[NadFields], type[NetworkAttachment[Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each kind's component is registered by the args class it is generic over, which
        # is how component_for finds it: one source, the class statement.
        super().__init_subclass__(**kwargs)
        cls.TYPE = f"netplumb:index:{cls.__name__}"
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is NetworkAttachment:
                (args_cls,) = get_args(base)
                NetworkAttachment._by_args[args_cls] = cls

    nad_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    config: pulumi.Output[str]

    def __init__(self, name: str, args: A, opts: pulumi.ResourceOptions | None = None) -> None:
        checked = args.checked()
        config = checked.cni_config(name)
        nad_name = checked.nad_name(name)
        planned = PlannedNetwork(
            nad_name, checked.namespace, config, where=name,
            given_as="config" if isinstance(checked, CniNetworkArgs) else "args")
        raise_on_errors(check_network_addresses(planned), context=f"network {name}")
        super().__init__(self.TYPE, name, None, opts)
        self.args = checked
        self.planned = planned
        self.nad = register_nad(f"{name}-nad", self.planned, checked, children(self))
        self.nad_name = pulumi.Output.from_input(nad_name)
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.config = pulumi.Output.from_input(config.to_json())
        self.register_outputs({"nad_name": self.nad_name, "namespace": self.namespace,
                               "config": self.config})

    def selection(self, interface: str | None = None, *, ips: list[str] | None = None,
                  mac: str | None = None, default_route: list[str] | None = None,
                  namespace: str | None = None) -> NetworkSelection:
        """The pod-side selection element for this network."""
        data: dict[str, Any] = {"name": self.planned.name,
                                "namespace": namespace or self.planned.namespace}
        for key, value in (("interface", interface), ("ips", ips), ("mac", mac),
                           ("default-route", default_route)):
            if value is not None:
                data[key] = value
        return NetworkSelection.parse(data)


class MacvlanNetwork(NetworkAttachment[MacvlanNetworkArgs]):
    """A macvlan NAD (``master``, ``mode``, ``mtu``, IPAM)."""


class IpvlanNetwork(NetworkAttachment[IpvlanNetworkArgs]):
    """An ipvlan NAD (``master``, ``mode`` l2|l3|l3s, IPAM)."""


class BridgeNetwork(NetworkAttachment[BridgeNetworkArgs]):
    """A bridge NAD (``bridge``, gateway and masquerade options, VLAN, IPAM)."""


class HostDeviceNetwork(NetworkAttachment[HostDeviceNetworkArgs]):
    """A host-device NAD (exactly one of device, hwaddr, kernelpath, pciBusID)."""


class SriovNetwork(NetworkAttachment[SriovNetworkArgs]):
    """An SR-IOV NAD; ``resource_name`` ties it to a device-plugin pool."""


class VlanNetwork(NetworkAttachment[VlanNetworkArgs]):
    """A vlan NAD (``master``, ``vlan_id``, IPAM)."""


class CniNetwork(NetworkAttachment[CniNetworkArgs]):
    """A NAD carrying any CNI config, kept exactly as given (imports, unmodelled plugins)."""


def component_for(args: NadFields) -> type[NetworkAttachment[Any]]:
    """The component of ``args``' kind (``MacvlanNetwork`` for ``MacvlanNetworkArgs``)."""
    return NetworkAttachment._by_args[type(args)]
