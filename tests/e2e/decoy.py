"""Another cluster that must never be touched: a TCP listener standing in for its API server
(it counts connections), and a kubeconfig naming it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import yaml


@contextlib.contextmanager
def decoy_cluster() -> Iterator[tuple[str, list[int]]]:
    """A TCP listener standing in for another cluster's API server: (server URL, connections
    accepted so far)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    seen: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            seen.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}", seen
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


def kubeconfig_for(server: str, path: Path, context: str = "team-prod") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "prod-eu", "cluster": {"server": server,
                                                     "insecure-skip-tls-verify": True}}],
        "users": [{"name": "ops", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "prod-eu", "user": "ops"}}]}))
    return path
