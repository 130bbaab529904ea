"""Root test configuration: the cluster, node and pod-network fixtures for every test, the
``last`` marker (tests that must run after all others, e.g. the one taking the cluster down),
and ``figure``: measured figures a test reports, printed together at the end of the run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest_plugins = ["harness.pytest_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


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
