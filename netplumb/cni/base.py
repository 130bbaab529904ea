"""The base of every CNI model: strict like Go's JSON decoder, lossless like a raw dict."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from ..errors import Loc
from ..spelling import unknown_key_message
from ..validation import FieldIssue, PlanModel, known_keys, name_unknown_keys, validate

_ALIASES: dict[type[BaseModel], dict[str, str]] = {}


class CniModel(PlanModel):
    """A JSON object of a CNI config.

    - ``strict``: a string is never coerced into a number or a bool, as the plugins'
      Go decoders would refuse it too.
    - ``extra="allow"``: keys netplumb does not model are kept, in order, and written back.
    - Python attributes are snake_case; the CNI spelling is the alias, used on output.
    """

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        frozen=False,
        validate_assignment=False,
    )

    _key_order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _validate(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # replaces PlanModel's: one wrap per model, which also remembers the key order
        try:
            obj = handler(data)
        except ValidationError as exc:
            raise name_unknown_keys(cls, data, exc) from None
        if isinstance(data, dict):
            obj._key_order = [str(k) for k in data]
        return obj

    open_schema: ClassVar[bool] = False
    """Unknown keys are this model's point (raw plugins and IPAM): never refused."""

    @model_validator(mode="after")
    def _no_unknown_keys_when_typed(self, info: ValidationInfo) -> Self:
        # Parsed configs keep unknown keys (lossless import). Typed input (component args,
        # stack files) is validated with context {"typed": True}, where an unknown key is
        # far more likely a typo than a field of a newer plugin: refuse it.
        if self.model_extra and not self.open_schema and (info.context or {}).get("typed"):
            key = next(iter(self.model_extra))
            raise FieldIssue(unknown_key_message(key, known_keys(type(self))),
                             subpath=(key,), value=self.model_extra[key], has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the fields that were set, with their CNI spelling, plus unknown keys,
        in the order they were given."""
        return self.json_fields()

    def json_fields(self, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Set fields (CNI spelling) and unknown keys, nested models as their own JSON, in
        input order; Python field names in ``skip`` are left out."""
        fields = type(self).model_fields
        extra = self.model_extra or {}
        out: dict[str, Any] = {}
        given = self.model_fields_set
        for name, field in fields.items():  # declaration order: the same output every run
            # A key spelled like a field's Python name (``link_in_container``) is not that
            # field for the plugin's decoder: it stays an unknown key, the field unset.
            if name not in given or name in extra or name in skip:
                continue
            out[field.alias or name] = _plain(getattr(self, name))
        for key, value in extra.items():
            out[key] = _plain(value)
        if not self._key_order:
            return out
        aliases = _ALIASES.get(type(self))
        if aliases is None:
            aliases = _ALIASES[type(self)] = {n: f.alias or n for n, f in fields.items()}
        order = [k if k in extra else aliases.get(k, k) for k in self._key_order]
        ordered = {k: out[k] for k in order if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        return ordered

    @classmethod
    def parse(cls, data: Any, *, at: Loc = ()) -> Self:
        """Validate ``data``; errors come back as a :class:`PlanError` with paths under ``at``."""
        return validate(lambda d: cls.model_validate(d, by_alias=True, by_name=False), data, at=at)


def _plain(value: Any) -> Any:
    if isinstance(value, CniModel):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
