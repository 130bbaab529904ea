"""Where the pods of an install run: tolerations (as in the Kubernetes API)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..validation import FieldIssue
from .base import InputModel


class Toleration(InputModel):
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


def tolerate_all() -> list[Toleration]:
    return [Toleration(operator="Exists", effect="NoSchedule"),
            Toleration(operator="Exists", effect="NoExecute")]
