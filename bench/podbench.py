"""What the pod benches (``attach_latency.py``, ``pod_start.py``) share: their error, their
progress line, the API retry, a pod's events and the nearest-rank percentile."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from harness.cluster import Api, ApiError


class BenchError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(msg, file=sys.stderr)


def retry(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``fn()``, retried on API errors for up to ``timeout`` s (409: already there)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ApiError as e:
            if e.status == 409:
                return None
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: {e}") from e
            time.sleep(0.3)


def pod_events(api: Api, namespace: str, name: str) -> list[str]:
    """``reason: message`` of the pod's events (none when they cannot be read)."""
    with contextlib.suppress(Exception):
        found = api.get(f"/api/v1/namespaces/{namespace}/events",
                        {"fieldSelector": f"involvedObject.name={name}"})
        return [f"{e.get('reason')}: {e.get('message')}" for e in found.get("items") or []]
    return []


def nearest_rank(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
