"""The harness' Kubernetes API client, on :class:`netplumb.kube.Kube` (kubeconfig -> HTTPS,
one keep-alive connection per thread).

One client for the whole harness and the tests (cluster health checks, the node's readiness,
verification, the installed network's state, benchmarks, the e2e tests' objects):
:class:`Api` adds what they need on top of netplumb's client -- calls by API path,
create/delete that tolerate "already there"/"already gone", health endpoints, and streaming
watches; ``Api.kube`` is netplumb's client itself (calls by apiVersion and kind, server-side
apply, dry runs). ``impersonate`` acts as another user and its groups.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from netplumb.kube import Kube, KubeError, load_credentials
from netplumb.waiting import wait_for as wait_for  # where the tests import it from

ApiError = KubeError
"""An API call failed (``status``: the HTTP status, 0 when nothing answered)."""


class Api:
    """The cluster of ``kubeconfig`` (its current context), addressed by API path; with
    ``impersonate`` (user, groups), every call acts as that user of those groups."""

    def __init__(self, kubeconfig: Path, timeout: float = 30.0, *,
                 impersonate: tuple[str, Sequence[str]] | None = None) -> None:
        self.kube = Kube(load_credentials(str(kubeconfig)), timeout=timeout,
                         impersonate=impersonate)
        self.server = self.kube.creds.server

    def request(self, method: str, path: str, body: Any = None,
                content_type: str = "application/json",
                query: Mapping[str, str] | None = None) -> Any:
        """One call; the decoded JSON answer (None for an empty body)."""
        return self.kube.request(method, path, query=query, body=body,
                                 content_type=content_type)

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
            self.kube.request_text(path)
            return True
        except ApiError:
            return False

    def watch(self, path: str, query: Mapping[str, str], stop: threading.Event) -> Iterator[Any]:
        """Stream watch events (decoded JSON) until the server ends the watch."""
        return self.kube.watch(path, query, stop)


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
