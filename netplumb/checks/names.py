"""Each object once: two declarations of one object would register one Kubernetes object
twice (Pulumi refuses the second, or the last one silently wins)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ..errors import Finding


def repeated(entries: Iterable[tuple[Hashable, str, Any]], what: str) -> list[Finding]:
    """A finding for every entry whose identity an earlier entry has already.

    ``entries``: ``(identity, path of the key to blame, its value)``; ``what`` names the
    kind of object in the message (``pod``, ``Deployment``, ``NAD``).
    """
    first: dict[Hashable, str] = {}
    findings: list[Finding] = []
    for ident, path, value in entries:
        if ident in first:
            shown = "/".join(str(p) for p in ident) if isinstance(ident, tuple) else ident
            findings.append(Finding(path, value, (
                f"{what} {shown} is declared twice (also at {first[ident]}); expected each "
                "once per namespace")))
        else:
            first[ident] = path.rsplit(".", 1)[0]
    return findings
