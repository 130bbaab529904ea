"""Why the scheduler left a pod without a node: its message, parsed and explained (pure).

kube-scheduler writes one message per failed attempt, in the pod's ``PodScheduled``
condition (status ``False``, reason ``Unschedulable``) and in a ``FailedScheduling`` event:
how many nodes there are, then a histogram of the reasons each node was rejected for
(``<count> <reason>``, comma-separated, sorted, closed by a full stop), then what preemption
found. The reasons matched here are those of kube-scheduler v1.36 (the embedded cluster's),
with the older wordings of the same filters:

* ``NodeResourcesFit``: ``Insufficient <resource>`` (an extended resource such as
  ``intel.com/sriov`` is a device a device plugin advertises), ``Too many pods``;
* ``NodeAffinity``: the pod's node affinity/selector matched no node;
* ``TaintToleration``: untolerated taints (v1.36 names no taint; older versions named one);
* ``NodeUnschedulable``: cordoned nodes.

Anything else is ``other``, with the scheduler's words. What the message does not say (which
label, which taint) is worked out from the pods' specs and the nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Obj = Mapping[str, Any]
CauseId = Literal["device", "resources", "selector", "taints", "cordoned", "other"]

FAILED_SCHEDULING = "FailedScheduling"
"""The event reason of a failed scheduling attempt."""

_HEAD = re.compile(r"^\s*0/(\d+) nodes are available:?\s*", re.S)
_COUNTED = re.compile(r"^(\d+) (.+)$", re.S)
_INSUFFICIENT = re.compile(r"^Insufficient (\S+)$")
_SELECTOR = re.compile(r"didn't match (?:pod's )?node (?:affinity/)?selector", re.I)
_TAINT = re.compile(r"untolerated taint|had taints? .*didn't tolerate|had taint \{", re.I)
_CORDONED = re.compile(r"were unschedulable", re.I)
_PLAIN_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "pods"})

# the cause a pod is grouped under when its nodes were rejected for several: what the pod
# asks for (a device, a label) before what the nodes chose (taints, cordons)
_PRIORITY: dict[str, int] = {"device": 0, "selector": 1, "resources": 2, "taints": 3,
                             "cordoned": 4, "other": 5}


@dataclass(frozen=True)
class Reason:
    """One entry of the message's histogram."""

    nodes: int | None
    """How many nodes it rejected (``None``: a reason for the pod as a whole)."""
    text: str


@dataclass(frozen=True)
class SchedulingCause:
    id: CauseId
    key: str
    """The resource (``device``, ``resources``), else the reason's text for ``other``."""
    reason: Reason


def parse_message(message: str) -> tuple[int | None, list[Reason]]:
    """The node count and the reasons of a scheduler message (preemption's part dropped)."""
    text = message.strip()
    head = _HEAD.match(text)
    if head is None:
        return None, ([Reason(None, text.rstrip("."))] if text else [])
    total = int(head.group(1))
    rest = text[head.end():]
    if rest.startswith("preemption:"):
        rest = ""
    # the filters' histogram ends at the first full stop; preemption and other post-filter
    # notes follow it
    stop = rest.find(". ")
    if stop >= 0:
        rest = rest[:stop]
    rest = rest.strip().removesuffix(".")
    reasons: list[Reason] = []
    for part in rest.split(", "):
        part = part.strip()
        if not part:
            continue
        counted = _COUNTED.match(part)
        if counted is None and reasons:
            # an older taint reason carries ", " inside ("had taint {k: v}, that the pod ...")
            last = reasons.pop()
            reasons.append(Reason(last.nodes, f"{last.text}, {part}"))
            continue
        reasons.append(Reason(int(counted.group(1)), counted.group(2).strip()) if counted
                       else Reason(None, part))
    return total, reasons


def classify(reason: Reason) -> SchedulingCause:
    text = reason.text
    insufficient = _INSUFFICIENT.match(text)
    if insufficient:
        name = insufficient.group(1)
        device = "/" in name and name not in _PLAIN_RESOURCES
        return SchedulingCause("device" if device else "resources", name, reason)
    if text == "Too many pods":
        return SchedulingCause("resources", "pods", reason)
    if _SELECTOR.search(text):
        return SchedulingCause("selector", "", reason)
    if _TAINT.search(text):
        return SchedulingCause("taints", "", reason)
    if _CORDONED.search(text):
        return SchedulingCause("cordoned", "", reason)
    return SchedulingCause("other", text, reason)


def causes(message: str) -> list[SchedulingCause]:
    """Every cause of a scheduler message, in the message's order."""
    return [classify(r) for r in parse_message(message)[1]]


def primary(found: Sequence[SchedulingCause]) -> SchedulingCause | None:
    """The cause a pod's failure is grouped under (see ``_PRIORITY``)."""
    if not found:
        return None
    return min(found, key=lambda c: (_PRIORITY[c.id], -(c.reason.nodes or 0)))


# --------------------------------------------------------------------------- the nodes' side


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _labels(node: Obj) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def node_name(node: Obj) -> str:
    return str((node.get("metadata") or {}).get("name"))


def _requirement_met(req: Obj, labels: Mapping[str, str]) -> bool:
    key, op = str(req.get("key")), str(req.get("operator"))
    values = [str(v) for v in req.get("values") or []]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _describe_requirement(req: Obj) -> str:
    key, op = str(req.get("key")), str(req.get("operator"))
    values = [str(v) for v in req.get("values") or []]
    if op == "In" and len(values) == 1:
        return f"{key}={values[0]}"
    if op in ("Exists", "DoesNotExist"):
        return f"{key} {op}"
    return f"{key} {op} [{', '.join(values)}]"


def unmatched_selector(pod: Obj, nodes: Sequence[Obj]) -> list[str]:
    """What of the pod's node selection no node has: ``key=value`` pairs of its
    ``nodeSelector`` that no node carries, and required node-affinity expressions no node
    meets (every term's, as the terms are alternatives). Empty when each part alone is met
    by some node (only their combination matches none)."""
    out: list[str] = []
    for key, value in sorted((_spec(pod).get("nodeSelector") or {}).items()):
        if not any(_labels(n).get(key) == value for n in nodes):
            out.append(f"{key}={value}")
    required = (((_spec(pod).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for req in term.get("matchExpressions") or []:
            if not any(_requirement_met(req, _labels(n)) for n in nodes):
                out.append(f"affinity {_describe_requirement(req)}")
    return out


def _tolerates(tolerations: Iterable[Obj], taint: Obj) -> bool:
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        key = t.get("key") or ""
        if op == "Exists" and (not key or key == taint.get("key")):
            return True
        if op == "Equal" and key == taint.get("key") and (t.get("value") or "") == (
                taint.get("value") or ""):
            return True
    return False


def describe_taint(taint: Obj) -> str:
    value = taint.get("value")
    return f"{taint.get('key')}{'=' + str(value) if value else ''}:{taint.get('effect')}"


def untolerated_taints(pod: Obj, nodes: Sequence[Obj]) -> dict[str, list[str]]:
    """Node → the taints there that keep the pod off (``NoSchedule``, ``NoExecute``) and
    that the pod does not tolerate."""
    tolerations = _spec(pod).get("tolerations") or []
    out: dict[str, list[str]] = {}
    for node in nodes:
        bad = [describe_taint(t) for t in _spec(node).get("taints") or []
               if t.get("effect") in ("NoSchedule", "NoExecute")
               and not _tolerates(tolerations, t)]
        if bad:
            out[node_name(node)] = bad
    return out


def cordoned(nodes: Sequence[Obj]) -> list[str]:
    return sorted(node_name(n) for n in nodes if _spec(n).get("unschedulable"))


def advertised(resource: str, nodes: Sequence[Obj]) -> dict[str, str]:
    """Node → how many of ``resource`` it can hand out (its allocatable, when not 0)."""
    out = {}
    for n in nodes:
        amount = str(((n.get("status") or {}).get("allocatable") or {}).get(resource) or "0")
        if amount not in ("0", ""):
            out[node_name(n)] = amount
    return out
