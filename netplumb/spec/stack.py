"""The stack spec: what ``stacks/Pulumi.<env>.yaml`` declares under ``netplumb:spec``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..errors import PlanError
from .base import validate
from .networks import NetworkSpec
from .workloads import PodArgs

CONFIG_KEY = "netplumb:spec"


class StackSpec(BaseModel):
    """Everything one environment deploys."""

    model_config = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True)

    install_nad_crd: bool = True
    """Create the NetworkAttachmentDefinition CRD (off when Multus is installed otherwise)."""
    networks: list[NetworkSpec] = Field(default_factory=list)
    """Secondary networks, one NAD each."""
    pods: list[PodArgs] = Field(default_factory=list)
    """Multi-homed pods."""

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
    except yaml.YAMLError as exc:
        raise PlanError.one(str(path), None, f"not valid YAML: {exc}") from None
    config = (doc or {}).get("config") or {}
    if CONFIG_KEY not in config:
        raise PlanError.one(f"config.{CONFIG_KEY}", None,
                            f"missing; expected the stack spec under config: {CONFIG_KEY}")
    return StackSpec.parse(config[CONFIG_KEY], at=("config", CONFIG_KEY))
