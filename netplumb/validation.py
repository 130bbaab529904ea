"""pydantic models whose every error is a :class:`~netplumb.PlanError`.

:class:`PlanModel` is the root of netplumb's models (the lossless CNI models of
:mod:`netplumb.cni` and the typed inputs of :mod:`netplumb.args`): built with keywords it
validates as typed input, and a validation error comes back as findings that name the
field path as the input spells it, with the nearest valid key for a misspelt one.
Validators raise :class:`FieldIssue` to say what would be valid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar, Union, cast, get_args, overload

from pydantic import (
    BaseModel,
    Discriminator,
    ModelWrapValidatorHandler,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from .errors import Finding, Loc, PlanError, format_path
from .spelling import nearest, unknown_key_message

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
V = TypeVar("V")
R = TypeVar("R")
L = TypeVar("L", bound=list[Any] | None)

# Tags used inside discriminated unions start with this character; they are not part of
# the user's field path and are dropped when errors are reported.
TAG_MARK = "§"


def by_type(*classes: type[M]) -> dict[str, type[M]]:
    """``{kind: class}`` for models whose ``type`` field is one ``Literal`` value (a plugin,
    an IPAM, a network's args): the registry follows from the classes themselves."""
    out: dict[str, type[M]] = {}
    for cls in classes:
        (kind,) = get_args(cls.model_fields["type"].annotation)
        out[kind] = cls
    return out


def tagged_union(choices: Mapping[str, type[Any]], tag: Callable[[Any], str | None],
                 **options: Any) -> Any:
    """A discriminated union of ``choices`` (tag -> model): ``tag`` reads the input and names
    the choice, or returns None for input none of them takes (``options`` then say what to
    report, as for pydantic's ``Discriminator``)."""
    members = tuple(Annotated[cls, Tag(TAG_MARK + name)] for name, cls in choices.items())

    def pick(data: Any) -> str | None:
        name = tag(data)
        return None if name is None else TAG_MARK + name

    return Annotated[Union[members], Discriminator(pick, **options)]  # noqa: UP007


def known_or_raw(known: Mapping[str, type[Any]], raw: type[Any]) -> Any:
    """A union of ``known`` models (by their ``type``) and ``raw``, which keeps a config of
    any other type as it is."""

    def tag(data: Any) -> str:
        t = data.get("type") if isinstance(data, dict) else getattr(data, "type", None)
        return t if isinstance(t, str) and t in known else "raw"

    return tagged_union({**known, "raw": raw}, tag)


class FieldIssue(ValueError):
    """A problem with a value, optionally located below the field being validated."""

    def __init__(self, message: str, *, subpath: tuple[str | int, ...] = (), value: Any = None,
                 has_value: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath
        self.value = value
        self.has_value = has_value


def located(check: Callable[[V], R], value: V, *subpath: str | int) -> R:
    """``check(value)``, with the :class:`FieldIssue` it raises placed at ``subpath`` (a key
    or index below the field being validated) and naming ``value``."""
    try:
        return check(value)
    except FieldIssue as exc:
        raise FieldIssue(exc.message, subpath=subpath, value=value, has_value=True) from None


def each(items: L, check: Callable[[Any], object]) -> L:
    """Run ``check`` on every item of a list (or None); a problem is placed at the item's
    index."""
    for i, item in enumerate(cast("list[Any]", items or [])):
        located(check, item, i)
    return items


@overload
def once_each(items: list[V]) -> list[V]: ...


@overload
def once_each(items: list[V], key: Callable[[V], R]) -> list[R]: ...


def once_each(items: list[Any], key: Callable[[Any], Any] | None = None) -> list[Any]:
    """The items (or their ``key``), in order, each once: a second item equal to (or with the
    key of) an earlier one is "listed twice" at its index. A problem ``key`` raises is
    placed at the item's index too, so items are checked one after the other."""
    seen: list[Any] = []
    for i, item in enumerate(items):
        found = item if key is None else located(key, item, i)
        if found in seen:
            raise FieldIssue("listed twice", subpath=(i,), value=item, has_value=True)
        seen.append(found)
    return seen


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
    """Root of netplumb's models. Building one with keywords (``MacvlanNetworkArgs(
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
    """Input spelling (alias) -> Python name, over every model field that has an alias."""
    names: dict[str, str] = {}
    todo: list[type[BaseModel]] = [PlanModel]
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
