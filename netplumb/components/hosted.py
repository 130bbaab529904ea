"""The components as other Pulumi languages see them, through Pulumi's component provider.

``provider/`` (a ``PulumiPlugin.yaml`` and a ``__main__.py`` calling
``pulumi.provider.experimental.component_provider_host``) hosts the classes below, so a
Pulumi YAML program can declare ``netplumb:index:MacvlanNetwork`` and
``netplumb:index:MultiHomedPod`` after ``pulumi package add <netplumb>/provider``.

Pulumi infers the package schema from these classes: the ``args`` annotation of
``__init__`` gives the inputs, the class's own annotations the outputs, the docstring after
each field its description. Its analyzer takes plain types only (no unions, no
``Literal``, no ``from __future__ import annotations``), and the provider hands the args
over as plain dicts; so the args here are plain ``TypedDict`` s, and each component
validates them into netplumb's own models first. Bad input raises
:class:`netplumb.PlanError` naming the field as the program spells it (``ipam.rangeStart``),
before anything registers: the preview fails and nothing is half-applied.

Each hosted component wraps the library component of the same name (which registers the
objects), so both register under the same type token.
"""

import re
import typing
from collections.abc import Mapping
from importlib import metadata
from typing import Any, NotRequired, TypedDict

import pulumi

from ..args import MacvlanNetworkArgs as MacvlanModel
from ..args import PodArgs
from ..errors import Finding, PlanError
from . import network as _network
from . import pod as _pod

PACKAGE = "netplumb"
"""The package name: resource types are ``netplumb:index:<Class>``."""


def _version() -> str:
    try:
        return metadata.version("netplumb")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0.0.0"


VERSION = _version()
"""The package version (netplumb's): what ``pulumi package add`` records."""


class IpamRoute(TypedDict):
    """A route the IPAM plugin adds in the pod."""

    dst: str
    """Destination network, e.g. ``0.0.0.0/0`` or ``203.0.113.0/24``."""
    gw: NotRequired[str]
    """Gateway address; unset: the network's gateway."""


class StaticAddress(TypedDict):
    """One address of a ``static`` IPAM."""

    address: str
    """Address with prefix length, e.g. ``192.0.2.10/24``."""
    gateway: NotRequired[str]
    """Gateway of this address's subnet."""


# duplicates: intended: the YAML provider's typed inputs, one TypedDict per input type, each field
# with its description (alike in shape to MultiHomedPodArgs below): declarations, no logic.
class Ipam(TypedDict):
    """Address management of the interface. ``type`` chooses the plugin; the other fields
    are those of that plugin (a field another type has is refused)."""

    type: str
    """``host-local``, ``static``, ``whereabouts`` or ``dhcp``."""
    subnet: NotRequired[str]
    """host-local: the subnet to allocate from, e.g. ``192.0.2.0/24``."""
    range_start: NotRequired[str]
    """host-local, whereabouts: first address handed out."""
    range_end: NotRequired[str]
    """host-local, whereabouts: last address handed out."""
    gateway: NotRequired[str]
    """host-local, whereabouts: the subnet's gateway."""
    range: NotRequired[str]
    """whereabouts: the cluster-wide pool, e.g. ``198.51.100.0/24``."""
    exclude: NotRequired[list[str]]
    """whereabouts: networks inside ``range`` that are never handed out."""
    addresses: NotRequired[list[StaticAddress]]
    """static: the addresses of the interface (or leave it out and give each pod ``ips``
    with ``capabilities: {ips: true}``)."""
    routes: NotRequired[list[IpamRoute]]
    """Routes to add in the pod."""


class MacvlanNetworkArgs(TypedDict):
    """Inputs of a macvlan NetworkAttachmentDefinition."""

    name: NotRequired[str]
    """NAD name; defaults to the resource's name."""
    namespace: NotRequired[str]
    """Namespace of the NAD (default ``default``)."""
    master: NotRequired[str]
    """Host interface the pods' interfaces hang off; defaults to the node's
    default-route interface."""
    mode: NotRequired[str]
    """``bridge`` (default), ``private``, ``vepa`` or ``passthru``."""
    mtu: NotRequired[int]
    """MTU; unset or 0 inherits the master's, and it must not exceed the master's."""
    ipam: NotRequired[Ipam]
    """Address management; leave it out for an interface without addresses."""
    capabilities: NotRequired[dict[str, bool]]
    """Runtime capabilities, e.g. ``{ips: true}`` for per-pod static addresses."""
    labels: NotRequired[dict[str, str]]
    """Labels of the NAD object."""
    annotations: NotRequired[dict[str, str]]
    """Annotations of the NAD object."""


class NetworkSelection(TypedDict):
    """One secondary network of a pod (an element of ``k8s.v1.cni.cncf.io/networks``)."""

    name: str
    """Name of the NetworkAttachmentDefinition (e.g. a MacvlanNetwork's ``nadName``)."""
    namespace: NotRequired[str]
    """Namespace of the NAD; defaults to the pod's."""
    interface: NotRequired[str]
    """Interface name in the pod (``net1``, ``net2``, … when unset)."""
    ips: NotRequired[list[str]]
    """Static addresses with prefix (the network needs ``capabilities: {ips: true}``)."""
    mac: NotRequired[str]
    """Static MAC (the network needs ``capabilities: {mac: true}``)."""
    default_route: NotRequired[list[str]]
    """Gateway(s) making this network the pod's default route."""


class MultiHomedPodArgs(TypedDict):
    """Inputs of a pod with secondary networks."""

    networks: list[NetworkSelection]
    """The secondary networks, in order."""
    name: NotRequired[str]
    """Pod name; defaults to the resource's name."""
    namespace: NotRequired[str]
    """Namespace of the pod (default ``default``)."""
    image: NotRequired[str]
    """Container image (default ``busybox:1.36``)."""
    command: NotRequired[list[str]]
    """Container command (default ``sleep infinity``)."""
    args: NotRequired[list[str]]
    """Container arguments."""
    labels: NotRequired[dict[str, str]]
    """Labels of the pod."""
    annotations: NotRequired[dict[str, str]]
    """Annotations of the pod (the networks annotation is netplumb's)."""
    node_selector: NotRequired[dict[str, str]]
    """Node labels the pod must be scheduled on."""
    termination_grace_period_seconds: NotRequired[int]
    """Seconds to wait on delete (default 0)."""


# --------------------------------------------------------------------------- validation

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)+")


def schema_name(key: str) -> str:
    """A key as the package schema (and so a YAML program) spells it: ``range_start`` and
    ``default-route`` → ``rangeStart``, ``defaultRoute``."""
    head, *rest = re.split(r"[_-]", key)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def schema_path(path: str) -> str:
    """A field path with every key in schema spelling (``ipam.range_start`` →
    ``ipam.rangeStart``; list indices and file names are kept)."""
    return _WORD.sub(lambda m: schema_name(m.group(0)), path)


def _plain(value: Any, hint: Any, where: str) -> Any:
    """``value`` (of type ``hint``) as netplumb's models take it.

    * Args are validated before anything registers, so they must be known values, not
      other resources' outputs (a YAML program names a network and orders with
      ``dependsOn``).
    * Numbers cross gRPC as floats, and the provider SDK (3.270) hands integer fields over
      unconverted: a whole float where the args say ``int`` becomes an int (the models are
      strict, as the plugins' Go decoders are).
    """
    if isinstance(value, pulumi.Output):
        raise PlanError.one(schema_path(where), "<output>", "must be a plain value, not "
                            "another resource's output (name the network, and order with "
                            "dependsOn)")
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint) and isinstance(value, Mapping):
        hints = typing.get_type_hints(hint)
        return {k: _plain(v, hints.get(k, Any), f"{where}.{k}" if where else k)
                for k, v in value.items()}
    if origin is list and isinstance(value, list):
        [item] = typing.get_args(hint)
        return [_plain(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict and isinstance(value, Mapping):
        item = typing.get_args(hint)[1]
        return {k: _plain(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _in_schema_terms(exc: PlanError) -> PlanError:
    return PlanError([Finding(schema_path(f.path), f.value, f.message, f.severity)
                      for f in exc.findings], context=exc.context)


def macvlan_args(args: Mapping[str, Any]) -> MacvlanModel:
    """The provider's MacvlanNetwork args as netplumb's model; :class:`PlanError` naming the
    field (in schema spelling) if they are invalid."""
    try:
        checked = MacvlanModel.parse(_plain(dict(args), MacvlanNetworkArgs, ""))
    except PlanError as exc:
        raise _in_schema_terms(exc) from None
    assert isinstance(checked, MacvlanModel)
    return checked


def pod_args(args: Mapping[str, Any]) -> PodArgs:
    """The provider's MultiHomedPod args as netplumb's model (see :func:`macvlan_args`)."""
    try:
        return PodArgs(**_plain(dict(args), MultiHomedPodArgs, ""))
    except PlanError as exc:
        raise _in_schema_terms(exc) from None


# --------------------------------------------------------------------------- components


class MacvlanNetwork(pulumi.ComponentResource):
    """A macvlan network: a NetworkAttachmentDefinition whose pods each get a sub-interface
    of ``master`` with its own MAC address. The args are checked before anything
    registers."""

    nad_name: pulumi.Output[str]
    """Name of the NetworkAttachmentDefinition (what pods select)."""
    namespace: pulumi.Output[str]
    """Namespace of the NetworkAttachmentDefinition."""
    config: pulumi.Output[str]
    """The CNI config the NAD carries (JSON)."""

    def __init__(self, name: str, args: MacvlanNetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        try:
            checked = macvlan_args(args)
        except PlanError as exc:  # the engine shows the traceback: keep it to this frame
            raise exc.with_traceback(None) from None
        super().__init__(f"{PACKAGE}:index:MacvlanNetwork", name, None, opts)
        net = _network.MacvlanNetwork(name, checked, pulumi.ResourceOptions(parent=self))
        self.nad_name = net.nad_name
        self.namespace = net.namespace
        self.config = net.config
        self.register_outputs({"nad_name": self.nad_name, "namespace": self.namespace,
                               "config": self.config})


class MultiHomedPod(pulumi.ComponentResource):
    """A pod whose ``k8s.v1.cni.cncf.io/networks`` annotation is built from checked
    selections."""

    pod_name: pulumi.Output[str]
    """Name of the pod."""
    namespace: pulumi.Output[str]
    """Namespace of the pod."""

    def __init__(self, name: str, args: MultiHomedPodArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        try:
            checked = pod_args(args)
        except PlanError as exc:
            raise exc.with_traceback(None) from None
        super().__init__(f"{PACKAGE}:index:MultiHomedPod", name, None, opts)
        pod = _pod.MultiHomedPod(name, checked, pulumi.ResourceOptions(parent=self))
        self.pod_name = pod.pod_name
        self.namespace = pulumi.Output.from_input(checked.namespace)
        self.register_outputs({"pod_name": self.pod_name, "namespace": self.namespace})


COMPONENTS: list[type[pulumi.ComponentResource]] = [MacvlanNetwork, MultiHomedPod]
"""What the component provider hosts."""
