"""The toolbox image (the default image of a stack's pods, and what people debug with) works
inside pods: ``wget`` (also with ``-T``, which crashes BusyBox 1.35's own), ``nc``, ``ping``
and ``ip``, each run in a real pod's container through the CRI against another pod."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from harness.cluster.api import pod_ready, wait_for
from harness.node import cri
from harness.node.images import TOOLBOX_IMAGE
from harness.pytest_fixtures import NetworkHandle
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "np-toolbox"


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as made:
        yield made


def _exec(network: NetworkHandle, pod: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``argv`` in the pod's container, through the CRI of the pod's node."""
    node = network.node.of_pod(NS, pod)
    [sandbox] = [s for s in cri.sandboxes(node.ns, namespace=NS, name=pod) if s.ready]
    container = cri.crictl(node.ns, "ps", "-q", "--pod", sandbox.id).split()[0]
    return node.run([*_crictl_argv(), "exec", container, *argv], check=False, timeout=60)


def _ready(api: Any, path: str) -> Any:
    found = api.get(path)
    return found if pod_ready(found) else None


def _crictl_argv() -> list[str]:
    from harness.node import containerd

    return [str(cri._crictl()), "--runtime-endpoint", containerd.ENDPOINT]


def test_wget_nc_ping_and_ip_work_in_a_pod(space: NadSpace, pod_network: NetworkHandle) -> None:
    api = pod_network.node.cluster.api()
    web = {"name": "main", "image": TOOLBOX_IMAGE, "command": [
        "sh", "-c", "mkdir -p /www && echo toolbox-ok > /www/index.html && "
                    # 8081 accepts a connection and never answers
                    "httpd -p 8080 -h /www && exec nc -l -p 8081 -e sleep 3600"]}
    space.create_pod("tb-web", containers=[web])
    space.create_pod("tb-client")
    pods = {}
    for name in ("tb-web", "tb-client"):
        path = f"/api/v1/namespaces/{NS}/pods/{name}"
        pods[name] = wait_for(f"{name} running", functools.partial(_ready, api, path),
                              timeout=120)
    server = str(pods["tb-web"]["status"]["podIP"])

    got = _exec(pod_network, "tb-client", "wget", "-q", "-T", "5", "-O-",
                f"http://{server}:8080/")
    assert got.returncode == 0 and "toolbox-ok" in got.stdout, (got.returncode, got.stderr)
    got = _exec(pod_network, "tb-client", "wget", "-q", "-O-", f"http://{server}:8080/")
    assert got.returncode == 0 and "toolbox-ok" in got.stdout, got.stderr
    # a timeout that runs out ends wget with BusyBox timeout's SIGTERM (exit 143, which
    # crictl passes on in its message), not with a crash (139)
    late = _exec(pod_network, "tb-client", "wget", "-q", "-T", "1", "-O-",
                 f"http://{server}:8081/")
    assert late.returncode != 0 and "exit code 143" in late.stderr, late

    got = _exec(pod_network, "tb-client", "sh", "-c",
                f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {server} 8080")
    assert got.returncode == 0 and "toolbox-ok" in got.stdout, got.stderr
    got = _exec(pod_network, "tb-client", "ping", "-c", "2", "-W", "2", server)
    assert got.returncode == 0 and "2 packets received" in got.stdout, got.stdout
    got = _exec(pod_network, "tb-client", "ip", "addr", "show", "eth0")
    client_ip = str(pods["tb-client"]["status"]["podIP"])
    assert got.returncode == 0 and f"inet {client_ip}/" in got.stdout, got.stdout
