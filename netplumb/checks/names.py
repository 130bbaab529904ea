"""Each object once: two declarations of one object would register one Kubernetes object
twice (Pulumi refuses the second, or the last one silently wins)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ..errors import Finding


def repeated(entries: Iterable[tuple[Hashable, Any]], path: Callable[[int], str], what: str
             ) -> list[Finding]:
    """A finding for every entry whose identity an earlier entry has already.

    ``entries``: ``(identity, the value to blame)``; ``path(i)`` is the key path of the
    ``i``-th entry, built only for those reported; ``what`` names the kind of object in the
    message (``pod``, ``Deployment``, ``NAD``).
    """
    first: dict[Hashable, int] = {}
    findings: list[Finding] = []
    for i, (ident, value) in enumerate(entries):
        j = first.setdefault(ident, i)
        if j != i:
            shown = "/".join(str(p) for p in ident) if isinstance(ident, tuple) else ident
            findings.append(Finding(path(i), value, (
                f"{what} {shown} is declared twice (also at {path(j).rsplit('.', 1)[0]}); "
                "expected each once per namespace")))
    return findings
