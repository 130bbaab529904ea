"""The harness' Kubernetes API client: JSON over HTTPS from a kubeconfig, standard library only.

One client for the whole harness (cluster health checks, the node's readiness, verification,
the platform check, benchmarks): client certificates or a bearer token, one keep-alive
connection per thread, streaming watches. It starts in milliseconds and speaks plain dicts,
which is all the harness needs; tests may use the ``kubernetes`` package on top of the same
kubeconfig.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

USER_AGENT = "netplumb-harness/0.1"
T = TypeVar("T")


class ApiError(Exception):
    """The apiserver answered with an HTTP error (``status``, ``reason``)."""

    def __init__(self, status: int, method: str, path: str, body: bytes) -> None:
        self.status = status
        try:
            self.reason = str(json.loads(body).get("message", ""))
        except ValueError:
            self.reason = body[:200].decode(errors="replace")
        super().__init__(f"{method} {path}: HTTP {status}: {self.reason}")


class Api:
    """A minimal client for the cluster of ``kubeconfig`` (its current context)."""

    def __init__(self, kubeconfig: Path, timeout: float = 30.0) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        url = urllib.parse.urlsplit(cluster["server"])
        self.server = str(cluster["server"])
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.timeout = timeout
        base = kubeconfig.parent

        def material(data_key: str, file_key: str, src: dict[str, Any]) -> bytes | None:
            if data := src.get(data_key):
                return base64.b64decode(str(data))
            if file := src.get(file_key):
                return (base / str(file)).read_bytes()
            return None

        self.ssl = ssl.create_default_context()
        ca = material("certificate-authority-data", "certificate-authority", cluster)
        if ca:
            self.ssl.load_verify_locations(cadata=ca.decode())
        if cluster.get("insecure-skip-tls-verify"):
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE
        cert = material("client-certificate-data", "client-certificate", user)
        key = material("client-key-data", "client-key", user)
        if cert and key:
            with tempfile.TemporaryDirectory() as d:
                cf, kf = Path(d) / "c", Path(d) / "k"
                cf.write_bytes(cert)
                kf.touch(mode=0o600)
                kf.write_bytes(key)
                self.ssl.load_cert_chain(str(cf), str(kf))
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if token := user.get("token"):
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()

    def _conn(self, timeout: float | None = None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl,
                                           timeout=timeout or self.timeout)

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json",
                query: Mapping[str, str] | None = None) -> Any:
        """One call; the decoded JSON answer (None for an empty body). :class:`ApiError` on
        HTTP errors; a dropped keep-alive connection is retried once."""
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.status >= 400:
                raise ApiError(resp.status, method, path, raw)
            return json.loads(raw) if raw else None
        raise AssertionError("unreachable")

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> Any:
        """The object, or None when it does not exist (404)."""
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def create(self, path: str, body: Any) -> Any:
        """POST ``body``; an object that already exists (409) is left as it is (None)."""
        try:
            return self.request("POST", path, body)
        except ApiError as e:
            if e.status == 409:
                return None
            raise

    def delete(self, path: str, query: Mapping[str, str] | None = None) -> bool:
        """DELETE; False if it was not there."""
        try:
            self.request("DELETE", path, query=query)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body, "application/merge-patch+json")

    def healthy(self, path: str = "/readyz") -> bool:
        """GET ``path`` answered 200 (any error: False)."""
        try:
            conn = self._conn(2.0)
            try:
                conn.request("GET", path, headers=self.headers)
                resp = conn.getresponse()
                resp.read()
                return resp.status == 200
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False

    def watch(self, path: str, query: Mapping[str, str], stop: threading.Event) -> Iterator[Any]:
        """Stream watch events (decoded JSON) until the server ends the watch."""
        q = dict(query)
        q["watch"] = "1"
        timeout = float(q.get("timeoutSeconds", "300")) + 30
        conn = self._conn(timeout)
        try:
            conn.request("GET", f"{path}?{urllib.parse.urlencode(q)}", headers=self.headers)
            resp = conn.getresponse()
            if resp.status >= 400:
                raise ApiError(resp.status, "WATCH", path, resp.read())
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60.0,
             interval: float = 0.2) -> T:
    """``fn()`` until it returns something true (exceptions count as "not yet"); raise
    :class:`TimeoutError` naming ``what`` and the last error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # retried until the deadline
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


def node_ready(node: Mapping[str, Any]) -> bool:
    """Ready=True and no not-ready/unreachable taint left on the Node."""
    conds = {c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions", [])}
    taints = node.get("spec", {}).get("taints") or []
    blocked = any(t.get("key", "").startswith("node.kubernetes.io/")
                  and t.get("effect") in ("NoSchedule", "NoExecute") for t in taints)
    return conds.get("Ready") == "True" and not blocked


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conds = {c.get("type"): c.get("status")
             for c in (pod.get("status") or {}).get("conditions") or []}
    return (pod.get("status") or {}).get("phase") == "Running" and conds.get("Ready") == "True"
