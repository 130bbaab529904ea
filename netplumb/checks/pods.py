"""Checks of pods against the networks they select."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Finding
from ..spec.workloads import PodArgs
from .networks import PlannedNetwork


def check_pods(networks: Sequence[PlannedNetwork],
               pods: Sequence[tuple[str, PodArgs]]) -> list[Finding]:
    """Selections must name a known network; interface names must be unique in a pod."""
    known = {n.key for n in networks}
    findings: list[Finding] = []
    for where, p in pods:
        seen: dict[str, int] = {}
        for i, sel in enumerate(p.networks):
            ns = sel.namespace or p.namespace
            if f"{ns}/{sel.name}" not in known:
                findings.append(Finding(
                    f"{where}.networks[{i}].name", sel.name,
                    f"no network {ns}/{sel.name} in this plan; expected one of: "
                    + (", ".join(sorted(known)) or "(none declared)")))
            ifname = sel.interface or f"net{i + 1}"
            if ifname in seen:
                findings.append(Finding(
                    f"{where}.networks[{i}].interface", ifname,
                    f"interface {ifname!r} is already used by networks[{seen[ifname]}]; "
                    "expected unique interface names per pod"))
            seen.setdefault(ifname, i)
    return findings
