"""Whether this process may change the host (namespaces, links, mounts): the one test of it
that the harness, the tests' skip gates and the benches ask."""

from __future__ import annotations

import os


def is_root() -> bool:
    """Running as root (effective user id 0)."""
    return os.geteuid() == 0
