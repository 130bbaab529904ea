"""The one base of netplumb's typed inputs: component args and stack files.

Typed input is strict where the lossless CNI models are forgiving: an unknown key is a
typo (refused, with the nearest valid key), a string is never coerced into a number, and
every field carries its docstring.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict

from ..validation import PlanModel, validate

_ARGS = ConfigDict(strict=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                   serialize_by_alias=True, use_attribute_docstrings=True)


class InputModel(PlanModel):
    """Base of typed inputs: strict, unknown keys refused, a docstring per field."""

    model_config = _ARGS

    @classmethod
    def parse(cls, data: Any, *, at: tuple[str | int, ...] = ()) -> Self:
        """Validate typed input (unknown keys refused, nested CNI models too); problems
        come back as a :class:`~netplumb.PlanError` with paths under ``at``."""
        return validate(lambda d: cls.model_validate(d, context={"typed": True}), data, at=at)

    def checked(self) -> Self:
        """These args validated again from what they hold (catches assignments after
        construction and ``model_construct``); raises :class:`~netplumb.PlanError`."""
        return type(self).parse(self.model_dump(by_alias=True, exclude_unset=True))
