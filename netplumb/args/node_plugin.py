"""Typed arguments of :class:`~netplumb.components.NodePlugin`: netplumb's node plugin on every
node (``node/``: the pinned CNI plugins installed with the measuring shim in front of each,
the CNI dhcp daemon, and the metrics daemon)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from .. import hostpaths as host
from ..cni import fields as fc
from ..cni.config import CniVersion
from ..spelling import nearest
from ..validation import FieldIssue, each, once_each
from .base import InputModel
from .fields import Labels, Port, abs_path, dir_path
from .images import NETPLUMB_NODE_IMAGE, PinnedImage
from .placement import Toleration, tolerate_all
from .resources import ContainerResources

NODE_PLUGINS = ("bandwidth", "bridge", "dhcp", "host-device", "host-local", "ipvlan",
                "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan",
                "whereabouts")
"""The CNI plugins the node plugin image ships (containernetworking/plugins v1.9.1 and
whereabouts v0.9.2; ``node/README.md``, "Image layout")."""
METRICS_PORT = 9561
"""``netplumb-node metrics``' default port."""

_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def go_duration(value: str) -> str:
    """A Go ``time.ParseDuration`` string such as ``30s`` or ``1m30s`` (what the node plugin's
    flags take)."""
    return fc.matching(_GO_DURATION, value, "not a Go duration; expected e.g. 10s, 1m30s or 500ms")


GoDuration = Annotated[str, AfterValidator(go_duration)]

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}


def go_seconds(value: str) -> float:
    """The length of a :func:`go_duration` string, in seconds."""
    return sum(float(n) * _UNIT_SECONDS[u]
               for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(ns|us|µs|ms|s|m|h)", value))


def _known_plugin(name: str) -> str:
    if name not in NODE_PLUGINS:
        hint = nearest(name, NODE_PLUGINS)
        near = f"did you mean {hint!r}? " if hint else ""
        raise FieldIssue(f"the node plugin image has no plugin {name!r}; {near}expected one "
                         f"of {', '.join(NODE_PLUGINS)}")
    return name


def _other_data_dir(path: str) -> str:
    """A host-local dataDir besides the one always read, without a trailing ``/``."""
    canonical = dir_path(path)
    if canonical == "/":
        raise FieldIssue("the host's root directory; expected the directory host-local "
                         "keeps one subdirectory per network in (its dataDir)")
    if canonical == host.HOST_LOCAL_DIR:
        raise FieldIssue(f"{host.HOST_LOCAL_DIR} is always read; list only other dataDirs")
    return canonical


def _nested(a: str, b: str) -> bool:
    """The same directory, or one inside the other."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


class DhcpDaemonArgs(InputModel):
    """The CNI dhcp daemon (``netplumb-node dhcp``), which dhcp-IPAM networks need on every
    node: it runs the DHCP clients inside the pods' network namespaces."""

    broadcast: bool = False
    """Ask DHCP servers to broadcast their replies (``-broadcast``), for servers or relays
    that cannot unicast to an address the client does not have yet."""
    timeout: GoDuration | None = None
    """Per-request client timeout (``-timeout``, a Go duration); unset keeps the daemon's
    10s."""
    resend_max: GoDuration | None = None
    """Longest wait between resends (``-resendmax``); unset keeps the daemon's 62s."""
    resend_timeout: GoDuration | None = None
    """Stop resending after this long (``-resendtimeout``); unset keeps the daemon's 208s."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "10m", "memory": "20Mi"}, limits={"memory": "100Mi"}))
    """The daemon container's resources: one goroutine per leased interface."""


class MultusGuardArgs(InputModel):
    """The Multus guard: a CNI config the node plugin keeps in the host's CNI config dir that
    stops pod sandboxes from being created while the Multus thick daemon is down, where they
    would otherwise come up on the cluster network alone (``docs/node-plugin.md``, "Fail
    closed"). ``MultusInstall`` sets it from its own ``fail_closed``, ``cni_version`` and
    socket dir; set it here only for a node plugin placed beside a Multus thick installed
    otherwise, with the same values as that Multus."""

    cni_version: CniVersion = "0.3.1"
    """cniVersion of the guard: the same as Multus' generated ``00-multus.conf``, so the
    runtime treats both alike."""
    socket_dir: str = host.MULTUS_SOCKET_DIR
    """The host directory of the Multus daemon's socket (``multus.sock``), where the
    ``multus-shim`` named by the guard looks for it (its ``daemonSocketDir``)."""
    interval: str = "10s"
    """How often the ``multus-guard`` container checks the guard and puts it back if it went
    missing (a Go duration)."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "5m", "memory": "10Mi"}, limits={"memory": "50Mi"}))
    """The ``multus-guard`` container's resources: a small static binary that reads one
    file every ``interval`` and asks the API server one question when it stops."""

    @field_validator("socket_dir")
    @classmethod
    def _socket_dir(cls, v: str) -> str:
        return abs_path(v)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        return go_duration(v)


class ReconcileArgs(InputModel):
    """What the node plugin frees on its own, in its ``metrics`` container: host-local
    reservations (every network's on the node, the cluster network's included) whose sandbox
    the container runtime no longer reports ready, and Multus cache entries of sandboxes it
    no longer has at all. host-local has no reconciler, and a CNI DEL that never reached its
    plugins (Multus down while a pod was deleted) leaves both behind. Each pass asks the
    runtime over its CRI socket first and frees nothing when that fails or the runtime
    reports no sandbox; what it frees is logged and counted in
    ``netplumb_node_reconcile_freed_total``. whereabouts has its own reconciler."""

    cri_socket: Annotated[str, AfterValidator(abs_path)] = "/run/containerd/containerd.sock"
    """The runtime's CRI socket on the nodes (containerd's; CRI-O's is
    ``/var/run/crio/crio.sock``)."""
    interval: GoDuration = "1m"
    """How often to reconcile (a Go duration)."""
    grace: GoDuration = "5m"
    """Never free what is younger (a Go duration, at least 10s): a sandbox's CNI ADD holds
    its reservations before the runtime reports it ready."""
    multus_cache: bool = True
    """Also remove Multus' cache entries (``/var/lib/cni/multus``) of sandboxes the runtime
    no longer has."""

    @field_validator("grace")
    @classmethod
    def _grace(cls, v: str) -> str:
        if go_seconds(v) < 10:
            raise FieldIssue("at least 10s: a sandbox's CNI ADD holds its reservations "
                             "before the runtime reports it ready")
        return v


class NodePluginArgs(InputModel):
    """netplumb's node plugin on every node: an init container installs the pinned CNI
    plugins into the host's CNI bin dir (each behind the measuring shim), a ``dhcp``
    container runs the CNI dhcp daemon and a ``metrics`` container serves Prometheus metrics
    of every CNI operation on the node."""

    namespace: fc.Namespace = "kube-system"
    """Namespace of the DaemonSet, its ServiceAccount and (with MonitoringStack) its metrics
    Service. Under ``multus:`` it defaults to Multus' namespace."""
    image: PinnedImage = NETPLUMB_NODE_IMAGE
    """The node plugin image (pinned; its tag is netplumb's version)."""
    plugins: list[str] = Field(default_factory=list)
    """Plugins to install, by name (default: every plugin the image ships: bandwidth,
    bridge, dhcp, host-device, host-local, ipvlan, loopback, macvlan, portmap, ptp, sbr,
    static, tuning, vlan, whereabouts)."""
    shim: bool = True
    """Put the measuring shim in front of each plugin. Without it the plugins are installed
    plain and the metrics show IPAM pools only, no operations."""
    force: bool = False
    """Replace plugin binaries in the CNI bin dir that the node plugin did not install
    (``--force``), e.g. the distribution's CNI plugins package. Without it such binaries are
    left alone and reported in the install container's log, and operations through them are
    not measured."""
    run_dhcp_daemon: bool = True
    """Run the dhcp daemon (the ``dhcp`` container); without it dhcp IPAM fails on every
    node."""
    dhcp: DhcpDaemonArgs = Field(default_factory=DhcpDaemonArgs)
    """The dhcp daemon's options (with ``run_dhcp_daemon``)."""
    metrics: bool = True
    """Run the metrics daemon (the ``metrics`` container)."""
    metrics_port: Port = METRICS_PORT
    """Port of ``/metrics`` and ``/healthz`` on every node (the pods use the host network:
    the plugins they install are what the pod network itself needs)."""
    kube_interval: GoDuration = "30s"
    """How often the metrics daemon lists NADs and whereabouts IPPools (a Go duration)."""
    metrics_resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "10m", "memory": "30Mi"}, limits={"memory": "128Mi"}))
    """The metrics container's resources."""
    host_local_dirs: list[Annotated[str, AfterValidator(abs_path)]] = Field(
        default_factory=list)
    """host-local ``dataDir``s on the nodes besides ``/var/lib/cni/networks`` (always read):
    the metrics daemon measures the pools kept there, ``netplumb doctor`` reads their
    reservations and the reconcile frees their leaks. Each is mounted at its own path in the
    ``metrics`` container (read-write with ``reconcile``). A network of the stack whose
    host-local ``dataDir`` is not listed gets a plan warning."""
    reconcile: ReconcileArgs | None = Field(default_factory=ReconcileArgs)
    """Free host-local reservations and Multus cache entries no sandbox holds (in the
    ``metrics`` container; ``ReconcileArgs``). ``null``: free nothing (``netplumb doctor``
    still names such reservations)."""
    tolerations: list[Toleration] = Field(default_factory=tolerate_all)
    """The plugins must be on every node pods run on; by default it tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps the node plugin from being evicted: the dhcp daemon serves every dhcp-IPAM
    pod on the node."""
    multus_guard: MultusGuardArgs | None = None
    """Keep the Multus guard on every node (a ``multus-guard`` container; ``MultusGuardArgs``).
    Under ``multus:`` it is set from ``multus.fail_closed`` (on by default with Multus thick)
    and may not be given here."""

    @field_validator("plugins")
    @classmethod
    def _plugins(cls, v: list[str]) -> list[str]:
        return once_each(each(v, _known_plugin))

    @field_validator("host_local_dirs")
    @classmethod
    def _host_local_dirs(cls, v: list[str]) -> list[str]:
        return once_each(v, _other_data_dir)

    @model_validator(mode="after")
    def _check(self) -> NodePluginArgs:
        if self.run_dhcp_daemon and self.plugins and "dhcp" not in self.plugins:
            raise FieldIssue("the dhcp daemon serves the dhcp plugin, which plugins leaves "
                             "out; expected dhcp among plugins or run_dhcp_daemon: false",
                             subpath=("plugins",), value=self.plugins, has_value=True)
        if not self.metrics and self.reconcile is not None and "reconcile" in self.model_fields_set:
            raise FieldIssue("reconcile runs in the metrics container, which metrics: false "
                             "leaves out; expected metrics: true or reconcile: null",
                             subpath=("reconcile",), value=None, has_value=True)
        if not self.metrics and self.host_local_dirs:
            raise FieldIssue("host-local dirs are read by the metrics container, which "
                             "metrics: false leaves out; expected metrics: true or no "
                             "host_local_dirs", subpath=("host_local_dirs",),
                             value=self.host_local_dirs, has_value=True)
        mounted = self._metrics_mounts()
        for i, path in enumerate(self.host_local_dirs):
            for other, what in [*mounted, *((d, f"host_local_dirs[{j}]")
                                            for j, d in enumerate(self.host_local_dirs[:i]))]:
                if _nested(path, other):
                    raise FieldIssue(
                        f"overlaps {other} ({what}), which the metrics container mounts too; "
                        "expected a directory of its own, neither inside nor around it",
                        subpath=("host_local_dirs", i), value=path, has_value=True)
        if not self.run_dhcp_daemon and "dhcp" in self.model_fields_set:
            raise FieldIssue("dhcp daemon options given but run_dhcp_daemon is false",
                             subpath=("dhcp",), value=None, has_value=True)
        return self

    def _metrics_mounts(self) -> list[tuple[str, str]]:
        """The metrics container's other host directories, each with what it is."""
        out = [(host.HOST_LOCAL_DIR, "host-local's default dataDir"),
               (host.NETPLUMB_STATE_DIR, "the shim's state")]
        if self.reconcile is not None:
            out.append((str(PurePosixPath(self.reconcile.cri_socket).parent),
                        "the runtime's socket directory"))
            if self.reconcile.multus_cache:
                out.append((host.MULTUS_STATE_DIR, "Multus' cache"))
        return out

    @property
    def installed_plugins(self) -> tuple[str, ...]:
        """The plugins this install places (all the image ships unless ``plugins`` says)."""
        return tuple(self.plugins) if self.plugins else NODE_PLUGINS

    @property
    def read_host_local_dirs(self) -> tuple[str, ...]:
        """Every host-local dataDir the metrics daemon reads (none without it)."""
        return (host.HOST_LOCAL_DIR, *self.host_local_dirs) if self.metrics else ()
