"""Object sets, the pure part: digests, field paths, drift, the refreshed view, takeovers."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from netplumb.objectset import (
    ObjectSetProvider,
    digest,
    drift,
    fields_v1_paths,
    live_view,
    object_key,
    set_paths,
    takeover_problems,
)
from netplumb.ownership import OWNER_ANNOTATION

OWNER = "netplumb/dev"
CONFIG = json.dumps({"cniVersion": "1.0.0", "name": "br", "type": "bridge"})


def nad(config: str = CONFIG, **extra_meta: Any) -> dict[str, Any]:
    meta = {"name": "br", "namespace": "default",
            "annotations": {OWNER_ANNOTATION: OWNER}, "labels": {"app": "x"}, **extra_meta}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": meta, "spec": {"config": config}}


def managed(*entries: tuple[str, dict[str, Any], str | None]) -> list[dict[str, Any]]:
    out = []
    for manager, fields, sub in entries:
        e: dict[str, Any] = {"manager": manager, "operation": "Update", "fieldsV1": fields}
        if sub:
            e["subresource"] = sub
        out.append(e)
    return out


def test_key_and_digest_are_stable() -> None:
    a, b = nad(), nad()
    b["metadata"] = dict(reversed(list(b["metadata"].items())))
    assert object_key(a) == "NetworkAttachmentDefinition/default/br"
    assert digest(a) == digest(b)
    assert digest(a) != digest(nad(CONFIG.replace("bridge", "macvlan")))


def test_set_paths_stop_at_lists_and_scalars() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}},
           "spec": {"containers": [{"name": "c"}], "restartPolicy": "Never", "x": None}}
    assert set_paths(pod) == {("metadata", "name"): "p", ("metadata", "labels", "a"): "1",
                              ("spec", "containers"): [{"name": "c"}],
                              ("spec", "restartPolicy"): "Never"}


def test_fields_v1_paths() -> None:
    fields = {"f:metadata": {"f:annotations": {".": {}, "f:k8s.v1.cni.cncf.io/network-status":
                                                {}}},
              "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}},
                         "f:config": {}}}
    assert fields_v1_paths(fields) == {
        ("metadata", "annotations", "k8s.v1.cni.cncf.io/network-status"),
        ("spec", "containers"), ("spec", "config")}


def test_unchanged_object_has_no_drift() -> None:
    live = nad()
    live["metadata"]["managedFields"] = managed(
        ("netplumb", {"f:spec": {"f:config": {}}}, None),
        ("kubelet", {"f:status": {"f:phase": {}}}, "status"),
        ("multus", {"f:metadata": {"f:annotations": {"f:other": {}}}}, None))
    live["metadata"]["uid"] = "u"  # fields the server adds are not drift
    assert drift(nad(), live, OWNER) is None


@pytest.mark.parametrize(("live", "why"), [
    (None, "missing"),
    (nad(CONFIG.replace("bridge", "macvlan")), "spec.config is"),
    (nad(annotations={OWNER_ANNOTATION: "netplumb/other"}), "owner annotation"),
    (nad(labels={}), "metadata.labels.app is gone"),
])
def test_drift_is_found_and_explained(live: dict[str, Any] | None, why: str) -> None:
    found = drift(nad(), live, OWNER)
    assert found is not None and why in found


def test_a_foreign_manager_on_our_field_is_drift_only_where_the_value_differs() -> None:
    # server-side apply leaves a field another manager set to the same value co-owned (an
    # adopted NAD's earlier managers): re-applying cannot change that, so it is no drift,
    # or every up would update the set again
    live = nad()
    live["metadata"]["managedFields"] = managed(
        ("kubectl-edit", {"f:spec": {"f:config": {}}}, None))
    assert drift(nad(), live, OWNER) is None
    edited = nad(CONFIG.replace("bridge", "macvlan"))
    edited["metadata"]["managedFields"] = live["metadata"]["managedFields"]
    assert drift(nad(), edited, OWNER) == "spec.config changed by 'kubectl-edit'"


def test_live_view_shows_live_values_where_we_set_scalars() -> None:
    edited = CONFIG.replace("bridge", "macvlan")
    live = nad(edited)
    live["metadata"]["uid"] = "u"
    del live["metadata"]["labels"]["app"]
    view = live_view(nad(), live)
    assert view["spec"]["config"] == edited
    assert "app" not in view["metadata"]["labels"]
    assert "uid" not in view["metadata"]


def test_takeover_problems_name_key_manager_and_setting() -> None:
    theirs = nad(annotations={OWNER_ANNOTATION: "netplumb/team-b"})
    want = {"NetworkAttachmentDefinition/default/br": nad()}
    [problem] = takeover_problems(want, {"NetworkAttachmentDefinition/default/br": theirs},
                                  OWNER, [])
    assert "netplumb stack 'netplumb/team-b'" in problem
    assert "cluster_objects.adopt: ['NetworkAttachmentDefinition/default/br']" in problem
    assert takeover_problems(want, {"NetworkAttachmentDefinition/default/br": theirs}, OWNER,
                             ["NetworkAttachmentDefinition/default/br"]) == []
    assert takeover_problems(want, {}, OWNER, []) == []


def test_kube_client_against_a_fake_apiserver() -> None:
    """Discovery of an unserved group (plain-text 404), paging, apply and delete."""
    import http.server
    import threading

    from netplumb.kube import Credentials, Kube, KubeError

    seen: list[tuple[str, str, str]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # the method name http.server dispatches to
            seen.append(("GET", self.path, ""))
            if self.path == "/apis/example.com/v1":
                self._send(404, b"404 page not found", "text/plain")
            elif self.path == "/api/v1":
                self._send(200, {"resources": [
                    {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
                    {"name": "configmaps/status", "kind": "ConfigMap", "namespaced": True}]})
            elif self.path.startswith("/api/v1/namespaces/ns/configmaps?"):
                page = 2 if "continue=" in self.path else 1
                self._send(200, {"items": [{"metadata": {"name": f"c{page}",
                                                         "namespace": "ns"}}],
                                 "metadata": {"continue": "" if page == 2 else "t"}})
            else:
                self._send(404, {"kind": "Status", "reason": "NotFound", "message": "nope"})

        def do_PATCH(self) -> None:  # the method name http.server dispatches to
            length = int(self.headers["Content-Length"])
            seen.append(("PATCH", self.path, self.headers["Content-Type"]))
            self._send(200, json.loads(self.rfile.read(length)))

        def do_DELETE(self) -> None:  # the method name http.server dispatches to
            seen.append(("DELETE", self.path, ""))
            self._send(409, {"kind": "Status", "reason": "Conflict", "message": "busy"})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kube = Kube(Credentials(server=f"http://127.0.0.1:{server.server_port}"))
        assert kube.get("example.com/v1", "Widget", "w") is None
        assert kube.list("example.com/v1", "Widget") == []
        assert [i["metadata"]["name"] for i in kube.list("v1", "ConfigMap",
                                                         namespace="ns", page=1)] == ["c1", "c2"]
        assert kube.get("v1", "ConfigMap", "absent", "ns") is None
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x",
                                                                    "namespace": "ns"}}
        assert kube.apply(cm, field_manager="netplumb") == cm
        assert ("PATCH", "/api/v1/namespaces/ns/configmaps/x?fieldManager=netplumb&force=true",
                "application/apply-patch+yaml") in seen
        with pytest.raises(KubeError) as err:
            kube.delete("v1", "ConfigMap", "x", "ns")
        assert err.value.status == 409 and err.value.reason == "Conflict"
    finally:
        server.shutdown()


class _PodApi:
    """A stand-in for :class:`netplumb.kube.Kube` that refuses in-place pod spec changes the
    way the apiserver does (422 Invalid) and records every call."""

    def __init__(self, live: dict[str, dict[str, Any]]) -> None:
        self.live = live
        self.calls: list[tuple[str, str]] = []

    def apply(self, m: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        from netplumb.kube import KubeError

        key = object_key(m)
        self.calls.append(("apply", key))
        old = self.live.get(key)
        if old is not None and m["kind"] == "Pod" and old["spec"] != m["spec"]:
            raise KubeError(422, "Invalid", "pod updates may not change fields")
        self.live[key] = m
        return m

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        key = object_key({"apiVersion": api_version, "kind": kind,
                          "metadata": {"name": name, "namespace": namespace}})
        self.calls.append(("delete", key))
        self.live.pop(key, None)

    def iter_list(self, api_version: str, kind: str, *, namespace: str | None = None,
                  label_selector: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.live.values()
                if m["kind"] == kind and m["metadata"].get("namespace") == namespace]


def test_a_pod_change_refused_in_place_replaces_the_pod_and_nothing_else() -> None:
    from netplumb.objectset import apply_all

    def pod(name: str, selector: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeSelector": selector, "containers": [{"name": "c"}]}}

    moved, kept = pod("moved", {}), pod("kept", {})
    api = _PodApi({object_key(moved): moved, object_key(kept): kept})
    pinned = pod("moved", {"kubernetes.io/hostname": "worker-1"})
    apply_all(api, [pinned, kept])  # type: ignore[arg-type]
    assert api.live[object_key(pinned)]["spec"]["nodeSelector"] == {
        "kubernetes.io/hostname": "worker-1"}
    assert ("delete", object_key(pinned)) in api.calls
    assert ("delete", object_key(kept)) not in api.calls
    assert api.calls[-1] == ("apply", object_key(pinned))


def test_a_stacks_state_names_the_provider_by_module_path() -> None:
    # Pulumi keeps the dynamic provider in the stack's state, pickled by reference: a stack
    # made before cannot refresh or destroy unless the provider stays where the state says.
    data = base64.b64decode(serialize_provider(ObjectSetProvider()))
    assert type(pickle.loads(data)) is ObjectSetProvider
    assert b"netplumb.objectset" in data and b"ObjectSetProvider" in data
