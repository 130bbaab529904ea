"""The base of every CNI model: strict like Go's JSON decoder, lossless like a raw dict."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from ..errors import Finding, Loc, PlanError, format_path
from .fieldcheck import FieldIssue, nearest, unknown_key_message

T = TypeVar("T")

# Tags used inside discriminated unions start with this character; they are not part of
# the user's field path and are dropped when errors are reported.
TAG_MARK = "§"


_ALIASES: dict[type[BaseModel], dict[str, str]] = {}


def _init_with_plan_errors(self: BaseModel, /, **data: Any) -> None:
    # Keywords in a Python program are typed input, like a stack file: unknown keys are
    # refused at every depth (context "typed"), and errors are PlanErrors.
    try:
        self.__pydantic_validator__.validate_python(data, self_instance=self,
                                                    context={"typed": True})
    except ValidationError as exc:
        raise plan_error_from(exc) from None


# Marked as pydantic's own __init__: nested models are then still validated by pydantic's
# core (with the caller's validation context), and only direct construction comes here.
_init_with_plan_errors.__pydantic_base_init__ = True  # type: ignore[attr-defined]


_ERROR_TYPES = frozenset(get_args(ErrorType))


def _line_error(err: Mapping[str, Any]) -> InitErrorDetails:
    """One error of a ValidationError, as what rebuilds it."""
    kind = err["type"]
    if kind in _ERROR_TYPES:
        line = InitErrorDetails(type=kind, loc=tuple(err["loc"]), input=err.get("input"))
        if err.get("ctx"):
            line["ctx"] = err["ctx"]
        return line
    return InitErrorDetails(type=PydanticCustomError(kind, err["msg"]), loc=tuple(err["loc"]),
                            input=err.get("input"))


def known_keys(cls: type[BaseModel]) -> list[str]:
    """The keys a model takes: each field's spelling in input (alias, else name)."""
    return [f.alias or n for n, f in cls.model_fields.items()]


def name_unknown_keys(cls: type[BaseModel], data: Any, exc: ValidationError) -> ValidationError:
    """``exc`` with each unknown key of this model's own level said as
    ``unknown field 'mastr'; did you mean 'master'?`` (pydantic says only "extra inputs")."""
    errors = exc.errors(include_url=False)
    if not any(e["type"] == "extra_forbidden" and len(e["loc"]) == 1 for e in errors):
        return exc
    keys = known_keys(cls)
    lines = []
    for err in errors:
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            lines.append(InitErrorDetails(
                type=PydanticCustomError("unknown_field",
                                         unknown_key_message(err["loc"][0], keys)),
                loc=tuple(err["loc"]), input=err.get("input")))
        else:
            lines.append(_line_error(err))
    return ValidationError.from_exception_data(exc.title, lines)


class PlanModel(BaseModel):
    """Base of netplumb's input models. Building one with keywords (``MacvlanNetworkArgs(
    mode="x")``) validates it as typed input (unknown keys refused, nested ones too) and
    reports bad input as a :class:`PlanError`, like every other entry point. An unknown key
    is named with the nearest valid one."""

    if not TYPE_CHECKING:  # type checkers keep the field-derived signature
        __init__ = _init_with_plan_errors

    @model_validator(mode="wrap")
    @classmethod
    def _validate(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as exc:
            raise name_unknown_keys(cls, data, exc) from None


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


def validate(fn: Callable[[Any], T], data: Any, *, at: Loc = ()) -> T:
    try:
        return fn(data)
    except ValidationError as exc:
        raise plan_error_from(exc, at=at) from None


def plan_error_from(exc: ValidationError, *, at: Loc = ()) -> PlanError:
    findings: list[Finding] = []
    for err in exc.errors(include_url=False):
        loc: list[str | int] = list(at)
        loc += [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(TAG_MARK))]
        value = err.get("input")
        message = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, PlanError):  # a nested model built through its __init__
            here = format_path(loc)
            findings += [Finding(f.path if here == "<root>" else f"{here}.{f.path}", f.value,
                                 f.message, f.severity) for f in cause.findings]
            continue
        if isinstance(cause, FieldIssue):
            loc += _as_given(list(cause.subpath), err.get("input"))
            message = cause.message
            if cause.has_value:
                value = cause.value
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        elif "choices" in (err.get("ctx") or {}):
            loc, message, value = _unknown_kind(err, loc, message, value)
        if loc and loc[-1] == "[key]":  # a mapping key of the wrong type (YAML: 1, true)
            loc.pop()
            findings.append(Finding(format_path(loc), value, "keys here are strings; quote "
                                    "this key in YAML"))
            continue
        findings.append(Finding(format_path(loc), value, _explain(err["type"], message, err)))
    return PlanError(findings)


def _unknown_kind(err: Mapping[str, Any], loc: list[str | int], message: str, value: Any
                  ) -> tuple[list[str | int], str, Any]:
    """A tagged union's "no such kind": placed at the tag's key, with the nearest kind."""
    ctx, data = err["ctx"], err.get("input")
    key = ctx.get("discriminator")
    if not isinstance(data, Mapping) or not isinstance(key, str):
        return loc, message, value
    if key not in data:
        return [*loc, key], f"required field is missing; {message}", None
    given = data[key]
    choices = [c.strip() for c in str(ctx["choices"]).split(",")]
    hint = nearest(given, choices, strict=True) if isinstance(given, str) else None
    if hint is not None:
        message = f"unknown {key} {given!r}; did you mean {hint!r}?"
    return [*loc, key], message, given


@functools.cache
def _python_names() -> dict[str, str]:
    """CNI spelling -> Python name, over every CniModel field that has an alias."""
    names: dict[str, str] = {}
    todo: list[type[BaseModel]] = [CniModel]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        names.update((f.alias, n) for n, f in cls.model_fields.items() if f.alias)
    return names


def _as_given(subpath: list[str | int], data: Any) -> list[str | int]:
    """A model-level check names a field by its CNI spelling; when the input spelled that
    field by its Python name (typed input), the path uses the input's spelling."""
    if subpath and isinstance(subpath[0], str) and isinstance(data, Mapping):
        head = subpath[0]
        if head not in data:
            name = _python_names().get(head)
            if name is not None and name in data:
                return [name, *subpath[1:]]
    return subpath


def _explain(kind: str, message: str, err: Mapping[str, Any]) -> str:
    """Pydantic's messages, made to speak of JSON types and say what would be valid."""
    replacements = {
        "int_type": "expected a JSON integer",
        "bool_type": "expected true or false",
        "string_type": "expected a JSON string",
        "dict_type": "expected a JSON object",
        "list_type": "expected a JSON array",
        "model_type": "expected a JSON object",
        "missing": "required field is missing",
        "float_type": "expected a JSON number",
        "extra_forbidden": "unknown field; check its spelling against the documented fields",
    }
    if kind in replacements:
        return replacements[kind]
    if kind == "literal_error":
        return message.replace("Input should be", "expected one of:").rstrip(".")
    return message
