"""Waiting for a condition: the one polling loop of the library, the harness, the tests and
the benches (:func:`wait_for`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60.0,
             interval: float = 0.2, *,
             retry: tuple[type[Exception], ...] = (Exception,),
             error: Callable[[str], BaseException] = TimeoutError) -> T:
    """Call ``fn()`` every ``interval`` seconds until it returns something true, and return that.

    An exception of a ``retry`` type counts as "not yet" (any other one ends the wait at once;
    ``retry=()``: every one does). After ``timeout`` seconds, raise ``error(message)``
    (:class:`TimeoutError` unless told otherwise), the message naming ``what`` was awaited and
    the last exception ``fn`` raised, if any.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except retry as e:  # "not yet", until the deadline
            last = e
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f}s waiting for {what}"
                        + (f" (last error: {last})" if last else ""))
        time.sleep(interval)
