"""Kubernetes quantities and container resources, one model for pods, workloads, add-ons
and quotas.

Quantities are read as Kubernetes reads them (``k8s.io/apimachinery``'s
``resource.ParseQuantity``): an optional sign, digits with an optional decimal point, and a
decimal (``n u m k M G T P E``), binary (``Ki`` … ``Ei``) or exponent (``e3``, ``E-2``)
suffix. YAML numbers (``cpu: 1``, ``cpu: 0.5``) are quantities too, as Kubernetes reads a
JSON number; they are kept as the string Kubernetes would be sent.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from ..validation import FieldIssue
from .base import InputModel

_QUANTITY = re.compile(r"^(?P<sign>[+-]?)(?P<num>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
                       r"(?P<suffix>[eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIX = {
    "": Fraction(1), "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}
_EXPONENT = re.compile(r"^[eE][-+]?[0-9]+$")
_EXAMPLES = "expected e.g. 100m, 0.5, 2, 128Mi or 8Gi"


def quantity_value(text: str) -> Fraction:
    """A Kubernetes quantity (``100m``, ``128Mi``, ``4``, ``1e3``) as an exact number."""
    m = _QUANTITY.match(text) if text else None
    if m is None:
        raise FieldIssue(f"not a Kubernetes quantity; {_EXAMPLES}")
    suffix = m["suffix"]
    if suffix in _SUFFIX:
        mult = _SUFFIX[suffix]
    elif _EXPONENT.match(suffix):
        mult = Fraction(10) ** int(suffix[1:])
    else:
        raise FieldIssue(f"unknown quantity suffix {suffix!r}; expected one of n, u, m, k, M, "
                         "G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3")
    value = Fraction(f"{m['num'] or '0'}.{m['frac'] or '0'}") * mult
    return -value if m["sign"] == "-" else value


def _quantity(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # strict str validation refuses it with "expected a JSON string"
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldIssue(f"not a Kubernetes quantity; {_EXAMPLES}")
        value = repr(value)
    if isinstance(value, str):
        if quantity_value(value) < 0:
            raise FieldIssue("negative; Kubernetes refuses negative resource quantities")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
"""A non-negative Kubernetes quantity; YAML integers and decimals are taken too and kept as
the string Kubernetes is sent."""


class ContainerResources(InputModel):
    """Requests and limits of a container (Kubernetes quantities)."""

    requests: dict[str, Quantity] = Field(default_factory=dict)
    """What the scheduler reserves, e.g. ``{"cpu": "100m", "memory": "128Mi"}``."""
    limits: dict[str, Quantity] = Field(default_factory=dict)
    """Hard caps; a container over its memory limit is OOM-killed."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ContainerResources:
        for key, req in self.requests.items():
            lim = self.limits.get(key)
            if lim is not None and quantity_value(req) > quantity_value(lim):
                raise FieldIssue(f"request {req} is above the limit {lim}; expected request "
                                 "<= limit", subpath=("requests", key), value=req,
                                 has_value=True)
        return self

    def to_dict(self) -> dict[str, Any]:
        """``{"requests": …, "limits": …}`` with the empty ones left out."""
        return {k: dict(v) for k, v in (("requests", self.requests), ("limits", self.limits))
                if v}
