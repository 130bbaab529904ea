"""netplumb.kube retries what the apiserver asks to retry (429 with Retry-After), no more."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from netplumb.kube import Credentials, Kube, KubeError


@contextmanager
def _server(answers: list[tuple[int, str | None]]) -> Iterator[tuple[Kube, list[str]]]:
    """An API answering GETs from ``answers`` (status, Retry-After), then 200 forever."""
    seen: list[str] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the method name http.server dispatches to
            seen.append(self.path)
            status, retry_after = answers.pop(0) if answers else (200, None)
            body = json.dumps({"kind": "Status", "reason": "TooManyRequests",
                               "message": "storage is (re)initializing"}
                              if status == 429 else {"items": []}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Kube(Credentials(server=f"http://127.0.0.1:{server.server_port}")), seen
    finally:
        server.shutdown()
        server.server_close()


def test_429_with_retry_after_is_retried_until_it_succeeds() -> None:
    with _server([(429, "0"), (429, "0")]) as (kube, seen):
        assert kube.request("GET", "/apis/x/v1/things") == {"items": []}
        assert seen == ["/apis/x/v1/things"] * 3


def test_429_without_retry_after_and_other_errors_are_not_retried() -> None:
    with _server([(429, None), (500, "0")]) as (kube, seen):
        with pytest.raises(KubeError) as err:
            kube.request("GET", "/a")
        assert err.value.status == 429
        with pytest.raises(KubeError) as err:
            kube.request("GET", "/b")
        assert err.value.status == 500
        assert seen == ["/a", "/b"]


def test_429_retries_stop_after_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Kube, "RETRY_429_SECONDS", 0.3)
    with _server([(429, "0.1")] * 20) as (kube, seen):
        with pytest.raises(KubeError) as err:
            kube.request("GET", "/c")
        assert err.value.status == 429
        assert 3 <= len(seen) <= 5
