"""Root test configuration: the cluster, node and pod-network fixtures for every test, and the
``last`` marker (tests that must run after all others, e.g. the one taking the cluster down)."""

from __future__ import annotations

import pytest

pytest_plugins = ["harness.pytest_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: run after every other test of the session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)
