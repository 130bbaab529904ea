"""Root test configuration: the cluster, node and pod-network fixtures for every test, the
``last`` marker (tests that must run after all others, e.g. the one taking the cluster down),
the ``late`` marker (after the others, before the last: what the cluster removes in its own
time, checked once it has had that time), and ``figure``: measured figures a test reports,
printed together at the end of the run."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.privilege import is_root
from netplumb.hostpaths import NETNS_DIR

pytest_plugins = ["harness.pytest_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: run after every other test of the session")
    config.addinivalue_line("markers", "late: run after the other tests, before the last "
                                       "(checks of what the cluster removes in its own time)")


def _order(item: pytest.Item) -> int:
    return 2 if item.get_closest_marker("last") else 1 if item.get_closest_marker("late") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_order)


_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one measured figure (a line); the run's summary lists them under the test."""
    figures = request.config.stash.setdefault(_FIGURES, [])

    def add(line: str) -> None:
        figures.append(f"{request.node.nodeid}: {line}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if figures:
        terminalreporter.section("measured figures")
        for line in figures:
            terminalreporter.write_line(line)


NETNS_RUN_DIR = Path(NETNS_DIR)


def _mounted(path: Path) -> bool:
    try:
        return any(line.split()[4] == str(path)
                   for line in Path("/proc/self/mountinfo").read_text().splitlines())
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _netns_run_dir() -> Iterator[None]:
    """``ip netns add`` (data-plane tests, router and DHCP-server namespaces) makes
    ``/run/netns`` a shared bind mount of itself and leaves it when the last namespace goes:
    a session that made it takes it away again, once no named namespace is left."""
    existed, mounted = NETNS_RUN_DIR.exists(), _mounted(NETNS_RUN_DIR)
    yield
    if mounted or not _mounted(NETNS_RUN_DIR) or not is_root():
        return
    if any(NETNS_RUN_DIR.iterdir()):
        return  # a namespace someone still uses
    subprocess.run(["umount", str(NETNS_RUN_DIR)], check=False, capture_output=True)
    if not existed:
        with contextlib.suppress(OSError):
            NETNS_RUN_DIR.rmdir()
