"""Fixtures for the data-plane tests (real namespaces, real CNI plugins; root only)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import underlay
from harness.cni import Cni
from tests.dataplane.netns import (
    Sandbox,
    leftover_links,
    leftover_namespaces,
    probe_driver,
    why_not_runnable,
)

PLUGINS = ("macvlan", "ipvlan", "bridge", "host-device", "vlan", "ptp", "loopback",
           "host-local", "static", "dhcp", "tuning", "portmap", "bandwidth", "sbr")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_root: a pure test under tests/dataplane (never skipped)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = why_not_runnable()
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.dataplane)
            if reason and "no_root" not in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cni_bin() -> Path:
    """The CNI reference plugins: ``$NETPLUMB_CNI_BIN`` or the tool cache (built if needed)."""
    if env := os.environ.get("NETPLUMB_CNI_BIN"):
        path = Path(env)
    else:
        from harness import tools

        path = tools.bin_dir()
        if not all((path / p).is_file() for p in PLUGINS):
            path = tools.ensure(["cni-plugins"])
    missing = [p for p in PLUGINS if not (path / p).is_file()]
    if missing:
        pytest.fail(f"{path}: CNI plugins missing: {', '.join(missing)}")
    return path


@pytest.fixture(scope="session")
def cni(cni_bin: Path) -> Cni:
    return Cni(cni_bin)


NETNS_DIR = Path("/run/netns")


@pytest.fixture(scope="session", autouse=True)
def netns_dir_restored() -> Iterator[None]:
    """Put ``/run/netns`` back as it was: the first ``ip netns add`` of a session makes it a
    shared bind mount of itself (iproute2's doing), which would outlive the tests. Unmounted
    (and removed, if the session made it) only when it is empty, at the end of the session."""
    if why_not_runnable():
        yield
        return
    existed, mounted = NETNS_DIR.exists(), os.path.ismount(NETNS_DIR)
    yield
    if mounted or not os.path.ismount(NETNS_DIR) or any(NETNS_DIR.iterdir()):
        return
    subprocess.run(["umount", str(NETNS_DIR)], check=False, capture_output=True)
    if not existed and not os.path.ismount(NETNS_DIR):
        with contextlib.suppress(OSError):
            NETNS_DIR.rmdir()


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a test namespace or test link behind (and remove them).
    Set up before, so torn down after, the test's other fixtures."""
    if "no_root" in request.keywords or why_not_runnable():
        yield
        return
    ns_before, links_before = set(leftover_namespaces()), set(leftover_links())
    yield
    ns_left = sorted(set(leftover_namespaces()) - ns_before)
    links_left = sorted(set(leftover_links()) - links_before)
    for ns in ns_left:
        underlay.ip("netns", "del", ns, check=False)
    for li in links_left:
        underlay.ip("link", "del", li, check=False)
    assert not ns_left and not links_left, f"leaked namespaces {ns_left}, links {links_left}"


@pytest.fixture
def sandbox(cni: Cni) -> Iterator[Sandbox]:
    """Namespaces, links and attachments made through it are removed after the test,
    also when it fails (DELs first, then namespaces, then links)."""
    box = Sandbox(cni)
    try:
        yield box
    finally:
        errors = box.close()
        assert not errors, f"cleanup DEL errors: {errors}"


@pytest.fixture(scope="session")
def kernel_drivers() -> dict[str, str | None]:
    """Driver -> None if the kernel supports it, else the error (probed once)."""
    if why_not_runnable():
        return {}
    return {k: probe_driver(k) for k in ("macvlan", "ipvlan", "vlan", "dummy", "bridge")}

