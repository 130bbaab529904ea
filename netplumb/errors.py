"""The one error type netplumb raises for bad input, and how it names the culprit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Loc = Sequence[str | int]


def format_path(loc: Loc) -> str:
    """``("ipam", "ranges", 0, 0, "rangeStart")`` → ``ipam.ranges[0][0].rangeStart``; a
    part ending in ``:`` (a file name) is followed directly: ``big.yaml:networks[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out or out.endswith(":") else f".{part}"
    return out or "<root>"


def show_value(value: Any, limit: int = 80) -> str:
    """A short, JSON-ish rendering of an offending value for error messages."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Finding:
    """One problem: where (a field path), what value, and what would be valid."""

    path: str
    value: Any
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (got {show_value(self.value)})"


class PlanError(ValueError):
    """Invalid netplumb input. Raised before any resource registers or any API call is made.

    ``findings`` lists every problem found; ``path`` is the first one's field path.
    """

    def __init__(self, findings: Iterable[Finding], *, context: str = "") -> None:
        self.findings: list[Finding] = list(findings)
        if not self.findings:
            raise ValueError("PlanError needs at least one finding")
        self.context = context
        head = f"{context}: " if context else ""
        if len(self.findings) == 1:
            text = f"{head}{self.findings[0]}"
        else:
            lines = "\n".join(f"  - {f}" for f in self.findings)
            text = f"{head}{len(self.findings)} problems:\n{lines}"
        super().__init__(text)

    @property
    def path(self) -> str:
        return self.findings[0].path

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.findings]

    @classmethod
    def one(cls, path: str, value: Any, message: str, *, context: str = "") -> PlanError:
        return cls([Finding(path, value, message)], context=context)

    def prefixed(self, prefix: Loc) -> PlanError:
        """The same findings, their paths placed under ``prefix``."""
        pre = format_path(prefix)
        moved = [
            Finding(_join(pre, f.path), f.value, f.message, f.severity) for f in self.findings
        ]
        return PlanError(moved, context=self.context)


def _join(prefix: str, path: str) -> str:
    if path == "<root>":
        return prefix
    if path.startswith("[") or prefix.endswith(":"):
        return prefix + path
    return f"{prefix}.{path}"


def raise_on_errors(findings: Iterable[Finding], *, context: str = "plan check") -> None:
    """Raise a :class:`PlanError` of the error findings (warnings pass), if there are any."""
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise PlanError(errors, context=context)
