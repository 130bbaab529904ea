"""netplumb.kube's watch: events streamed line by line, authenticated like every other call,
under the server's path prefix, and errors raised with the status."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from netplumb.kube import Credentials, Kube, KubeError

from .local_http import serving

EVENTS = [{"type": "ADDED", "object": {"metadata": {"name": f"p{i}"}}} for i in range(3)]


@contextmanager
def _server(status: int = 200) -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    """An API whose watches stream ``EVENTS`` (with a blank keep-alive line between them)."""
    seen: list[tuple[str, str | None]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the method name http.server dispatches to
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if status >= 400:
                self.wfile.write(b'{"kind":"Status","reason":"Forbidden"}')
                return
            for ev in EVENTS:
                self.wfile.write(json.dumps(ev).encode() + b"\n\n")
                self.wfile.flush()

    with serving(Api) as port:
        yield port, seen


def test_watch_streams_every_event_with_the_token_and_the_path_prefix() -> None:
    with _server() as (port, seen):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}/k8s", token="t0k"))
        got = list(kube.watch("/api/v1/pods", {"timeoutSeconds": "5"}, threading.Event()))
    assert got == EVENTS
    [(path, auth)] = seen
    assert path.startswith("/k8s/api/v1/pods?") and "watch=1" in path and "timeoutSeconds=5" in path
    assert auth == "Bearer t0k"


def test_watch_stops_when_told() -> None:
    stop = threading.Event()
    with _server() as (port, _):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
        got = []
        for ev in kube.watch("/api/v1/pods", {}, stop):
            got.append(ev)
            stop.set()
    assert got == EVENTS[:1]


def test_watch_refused_raises_with_the_status() -> None:
    with _server(403) as (port, _):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
        with pytest.raises(KubeError) as err:
            list(kube.watch("/api/v1/pods", {}, threading.Event()))
    assert err.value.status == 403
