"""The one base of netplumb's typed inputs: component args and stack files.

Typed input is strict where the lossless CNI models are forgiving: an unknown key is a
typo (refused, with the nearest valid key), a string is never coerced into a number, and
every field carries its docstring. Every way in raises :class:`~netplumb.PlanError` only:
keywords (``PodArgs(name=...)``), :meth:`InputModel.parse` (decoded YAML or JSON) and
:meth:`InputModel.checked` (what a component does with the args it is given).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, PrivateAttr, ValidationInfo, model_validator

from ..errors import Loc
from ..gcpause import collector_paused
from ..validation import PlanModel, validate

INPUT_CONFIG = ConfigDict(strict=True, extra="forbid", validate_by_name=True,
                          validate_by_alias=True, serialize_by_alias=True,
                          use_attribute_docstrings=True)
"""The configuration of every input model. A class that also has a CNI model as a base (the
network args) states it again: pydantic takes the configuration of the last base."""

PARSED = {"typed": True, "parsed": True}
"""Validation context of :meth:`InputModel.parse`: typed input (unknown keys refused in
nested CNI models too), and each input model validated so is marked as such."""


class InputModel(PlanModel):
    """Base of typed inputs: strict, unknown keys refused, a docstring per field."""

    model_config = INPUT_CONFIG

    _parsed: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _mark_parsed(self, info: ValidationInfo) -> Self:
        if (info.context or {}).get("parsed"):
            self._parsed = True
        return self

    @classmethod
    def parse(cls, data: Any, *, at: Loc = ()) -> Self:
        """Validate typed input (unknown keys refused, nested CNI models too); problems
        come back as a :class:`~netplumb.PlanError` with paths under ``at``."""
        with collector_paused():
            return validate(lambda d: cls.model_validate(d, context=PARSED), data, at=at)

    def checked(self) -> Self:
        """These args as a component takes them, raising :class:`~netplumb.PlanError` for
        anything invalid. Args that came from :meth:`parse` (alone or inside a stack spec)
        are returned as they are; args built with keywords or ``model_construct`` are
        validated again from what they hold, which catches values assigned after
        construction (pydantic does not validate assignments)."""
        if self._parsed:
            return self
        return type(self).parse(self.model_dump(by_alias=True, exclude_unset=True))
