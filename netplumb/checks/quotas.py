"""Quotas against the plan's pods and workloads (pure): what the apiserver's ResourceQuota
admission is bound to refuse. Every finding names the key that causes it.

For every quota of ``guardrails.quotas`` and the pods and workload templates the plan declares
in its namespace (a workload's pods counted ``replicas`` times, a DaemonSet's as many as its
``replicas`` says it runs on), with the containers' resources as netplumb renders them
(device resources of SR-IOV selections included):

- a resource the quota limits (``requests.cpu``, ``requests.memory``, ``limits.cpu``,
  ``limits.memory``, ``pods``, ``requests.<device>``, and the ``requests.``/``limits.`` keys
  of ``extra``) whose sum over those pods is above the hard limit: an error at the quota's
  key, with the sum, the limit and the largest contributors. The apiserver refuses the pods
  past it ("exceeded quota"). A resource given only as a limit counts as the request too,
  as Kubernetes defaults a container's requests to its limits.
- a pod or workload whose container leaves out cpu or memory where the quota limits them: a
  warning at its ``resources``. ResourceQuota admission refuses such pods ("must specify
  requests.cpu") unless a LimitRange in the namespace gives defaults, which the plan cannot
  see.

Only the plan's pods count: pods that other stacks or people run in the namespace use the
quota too, so a plan within it may still be refused there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..args.guardrails import QuotaArgs
from ..args.resources import quantity_value
from ..errors import Finding, format_path

Loc = Sequence[str | int]

COMPUTE = ("cpu", "memory")
"""The compute resources ResourceQuota admission requires every container to specify once a
quota limits them (``ephemeral-storage`` too; netplumb's quotas do not set it)."""
_BARE = {"cpu": "requests.cpu", "memory": "requests.memory",
         "ephemeral-storage": "requests.ephemeral-storage", "count/pods": "pods"}
"""Quota keys Kubernetes reads as another: a bare ``cpu`` is ``requests.cpu``."""


@dataclass(frozen=True)
class QuotaMember:
    """A pod or workload template of the plan, as a quota counts it."""

    where: str
    """Its field path (``config.netplumb:spec.workloads[1]``)."""
    namespace: str
    resources: Mapping[str, Any]
    """Its container's ``{"requests": …, "limits": …}`` as rendered."""
    count: int
    """Pods it runs (1 for a bare pod, ``replicas`` for a workload)."""


@dataclass(frozen=True)
class _Hard:
    key: str
    """As Kubernetes counts it (``requests.cpu``, ``pods``)."""
    value: Fraction
    given: str
    field: tuple[str, ...]
    """The QuotaArgs key it comes from."""


def _hard_limits(q: QuotaArgs) -> list[_Hard]:
    out: list[_Hard] = []
    for key, field, value in (("requests.cpu", "requests_cpu", q.requests_cpu),
                              ("requests.memory", "requests_memory", q.requests_memory),
                              ("limits.cpu", "limits_cpu", q.limits_cpu),
                              ("limits.memory", "limits_memory", q.limits_memory)):
        if value is not None:
            out.append(_Hard(key, quantity_value(value), str(value), (field,)))
    if q.pods is not None:
        out.append(_Hard("pods", Fraction(q.pods), str(q.pods), ("pods",)))
    for res, n in q.devices.items():
        out.append(_Hard(f"requests.{res}", Fraction(n), str(n), ("devices", res)))
    for key, value in q.extra.items():
        counted = _BARE.get(key, key)
        if counted == "pods" or counted.startswith(("requests.", "limits.")):
            out.append(_Hard(counted, quantity_value(str(value)), str(value), ("extra", key)))
    return out


def _used(resources: Mapping[str, Any], key: str) -> Fraction | None:
    """What one container counts against ``key`` (None: it does not say)."""
    if key == "pods":
        return Fraction(1)
    kind, _, res = key.partition(".")
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    if kind == "requests":
        value = requests.get(res, limits.get(res))  # requests default to limits
    else:
        value = limits.get(res)
    return None if value is None else quantity_value(str(value))


def show_quantity(value: Fraction, key: str) -> str:
    """``value`` as Kubernetes would write it for ``key``: ``4``, ``1500m``, ``8Gi``."""
    if value.denominator == 1:
        whole = int(value)
        if key.endswith("memory") or key.endswith("storage"):
            for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
                if whole and whole % size == 0:
                    return f"{whole // size}{suffix}"
        return str(whole)
    milli = value * 1000
    return f"{int(milli)}m" if milli.denominator == 1 else str(float(value))


def _exceeded(q: QuotaArgs, hard: _Hard, members: Sequence[QuotaMember],
              where: str) -> Finding | None:
    total = Fraction(0)
    shares: list[tuple[Fraction, QuotaMember, Fraction]] = []
    for m in members:
        used = _used(m.resources, hard.key)
        if used is None or not used or m.count <= 0:
            continue
        total += used * m.count
        shares.append((used * m.count, m, used))
    if total <= hard.value:
        return None
    shares.sort(key=lambda s: s[0], reverse=True)
    largest = ", ".join(f"{m.where} ×{m.count} at {show_quantity(each, hard.key)}"
                        for _, m, each in shares[:3])
    key = f"{q.namespace}/{q.name}"
    return Finding(
        format_path([where, *hard.field]), hard.given,
        f"quota {key} allows {hard.given} of {hard.key} in namespace {q.namespace}; the "
        f"plan's pods there count {show_quantity(total, hard.key)} (largest: {largest}), so "
        "the apiserver refuses the pods past it (exceeded quota). Expected at most "
        f"{hard.given} in total: fewer replicas, smaller {hard.key.split('.')[0]}, or a "
        "larger quota")


def _unspecified(quotas: Sequence[tuple[QuotaArgs, list[_Hard]]],
                 member: QuotaMember) -> Finding | None:
    needed: dict[str, list[str]] = {}
    for q, hards in quotas:
        for hard in hards:
            kind, _, res = hard.key.partition(".")
            if res in COMPUTE and kind in ("requests", "limits") and _used(
                    member.resources, hard.key) is None:
                needed.setdefault(hard.key, []).append(f"{q.namespace}/{q.name}")
    if not needed:
        return None
    keys = sorted(needed)
    names = sorted({n for ns in needed.values() for n in ns})
    return Finding(
        f"{member.where}.resources", dict(member.resources),
        f"quota {', '.join(names)} limits {', '.join(keys)} in namespace "
        f"{member.namespace}, and this container does not specify "
        f"{'them' if len(keys) > 1 else 'it'}: ResourceQuota admission refuses its pods "
        f"(must specify {', '.join(keys)}) unless a LimitRange of the namespace gives "
        "defaults, which the plan cannot see. Expected resources with "
        f"{', '.join(keys)}",
        severity="warning")


def check_quotas(quotas: Iterable[QuotaArgs], members: Iterable[QuotaMember], *,
                 at: Loc) -> list[Finding]:
    """The findings of the module docstring for ``quotas`` (the guardrails' list, at ``at``)
    against the plan's ``members``."""
    by_ns: dict[str, list[QuotaMember]] = {}
    for m in members:
        by_ns.setdefault(m.namespace, []).append(m)
    findings: list[Finding] = []
    in_ns: dict[str, list[tuple[QuotaArgs, list[_Hard]]]] = {}
    for i, q in enumerate(quotas):
        hards = _hard_limits(q)
        in_ns.setdefault(q.namespace, []).append((q, hards))
        where = format_path([*at, i])
        for hard in hards:
            found = _exceeded(q, hard, by_ns.get(q.namespace, []), where)
            if found is not None:
                findings.append(found)
    for ns, quotas_there in in_ns.items():
        for m in by_ns.get(ns, []):
            found = _unspecified(quotas_there, m)
            if found is not None:
                findings.append(found)
    return findings
