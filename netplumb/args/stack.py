"""The stack spec: what ``stacks/Pulumi.<env>.yaml`` declares under ``netplumb:spec``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from ..cni import fields as fc
from ..errors import Finding, PlanError
from ..spelling import nearest
from ..validation import FieldIssue, each
from .base import InputModel
from .cluster import ClusterNetworksArgs, ClusterObjectsArgs, ImagesArgs
from .guardrails import NetworkGuardrailsArgs
from .monitoring import MonitoringStackArgs
from .multi_network_policy import MultiNetworkPolicyEnforcerArgs
from .multus import MultusInstallArgs
from .nad import NetworkSpec
from .network_policy import NetworkPolicyEnforcerArgs
from .node_plugin import NodePluginArgs
from .pod import PodArgs
from .sriov import SriovPoolArgs
from .whereabouts import WhereaboutsStackArgs
from .workload import WorkloadArgs

CONFIG_KEY = "netplumb:spec"
FILE_KEY = "netplumb:specFile"
"""Stack config key naming a YAML file (relative to the project) that holds the spec:
for stacks too large for one config value (Pulumi hands all config to the program in one
environment variable, which Linux caps at 128 KiB)."""
CLUSTER_KEY = "netplumb:cluster"
"""Stack config key naming the clusters the stack is for: a kubeconfig context or cluster
name, or an API server URL (one, or a list). Preview refuses any other cluster."""
CONFIG_ENV = "PULUMI_CONFIG"
"""The environment variable the Pulumi language host hands the program all its config in."""
ENV_STRING_MAX = 131072
"""Linux's ``MAX_ARG_STRLEN`` (32 pages of 4 KiB): the most bytes one environment string,
``NAME=value`` with its terminating NUL, may have. exec refuses a longer one (E2BIG,
"argument list too long"), so the engine fails to start the program at all."""


# ---------------------------------------------------------------------------------------
# the size of PULUMI_CONFIG
# ---------------------------------------------------------------------------------------

_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
               ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_SHORT_EXPONENT = re.compile(r"e-0(\d)$")


def _go_string(text: str) -> str:
    """A JSON string as Go's ``encoding/json`` writes it: like ``json.dumps`` with UTF-8
    kept, plus ``<``, ``>``, ``&``, U+2028 and U+2029 escaped (Go's HTML-safe default)."""
    out = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _GO_ESCAPES:
        out = out.replace(raw, escaped)
    return out


def _go_float(value: float) -> str:
    """A float as Go's ``encoding/json`` writes it: shortest digits, fixed notation unless
    below 1e-6 or from 1e21 on (``1e+21``, ``1e-7``); ``1.0`` is ``1``."""
    if not math.isfinite(value):
        return repr(value)  # Go refuses these; the size hardly matters then
    if value != 0 and not 1e-6 <= abs(value) < 1e21:
        return _SHORT_EXPONENT.sub(r"e-\1", repr(value))
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _go_json(value: Any) -> str:
    """``value`` (decoded YAML) as Go's ``json.Marshal`` writes it: compact, map keys as
    strings in sorted order; a value JSON has no type for (a YAML date) as its text."""
    if isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return "{" + ",".join(f"{_go_string(k)}:{_go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _go_string(str(value))


def _config_value(value: Any) -> str:
    """The string the engine hands the program for one stack config value: a string as it
    is; a structured value (map or list) as compact JSON; a scalar as its text. A secret
    (``{secure: ...}``) counts with its ciphertext, which is longer than what it decrypts
    to (so the estimate errs on the large side)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"secure"} and isinstance(
            value["secure"], str):
        return str(value["secure"])
    if value is None:
        return ""
    return _go_json(value)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def config_env_bytes(config: Mapping[Any, Any]) -> int:
    """Estimated bytes of the environment string ``PULUMI_CONFIG=<value>`` (with its NUL)
    the engine builds from a stack's ``config``.

    How Pulumi builds it (pulumi's ``config.Value`` and the Python language host): every
    config value becomes a string, a structured one Go's ``json.Marshal`` of it (so
    ``netplumb:spec`` is compact JSON, keys sorted, ``<>&`` escaped); the language host
    then encodes the map of key to string with ``json.Marshal`` again, which escapes that
    JSON a second time (every ``"`` becomes ``\\"``). This function does the same, in
    Python. It is an estimate, within a few bytes and on the large side: secrets count with
    their ciphertext. Config that does not come from the stack file (``Pulumi.yaml``
    defaults, ESC environments) is not counted."""
    values = sorted((str(k), _config_value(v)) for k, v in config.items())
    body = "{" + ",".join(f"{_go_string(k)}:{_go_string(v)}" for k, v in values) + "}"
    return _utf8_len(f"{CONFIG_ENV}=") + _utf8_len(body) + 1


def config_env_finding(doc: Any) -> Finding | None:
    """A finding when the config of a decoded stack file would not fit in one environment
    string (:data:`ENV_STRING_MAX`): then the engine cannot start the program, before any
    netplumb code runs. When the inline ``netplumb:spec`` is the largest value it is named,
    with the fix: the spec in a file named by ``netplumb:specFile``; otherwise the largest
    value is. ``None`` when it fits (or ``doc`` is no stack file: :func:`load_stack_document`
    names that)."""
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping):
        return None
    size = config_env_bytes(config)
    if size <= ENV_STRING_MAX:
        return None
    limit = (f"the engine hands the program all stack config in one environment variable, "
             f"{CONFIG_ENV}, here about {size} bytes; Linux allows one environment string "
             f"at most {ENV_STRING_MAX} bytes (128 KiB), so the engine would fail to start "
             f"the program (argument list too long)")
    shares = {k: _utf8_len(_go_string(_config_value(v))) for k, v in config.items()}
    key = max(shares, key=lambda k: shares[k])
    if key == CONFIG_KEY:
        return Finding(f"config.{CONFIG_KEY}", size,
                       f"{limit}; the inline spec is about {shares[key]} bytes of it. Fix: "
                       f"move the spec to a YAML file in the project and name it with "
                       f"{FILE_KEY} instead of {CONFIG_KEY} "
                       f"(config: {{{FILE_KEY}: specs/<stack>.yaml}})")
    return Finding(f"config.{key}", size,
                   f"{limit}; {key} is the largest value (about {shares[key]} bytes): make it "
                   "smaller")


class StackSpec(InputModel):
    """Everything one environment deploys."""

    install_nad_crd: bool = False
    """Create the NetworkAttachmentDefinition CRD. Off by default: the CRD is cluster-wide
    and belongs to whoever installs Multus (``multus:`` installs it); a stack that only
    declares networks and pods uses the cluster's."""
    networks: list[NetworkSpec] = Field(default_factory=list)
    """Secondary networks, one NAD each."""
    pods: list[PodArgs] = Field(default_factory=list)
    """Multi-homed pods."""
    await_pods: bool = True
    """Wait during ``pulumi up`` until every pod in ``pods`` is Ready (the default: an
    attachment that fails shows as a failed update). ``false``: pods are created and left to
    the scheduler and kubelet, as Pulumi's ``pulumi.com/skipAwait`` does for single objects;
    for stacks with more pods than the cluster runs at once."""
    multus: MultusInstallArgs | None = None
    """Install Multus (with Flannel unless ``default_network: none``)."""
    sriov: SriovPoolArgs | None = None
    """The SR-IOV device plugin and its pools (one per cluster)."""
    guardrails: NetworkGuardrailsArgs | None = None
    """Quotas, policies, network RBAC, PodSecurity labels."""
    workloads: list[WorkloadArgs] = Field(default_factory=list)
    """Multi-homed Deployments, StatefulSets and DaemonSets."""
    cluster_objects: ClusterObjectsArgs = Field(default_factory=ClusterObjectsArgs)
    """Ownership of cluster-wide objects: retained on destroy, and taken over only when
    adopted."""
    external_networks: list[str] = Field(default_factory=list)
    """``namespace/name`` of NADs created outside this stack that selections may name."""
    images: ImagesArgs = Field(default_factory=ImagesArgs)
    """Where the stack's images come from (a mirror registry for air-gapped clusters)."""
    cluster_networks: ClusterNetworksArgs = Field(default_factory=ClusterNetworksArgs)
    """The cluster's pod and service networks, which secondary subnets should not overlap
    (Flannel's network counts when the stack installs Flannel)."""
    whereabouts: WhereaboutsStackArgs | None = None
    """Who installs whereabouts, which networks with whereabouts IPAM need:
    ``{installed: external}`` (the cluster has it) or ``{installed: here, ...options}``.
    Unset: a stack that installs Multus installs it when one of its networks uses it; any
    other stack whose networks use it must say."""
    monitoring: MonitoringStackArgs | None = None
    """Prometheus and Grafana objects over the node plugin's metrics (a ServiceMonitor,
    alerts, a dashboard)."""
    node_plugin: NodePluginArgs | None = None
    """netplumb's node plugin (the pinned CNI plugins behind the measuring shim, the dhcp
    daemon and the CNI metrics) beside a Multus this stack does not install: the cluster's
    own. With ``multus:``, its options go under ``multus.node_plugin`` instead."""
    network_policy: NetworkPolicyEnforcerArgs | None = None
    """Enforce Kubernetes NetworkPolicies on the default network (eth0) with kube-router's
    firewall alone, beside Flannel, which enforces none (``{}`` for the defaults). Unset: none
    is installed (the cluster's default network may enforce them itself)."""
    multi_network_policy: MultiNetworkPolicyEnforcerArgs | None = None
    """Enforce MultiNetworkPolicies (``guardrails.multi_network_policies``) on secondary
    networks with multi-networkpolicy-iptables, with netplumb's MultiNetworkPolicy CRD unless
    ``guardrails.install_multi_network_policy_crd`` creates it (``{}`` for the defaults).
    Unset: none is installed."""

    def network_policy_args(self) -> NetworkPolicyEnforcerArgs | None:
        """``network_policy`` with its Service CIDRs from ``cluster_networks.services`` (the
        first of each family it enforces), where it does not set them."""
        np = self.network_policy
        if (np is None or "service_cluster_ip_range" in np.model_fields_set
                or not self.cluster_networks.services):
            return np
        first: dict[int, str] = {}
        for cidr in self.cluster_networks.services:
            version = fc.ip_network(cidr).version
            if version in np.families():
                first.setdefault(version, cidr)
        if not first:
            return np
        return np.model_copy(update={"service_cluster_ip_range": list(first.values())})

    def multi_network_policy_crd_key(self) -> str | None:
        """The key under the spec that has the MultiNetworkPolicy CRD created, if one does:
        ``guardrails.install_multi_network_policy_crd``, or ``multi_network_policy.install_crd``
        (unset counts as asking, unless the guardrails create it)."""
        if self.guardrails is not None and self.guardrails.install_multi_network_policy_crd:
            return "guardrails.install_multi_network_policy_crd"
        if self.multi_network_policy is not None and self.multi_network_policy.installs_crd():
            return "multi_network_policy.install_crd"
        return None

    def node_plugin_args(self) -> NodePluginArgs | None:
        """The node plugin this stack places: its own ``node_plugin``, or Multus'."""
        if self.node_plugin is not None:
            return self.node_plugin
        return self.multus.node_plugin_args() if self.multus is not None else None

    def node_plugin_at(self) -> str:
        """Where the node plugin's options are, as a path under the spec."""
        return "node_plugin" if self.node_plugin is not None else "multus.node_plugin"

    def monitoring_args(self) -> MonitoringStackArgs | None:
        """``monitoring`` with the node plugin's namespace and port filled in from the node
        plugin this stack installs, where not set."""
        if self.monitoring is None:
            return None
        node = self.node_plugin_args()
        if node is None or not node.metrics:
            return self.monitoring
        fill = {k: v for k, v in (("node_plugin_namespace", node.namespace),
                                  ("metrics_port", node.metrics_port))
                if k not in self.monitoring.model_fields_set}
        return self.monitoring.model_copy(update=fill) if fill else self.monitoring

    def cluster_cidrs(self) -> list[tuple[str, str]]:
        """``(cidr, what it is)`` of every cluster network known to this stack."""
        out = [(c, "pod network") for c in self.cluster_networks.pods]
        if self.multus is not None and self.multus.installs_flannel:
            out.append((self.multus.flannel.network, "pod network (Flannel's Network)"))
        return out + [(c, "service network") for c in self.cluster_networks.services]

    @field_validator("external_networks")
    @classmethod
    def _external(cls, v: list[str]) -> list[str]:
        return each(v, fc.nad_key)

    @model_validator(mode="after")
    def _installed_once(self) -> StackSpec:
        """What two options would both install is refused at the first of them."""
        multus, mnp, mon = self.multus, self.multi_network_policy, self.monitoring
        twice: list[tuple[object, str, tuple[str, ...], bool | None]] = [
            (self.install_nad_crd and multus is not None and multus.install_nad_crd,
             "the NAD CRD would be created twice (install_nad_crd and "
             "multus.install_nad_crd); expected install_nad_crd: false",
             ("install_nad_crd",), True),
            (mnp is not None and mnp.install_crd and self.guardrails is not None
             and self.guardrails.install_multi_network_policy_crd,
             "the MultiNetworkPolicy CRD would be created twice "
             "(multi_network_policy.install_crd and "
             "guardrails.install_multi_network_policy_crd); expected one of "
             "them (unset install_crd leaves it to the guardrails)",
             ("multi_network_policy", "install_crd"), True),
            (self.node_plugin is not None and multus is not None and multus.install_node_plugin,
             "the node plugin would be installed twice (node_plugin, and "
             "multus: places one unless install_node_plugin: false); expected "
             "its options under multus.node_plugin",
             ("node_plugin",), None),
            (mon is not None and mon.install_crds and mon.service_monitor
             and multus is not None and multus.service_monitor is not None
             and multus.service_monitor.install_crd,
             "the ServiceMonitor CRD would be installed twice (here and by "
             "multus.service_monitor.install_crd); expected one of them",
             ("monitoring", "install_crds"), True),
        ]
        for clash, message, at, value in twice:
            if clash:
                raise FieldIssue(message, subpath=at, value=value, has_value=True)
        return self

    @model_validator(mode="after")
    def _monitoring_finds_the_node_plugin(self) -> StackSpec:
        mon = self.monitoring
        node = self.node_plugin_args()
        if mon is None or node is None:
            return self
        at = self.node_plugin_at()
        if not node.metrics and mon.service_monitor:
            raise FieldIssue("the node plugin this stack installs serves no metrics "
                             f"({at}.metrics: false); expected metrics: true or "
                             "monitoring.service_monitor: false",
                             subpath=("monitoring", "service_monitor"), value=True,
                             has_value=True)
        for key, theirs, where in (
                ("node_plugin_namespace", node.namespace, f"{at}.namespace"),
                ("metrics_port", node.metrics_port, f"{at}.metrics_port")):
            ours = getattr(mon, key)
            if key in mon.model_fields_set and ours != theirs:
                raise FieldIssue(f"the node plugin this stack installs has {theirs} "
                                 f"({where}); expected the same or no {key}",
                                 subpath=("monitoring", key), value=ours, has_value=True)
        return self


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError.one(shown, None, f"cannot read the file: {exc}") from None
    except yaml.YAMLError as exc:
        raise PlanError.one(shown, None, f"not valid YAML: {exc}") from None


def spec_from_config(spec: Any, spec_file: Any, project_dir: Path
                     ) -> tuple[StackSpec, tuple[str, ...]]:
    """The stack's spec from its config: ``netplumb:spec`` (the value) or
    ``netplumb:specFile`` (a YAML file, relative to ``project_dir``), exactly one of them.
    Returns the spec and the path prefix its findings use."""
    if spec is not None and spec_file is not None:
        raise PlanError.one(f"config.{FILE_KEY}", spec_file,
                            f"both {CONFIG_KEY} and {FILE_KEY} are set; expected one of them")
    if spec_file is None:
        if spec is None:
            raise PlanError.one(f"config.{CONFIG_KEY}", None,
                                f"missing; expected the stack spec under config: "
                                f"{CONFIG_KEY} (or a file named by {FILE_KEY})")
        at: tuple[str, ...] = ("config", CONFIG_KEY)
        return StackSpec.parse(spec, at=at), at
    if not isinstance(spec_file, str) or not spec_file.strip():
        raise PlanError.one(f"config.{FILE_KEY}", spec_file,
                            "expected a path (relative to the project) of a YAML file")
    path = Path(spec_file)
    if not path.is_absolute():
        path = project_dir / path
    if not path.is_file():
        raise PlanError.one(f"config.{FILE_KEY}", spec_file,
                            f"no such file ({path}); expected the stack spec in YAML")
    at = (f"{spec_file}:",)
    return StackSpec.parse(_read_yaml(path, spec_file), at=at), at


def project_dir_of(stack_file: Path) -> Path:
    """The project directory of a stack file: the nearest directory up with a Pulumi.yaml."""
    for d in stack_file.resolve().parents:
        if (d / "Pulumi.yaml").is_file():
            return d
    return stack_file.resolve().parent


def read_stack_document(path: Path) -> Any:
    """The decoded YAML of a stack file, unchecked (:class:`PlanError` if it cannot be read
    or is not YAML)."""
    return _read_yaml(path, str(path))


def load_stack_file(path: Path) -> StackSpec:
    """Read ``Pulumi.<env>.yaml`` and validate its ``netplumb:spec`` (or the file its
    ``netplumb:specFile`` names); paths start there."""
    return load_stack_document(read_stack_document(path), project_dir_of(path))


def cluster_binding(value: Any) -> tuple[str, ...]:
    """The clusters ``netplumb:cluster`` names (empty: the stack is for any cluster)."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if (not isinstance(items, list) or not items
            or not all(isinstance(x, str) and x.strip() for x in items)):
        raise PlanError.one(f"config.{CLUSTER_KEY}", value,
                            "expected a kubeconfig context or cluster name, or an API server "
                            "URL (https://host:port), or a list of them")
    return tuple(x.strip() for x in items)


def load_stack_document(doc: Any, project_dir: Path | None = None) -> StackSpec:
    """Validate the spec of a decoded stack file, whatever shape it has: a document that is
    not ``config: {netplumb:spec: {...}}`` (or ``netplumb:specFile``) is a
    :class:`PlanError` naming where it differs. ``project_dir`` resolves a spec file."""
    if not isinstance(doc, dict):
        raise PlanError.one("<root>", doc, "expected a mapping with config: {netplumb:spec: "
                            "...} (a Pulumi stack file)")
    if "config" not in doc:
        raise PlanError.one("config", None, _missing(["config"], doc, "the stack's settings"))
    config = doc["config"]
    if not isinstance(config, dict):
        raise PlanError.one("config", config, "expected a mapping of stack config keys")
    if CONFIG_KEY not in config and FILE_KEY not in config:
        raise PlanError.one(f"config.{CONFIG_KEY}", None, _missing(
            [CONFIG_KEY, FILE_KEY], config, f"the stack spec (or a file named by {FILE_KEY})"))
    cluster_binding(config.get(CLUSTER_KEY))
    spec, _ = spec_from_config(config.get(CONFIG_KEY), config.get(FILE_KEY),
                               project_dir or Path.cwd())
    return spec


def _missing(keys: list[str], mapping: dict[Any, Any], what: str) -> str:
    near = [k for k in mapping if isinstance(k, str) and nearest(k, keys) is not None]
    hint = f"; is {near[0]!r} a misspelling?" if near else ""
    return f"missing; expected {what} under {keys[0]}{hint}"
