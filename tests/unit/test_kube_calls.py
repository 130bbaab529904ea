"""netplumb.kube's calls as the apiserver receives them: impersonation on every request and
watch (one ``Impersonate-Group`` header per group), dry runs of create and server-side apply,
and the HTTP status of an answer."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from netplumb.kube import Credentials, Kube, KubeError

from .local_http import serving

DISCOVERY = {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
    {"kind": "ConfigMap", "name": "configmaps", "namespaced": True}]}
CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c", "namespace": "ns"}, "data": {"k": "v"}}


@dataclass
class Seen:
    method: str
    path: str
    user: str | None
    groups: list[str]
    content_type: str | None
    body: bytes


@contextmanager
def _server() -> Iterator[tuple[int, list[Seen]]]:
    """An API serving ConfigMaps' discovery, answering a create with 201, anything else with
    200 (the request body back), a watch with one event, and a name ``taken`` with 409."""
    seen: list[Seen] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.append(Seen(self.command, self.path, self.headers.get("Impersonate-User"),
                             self.headers.get_all("Impersonate-Group") or [],
                             self.headers.get("Content-Type"), body))
            if self.path == "/api/v1":
                status, out = 200, json.dumps(DISCOVERY).encode()
            elif "watch=1" in self.path:
                status, out = 200, json.dumps({"type": "ADDED", "object": CM}).encode() + b"\n"
            elif b'"taken"' in body:
                status, out = 409, json.dumps({"kind": "Status", "reason": "AlreadyExists",
                                               "message": "taken"}).encode()
            else:
                status, out = 201 if self.command == "POST" else 200, body or b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer  # what http.server dispatches to

    with serving(Api) as port:
        yield port, seen


def test_impersonation_on_every_request_and_watch() -> None:
    with _server() as (port, seen):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}", token="t0k"),
                    impersonate=("tenant-1", ["np-tenants", "system:authenticated"]))
        kube.get("v1", "ConfigMap", "c", "ns")
        kube.create(CM)
        kube.apply(CM, field_manager="t")
        kube.delete("v1", "ConfigMap", "c", "ns")
        assert kube.request_text("/api/v1/namespaces/ns/pods/p/log") == "{}"
        [event] = kube.watch("/api/v1/configmaps", {}, threading.Event())
    assert event["object"] == CM
    assert [s.method for s in seen] == ["GET", "GET", "POST", "PATCH", "DELETE", "GET", "GET"]
    for s in seen:
        assert (s.user, s.groups) == ("tenant-1", ["np-tenants", "system:authenticated"]), s


def test_without_impersonation_no_header() -> None:
    with _server() as (port, seen):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
        kube.request("GET", "/api/v1")
        list(kube.watch("/api/v1/configmaps", {}, threading.Event()))
    assert [(s.user, s.groups) for s in seen] == [(None, [])] * 2


def test_dry_runs_of_create_and_apply() -> None:
    with _server() as (port, seen):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
        assert kube.create(CM, dry_run=True) == CM
        assert kube.apply(CM, field_manager="t", dry_run=True) == CM
        kube.create(CM)
        kube.apply(CM, field_manager="t", force=False)
    [_, create, apply, real_create, real_apply] = seen
    assert (create.method, create.path) == ("POST", "/api/v1/namespaces/ns/configmaps?dryRun=All")
    assert (apply.method, apply.path) == (
        "PATCH", "/api/v1/namespaces/ns/configmaps/c?fieldManager=t&force=true&dryRun=All")
    assert apply.content_type == "application/apply-patch+yaml"
    assert json.loads(apply.body) == CM
    assert real_create.path == "/api/v1/namespaces/ns/configmaps"
    assert real_apply.path == "/api/v1/namespaces/ns/configmaps/c?fieldManager=t&force=false"


def test_request_with_status_gives_the_answers_status() -> None:
    with _server() as (port, seen):
        kube = Kube(Credentials(server=f"http://127.0.0.1:{port}"))
        path = "/api/v1/namespaces/ns/configmaps"
        assert kube.request_with_status("POST", path, body=CM) == (201, CM)
        assert kube.request_with_status("GET", path + "/c") == (200, {})
        with pytest.raises(KubeError) as err:
            kube.request_with_status("POST", path, body={**CM, "metadata": {"name": "taken"}})
    assert (err.value.status, err.value.reason) == (409, "AlreadyExists")
    assert [s.content_type for s in seen] == ["application/json", None, "application/json"]
