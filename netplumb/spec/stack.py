"""The stack spec: what ``stacks/Pulumi.<env>.yaml`` declares under ``netplumb:spec``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, Field, field_validator, model_validator

from ..errors import PlanError
from . import fieldcheck as fc
from .base import PlanModel, validate
from .cluster import ClusterNetworksArgs
from .fieldcheck import FieldIssue
from .networks import NetworkSpec
from .platform import MultusInstallArgs, NetworkGuardrailsArgs, SriovPoolArgs, WorkloadArgs
from .workloads import PodArgs

CONFIG_KEY = "netplumb:spec"


class StackSpec(PlanModel):
    """Everything one environment deploys."""

    model_config = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True)

    install_nad_crd: bool = True
    """Create the NetworkAttachmentDefinition CRD (off when Multus is installed otherwise)."""
    networks: list[NetworkSpec] = Field(default_factory=list)
    """Secondary networks, one NAD each."""
    pods: list[PodArgs] = Field(default_factory=list)
    """Multi-homed pods."""
    multus: MultusInstallArgs | None = None
    """Install Multus (with Flannel unless ``default_network: none``)."""
    sriov: SriovPoolArgs | None = None
    """The SR-IOV device plugin and its pools (one per cluster)."""
    guardrails: NetworkGuardrailsArgs | None = None
    """Quotas, policies, network RBAC, PodSecurity labels."""
    workloads: list[WorkloadArgs] = Field(default_factory=list)
    """Multi-homed Deployments, StatefulSets and DaemonSets."""
    external_networks: list[str] = Field(default_factory=list)
    """``namespace/name`` of NADs created outside this stack that selections may name."""
    cluster_networks: ClusterNetworksArgs = Field(default_factory=ClusterNetworksArgs)
    """The cluster's pod and service networks, which secondary subnets should not overlap
    (Flannel's network counts when the stack installs Flannel)."""

    def cluster_cidrs(self) -> list[tuple[str, str]]:
        """``(cidr, what it is)`` of every cluster network known to this stack."""
        out = [(c, "pod network") for c in self.cluster_networks.pods]
        if self.multus is not None and self.multus.installs_flannel:
            out.append((self.multus.flannel.network, "pod network (Flannel's Network)"))
        return out + [(c, "service network") for c in self.cluster_networks.services]

    @field_validator("external_networks")
    @classmethod
    def _external(cls, v: list[str]) -> list[str]:
        for i, ref in enumerate(v):
            ns, slash, name = ref.partition("/")
            try:
                if not slash:
                    raise FieldIssue("expected namespace/name")
                fc.k8s_label_name(ns)
                fc.k8s_name(name)
            except FieldIssue as exc:
                raise FieldIssue(exc.message, subpath=(i,), value=ref, has_value=True) from None
        return v

    @model_validator(mode="after")
    def _one_crd(self) -> StackSpec:
        if self.install_nad_crd and self.multus is not None and self.multus.install_nad_crd:
            raise FieldIssue("the NAD CRD would be created twice (install_nad_crd and "
                             "multus.install_nad_crd); expected install_nad_crd: false",
                             subpath=("install_nad_crd",), value=True, has_value=True)
        return self

    @classmethod
    def parse(cls, data: Any, *, at: tuple[str | int, ...] = ()) -> StackSpec:
        spec = validate(lambda d: cls.model_validate(d, context={"typed": True}), data, at=at)
        for net in spec.networks:
            net._typed = True
        return spec


def load_stack_file(path: Path) -> StackSpec:
    """Read ``Pulumi.<env>.yaml`` and validate its ``netplumb:spec``; paths start there."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError.one(str(path), None, f"cannot read the stack file: {exc}") from None
    except yaml.YAMLError as exc:
        raise PlanError.one(str(path), None, f"not valid YAML: {exc}") from None
    return load_stack_document(doc)


def load_stack_document(doc: Any) -> StackSpec:
    """Validate the ``netplumb:spec`` of a decoded stack file, whatever shape it has: a
    document that is not ``config: {netplumb:spec: {...}}`` is a :class:`PlanError` naming
    where it differs."""
    if not isinstance(doc, dict):
        raise PlanError.one("<root>", doc, "expected a mapping with config: {netplumb:spec: "
                            "...} (a Pulumi stack file)")
    if "config" not in doc:
        raise PlanError.one("config", None, _missing("config", doc, "the stack's settings"))
    config = doc["config"]
    if not isinstance(config, dict):
        raise PlanError.one("config", config, f"expected a mapping holding {CONFIG_KEY}")
    if CONFIG_KEY not in config:
        raise PlanError.one(f"config.{CONFIG_KEY}", None,
                            _missing(CONFIG_KEY, config, "the stack spec"))
    return StackSpec.parse(config[CONFIG_KEY], at=("config", CONFIG_KEY))


def _missing(key: str, mapping: dict[Any, Any], what: str) -> str:
    near = [k for k in mapping if isinstance(k, str) and fc.nearest(k, [key]) == key]
    hint = f"; is {near[0]!r} a misspelling of it?" if near else ""
    return f"missing; expected {what} under {key}{hint}"
