"""The cyclic garbage collector paused while a large tree of objects is built.

Parsing a stack of thousands of networks and pods, and planning it, allocates a few hundred
thousand objects that all stay alive; each of the collector's passes over them frees
nothing, and their number grows with the stack, so a stack ten times larger cost about
fifteen times the time. Pausing the collector for the duration keeps the cost linear
(``bench/plan_pods.py``); whatever garbage the work leaves is collected once it resumes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector inside the block (nested blocks are fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
