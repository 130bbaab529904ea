"""Typed arguments of :class:`~netplumb.components.MultusInstall`: Multus on every node,
its daemon's options, metrics and ServiceMonitor.

Defaults follow Multus v4.3.0, except where upstream's quickstart value is a known trap;
each such default says why in its docstring.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..cni.config import CniVersion
from ..hostpaths import FLANNEL_SUBNET_ENV
from ..hostpaths import MULTUS_SOCKET_DIR as HOST_MULTUS_SOCKET_DIR
from ..validation import FieldIssue, each
from .base import InputModel
from .fields import Labels, Port, PrometheusDuration, abs_path
from .flannel import FlannelArgs
from .images import MULTUS_THICK_IMAGE, MULTUS_THIN_IMAGE, PinnedImage
from .node_plugin import MultusGuardArgs, NodePluginArgs
from .placement import Toleration, tolerate_all
from .resources import ContainerResources

CONNECTION_LIMIT = 16
"""The thick daemon's default connection limit (see ``MultusInstallArgs.connection_limit``)."""

MultusLogLevel = Literal["panic", "error", "verbose", "debug"]
"""The levels Multus' logging code knows; any other word is ignored with a message on stderr
(``warning`` and ``info`` do not exist in Multus)."""


class ServiceMonitorArgs(InputModel):
    """A Prometheus-operator ServiceMonitor scraping the Multus daemon's metrics."""

    namespace: fc.Namespace = "monitoring"
    """Namespace of the ServiceMonitor (where Prometheus looks for them)."""
    interval: PrometheusDuration = "30s"
    """Scrape interval (Prometheus duration)."""
    labels: Labels = Field(default_factory=dict)
    """Labels Prometheus' ``serviceMonitorSelector`` matches on."""
    install_crd: bool = False
    """Install netplumb's minimal ServiceMonitor CRD (only where the Prometheus operator is
    absent, e.g. a test cluster)."""
    create_namespace: bool = False
    """Create ``namespace`` (normally the monitoring stack's install created it)."""



class MultusInstallArgs(InputModel):
    """Multus on every node, with (by default) Flannel as the default network."""

    mode: Literal["thick", "thin"] = "thick"
    """``thick``: a daemon per node does the work, the host binary is a shim (upstream's
    recommendation). ``thin``: the ``multus`` binary runs on the host for each pod."""
    namespace: fc.Namespace = "kube-system"
    """Namespace of the Multus objects."""
    default_network: Literal["auto", "flannel", "none"] = "auto"
    """``auto``: look at the cluster at preview and use the default network it runs
    (Calico, Cilium, Flannel, … by their DaemonSets: :mod:`netplumb.primary`), installing
    Flannel only where none runs; a preview that cannot read the cluster stops with a plan
    error (offline, ``netplumb check`` and ``render`` assume a cluster without one).
    ``flannel``: install Flannel. ``none``: the cluster already has a default network."""
    flannel: FlannelArgs = Field(default_factory=FlannelArgs)
    """Flannel's options (where this install brings Flannel)."""
    install_nad_crd: bool = True
    """Create the NetworkAttachmentDefinition CRD."""
    image: PinnedImage | None = None
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
    metrics_port: Port | None = None
    """Port of the daemon's Prometheus endpoint (thick only); also creates a Service."""
    service_monitor: ServiceMonitorArgs | None = None
    """A ServiceMonitor for the metrics (needs ``metrics_port``)."""
    resources: ContainerResources = Field(default_factory=lambda: ContainerResources(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "500Mi"}))
    """Multus container resources. Upstream's quickstart caps memory at 50Mi, and the thick
    daemon is OOM-killed at that limit when many pods start at once (multus-cni #1346,
    #1349, #1416): the delegates it runs for each request run in its container. Chosen from
    bursts measured on the embedded cluster (tests/e2e/test_burst.py, 2 cores, pods with a
    host-local and a whereabouts network each): with the default ``connection_limit`` of
    16, the container's peak was 185 MiB for 104 pods at once and for their node's restart
    (168 MiB, 184 MiB; 162 and 135 MiB for 58 pods), the daemon's own resident memory about
    50 MiB; without a limit, 500Mi was not enough. The limit of 500Mi keeps 2.7 times that
    peak for heavier delegates; the request, 128Mi, covers the daemon with a few requests in
    flight, what a node runs between bursts. No CPU limit: throttling a CNI daemon stalls
    every pod start on the node."""
    tolerations: list[Toleration] = Field(default_factory=tolerate_all)
    """Multus must run wherever pods run; by default it tolerates every taint."""
    node_selector: Labels = Field(default_factory=dict)
    """Nodes to run Multus on (default: all)."""
    priority_class_name: str | None = "system-node-critical"
    """Keeps Multus from being evicted: without it no pod on the node gets a network."""
    termination_grace_period_seconds: int = 30
    """Seconds the daemon gets to finish requests on shutdown."""
    connection_limit: int | None = CONNECTION_LIMIT
    """The thick daemon's ``connectionLimit`` (Multus v4.3.0): at most this many connections
    to its socket are served at once. The daemon wraps its listener in Go's
    ``netutil.LimitListener``, which stops accepting while the limit is reached: a shim
    beyond it waits in the socket's accept queue until a connection closes, it is not
    refused (unless that queue, the kernel's ``somaxconn`` long, is full). The daemon turns
    HTTP keep-alive off, so a connection carries one request: a shim's short readiness
    probe, then its CNI request, held for the whole ADD or DEL (delegates and API calls).
    The delegates the daemon runs for a request (each plugin behind its shim, and its IPAM
    plugin) run in the daemon's container and count against its memory limit, so the limit
    bounds the daemon's peak memory in a burst. Measured on the embedded cluster (2 cores,
    tests/e2e/test_burst.py: 104 pods with two secondary networks each, host-local and
    whereabouts, created at once on one node): with no limit (upstream's default) the
    container passed its 500Mi limit and was OOM-killed, and the last pod attached after
    347 s; with 16 its peak was 185 MiB and the last pod attached after 52 s. Hence 16 by
    default. ``null``: no limit (a plan warning). The kubelet gives a sandbox 4 minutes
    (twice its runtime request timeout), so a limit so low that the last ADD of a node's
    ``node_max_pods`` would wait past that is a plan warning too
    (:mod:`netplumb.checks.multus`). Thick only."""
    node_max_pods: int = 110
    """The most pods one of Multus' nodes runs (the kubelet's ``maxPods``, 110 unless the
    kubelets are configured otherwise). The plan checks ``connection_limit`` against it:
    after a node restart every one of these pods asks for its sandbox at once."""
    install_node_plugin: bool = True
    """Place netplumb's node plugin beside Multus: the pinned CNI plugins the networks
    delegate to (each behind the measuring shim), the dhcp daemon and the CNI metrics. Turn
    it off where the nodes get their CNI plugins otherwise."""
    node_plugin: NodePluginArgs = Field(default_factory=NodePluginArgs)
    """The node plugin's options (with ``install_node_plugin``); its namespace defaults to
    Multus' ``namespace``."""
    fail_closed: bool = True
    """No pod starts without the secondary networks it selected while the Multus daemon is
    down (a restart, a crash, an upgrade): the node plugin keeps a guard CNI config that
    sorts after Multus' ``00-multus.conf`` and before the cluster network's and names the
    ``multus-shim``, which fails while the daemon is unreachable, so the kubelet retries the
    sandbox until Multus is back. Multus v4.3.0 deletes its own config when its daemon stops
    and has no setting that keeps it (a user-provided ``multusConfigFile`` is copied at start
    and never removed, but it is then never regenerated from the cluster network's config
    either). The cost: while the daemon is down no pod on the node gets a sandbox, whether it
    selects a secondary network or not (one config serves every pod), and hostNetwork pods
    are not affected. Thick with the node plugin only; ``false`` turns the guard off (the
    node plugin then removes it from the nodes). See ``docs/node-plugin.md``."""


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
        return None if v is None else abs_path(v)

    @field_validator("readiness_indicator_file")
    @classmethod
    def _readiness(cls, v: str | None) -> str | None:
        return v if not v else abs_path(v)

    @field_validator("global_namespaces")
    @classmethod
    def _globals(cls, v: list[str]) -> list[str]:
        return each(v, fc.k8s_label_name)

    @field_validator("connection_limit")
    @classmethod
    def _connection_limit(cls, v: int | None) -> int | None:
        return fc.at_least(v, 1, "the daemon refuses a connection limit below 1 and exits at "
                           "start; expected at least 1, or no connection_limit for none")

    @field_validator("node_max_pods")
    @classmethod
    def _max_pods(cls, v: int) -> int:
        return fc.int_range(v, 1, 100000, "maximum pods per node")

    @model_validator(mode="after")
    def _check(self) -> MultusInstallArgs:
        if ("connection_limit" in self.model_fields_set and self.connection_limit is not None
                and self.mode == "thin"):
            raise FieldIssue("the connection limit is the thick daemon's; expected mode "
                             "thick or no connection_limit", subpath=("connection_limit",),
                             value=self.connection_limit, has_value=True)
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
        if self.fail_closed and "fail_closed" in self.model_fields_set:
            if self.mode == "thin":
                raise FieldIssue("the guard stops sandboxes while the thick daemon is down; "
                                 "expected mode thick or no fail_closed",
                                 subpath=("fail_closed",), value=True, has_value=True)
            if not self.install_node_plugin:
                raise FieldIssue("the node plugin keeps the guard on the nodes; expected "
                                 "install_node_plugin: true or fail_closed: false",
                                 subpath=("fail_closed",), value=True, has_value=True)
        if self.node_plugin.multus_guard is not None:
            raise FieldIssue("under multus the guard follows multus.fail_closed; expected no "
                             "node_plugin.multus_guard", subpath=("node_plugin", "multus_guard"),
                             value=None, has_value=True)
        if not self.install_node_plugin and "node_plugin" in self.model_fields_set:
            raise FieldIssue("node plugin options given but install_node_plugin is false; "
                             "expected install_node_plugin: true or no node_plugin options",
                             subpath=("node_plugin",), value=None, has_value=True)
        if self.default_network == "none" and "flannel" in self.model_fields_set:
            raise FieldIssue("Flannel options given but default_network is none; expected "
                             "default_network: flannel or no flannel options",
                             subpath=("flannel",), value=None, has_value=True)
        return self

    @property
    def image_ref(self) -> str:
        return self.image or (MULTUS_THICK_IMAGE if self.mode == "thick" else MULTUS_THIN_IMAGE)

    def node_plugin_args(self) -> NodePluginArgs | None:
        """The node plugin this install places (in Multus' namespace unless its own
        ``namespace`` is set), or None."""
        if not self.install_node_plugin:
            return None
        update: dict[str, Any] = {}
        if "namespace" not in self.node_plugin.model_fields_set:
            update["namespace"] = self.namespace
        guard = self.multus_guard()
        if guard is not None:
            update["multus_guard"] = guard
        return self.node_plugin.model_copy(update=update) if update else self.node_plugin

    def multus_guard(self) -> MultusGuardArgs | None:
        """The guard the node plugin keeps for this Multus: thick, ``fail_closed`` and the
        node plugin placed here; None otherwise."""
        if self.mode != "thick" or not self.fail_closed or not self.install_node_plugin:
            return None
        return MultusGuardArgs(cni_version=self.cni_version,
                               socket_dir=HOST_MULTUS_SOCKET_DIR)

    @property
    def installs_flannel(self) -> bool:
        """Flannel comes with this install (``auto`` not yet resolved against a cluster
        counts as a cluster without a default network)."""
        return self.default_network in ("flannel", "auto")

    def resolved(self, another_runs: bool) -> MultusInstallArgs:
        """``default_network: auto`` decided: ``none`` where the cluster runs a default
        network someone else installed, else ``flannel`` (nothing runs, or this stack's own
        Flannel)."""
        if self.default_network != "auto":
            return self
        return self.model_copy(update={"default_network": "none" if another_runs else "flannel"})

    def readiness_file(self) -> str | None:
        """The readiness indicator as a host path, after the Flannel default is applied."""
        if self.readiness_indicator_file is not None:
            return self.readiness_indicator_file or None
        return FLANNEL_SUBNET_ENV if self.installs_flannel else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))
