"""Embedded node agent: plays the kubelet's API-facing role for one Node.

Run as ``python -m harness.node --kubeconfig K [--node-name N] [--podnet null|multus|mod:Class]``
(``harness.cluster.up`` starts it with a pidfile and a log like the other components).

It registers the Node (Ready, no pressure, InternalIP 127.0.0.1, capacity and allocatable
cpu/memory/pods=110), renews its Lease in ``kube-node-lease`` every 10 s, and watches the
pods bound to the node:

* a new pod gets its network from the :class:`PodNetwork` (host-network pods skip it) and
  then status Running, with Initialized/Ready/ContainersReady/PodScheduled True, one running
  containerStatus per container, podIP(s), hostIP and startTime;
* if the network setup fails, a Warning event ``FailedCreatePodSandBox`` is recorded, the
  pod stays Pending and the setup is retried with exponential backoff;
* a pod with a deletionTimestamp has its network torn down and is then deleted with grace 0.

On start it lists the pods already bound to the node and reconciles them (restart-safe): the
pod network gets one :meth:`PodNetwork.gc` call with every pod that still exists, then
``setup`` again for each live pod (``setup`` is idempotent).

The agent speaks to the apiserver with the standard library only (JSON over HTTPS, one
keep-alive connection per thread, a streaming watch): it starts in a fraction of a second
and pods reach :class:`PodNetwork` implementations as plain JSON dicts.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import heapq
import http.client
import importlib
import ipaddress
import json
import logging
import os
import platform
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

log = logging.getLogger("netplumb.node")

Pod = dict[str, Any]
"""A Pod exactly as the apiserver serves it (the decoded JSON object)."""

DEFAULT_NODE_NAME = "netplumb-node-0"
HOST_IP = "127.0.0.1"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
LEASE_RENEW_S = 10.0
NODE_STATUS_REFRESH_S = 60.0
MAX_PODS = 110
WORKERS = 4
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
FIELD_MANAGER = "netplumb-node"


# --------------------------------------------------------------------------- pod network


class PodNetworkError(RuntimeError):
    """Raised by a :class:`PodNetwork` when a pod's network cannot be set up."""


@dataclass(frozen=True)
class PodNetworkContext:
    """What a pod network implementation is constructed with: ``Impl(ctx)``."""

    node_name: str
    kubeconfig: Path
    """Kubeconfig the agent itself uses (e.g. for Multus' own API access)."""
    state_dir: Path
    """A directory the implementation may use for its own state (exists, survives restarts)."""
    host_ip: str = HOST_IP


class PodNetwork(Protocol):
    """The node's pod network (the kubelet's CRI sandbox + CNI role).

    Implementations are built as ``Impl(ctx: PodNetworkContext)`` and must be thread-safe:
    the agent calls them from several worker threads, but never concurrently for the same pod.
    """

    def setup(self, pod: Pod) -> list[str]:
        """Give ``pod`` its network and return its IPs, primary first.

        Must be idempotent: called again for a pod already set up (after an agent restart,
        say) it returns the same IPs without redoing the work. Raise an exception (ideally
        :class:`PodNetworkError`) on failure; its message becomes the pod's
        ``FailedCreatePodSandBox`` event and the call is retried with backoff.
        """
        ...

    def teardown(self, pod: Pod) -> None:
        """Release everything ``setup`` made for ``pod``. Idempotent; also called for pods
        whose setup failed or never ran. ``pod`` is its last known state."""
        ...

    def gc(self, live: Mapping[str, Pod]) -> None:
        """Called once at agent start, before any ``setup``, with every pod bound to this
        node keyed by UID: release whatever belongs to pods not in ``live`` (orphans)."""
        ...


class NullPodNetwork:
    """No data path: hands out addresses from a fake range (10.244.0.0/16) and remembers
    which pod has which, adopting the IPs of pods already running on restart."""

    NETWORK = ipaddress.ip_network("10.244.0.0/16")

    def __init__(self, ctx: PodNetworkContext | None = None) -> None:
        self._lock = threading.Lock()
        self._by_uid: dict[str, str] = {}
        self._hosts = self.NETWORK.hosts()
        next(self._hosts)  # .1 is the "gateway"
        self._free: list[int] = []

    def _allocate(self) -> str:
        used = set(self._by_uid.values())
        while self._free:
            ip = str(ipaddress.ip_address(heapq.heappop(self._free)))
            if ip not in used:
                return ip
        for addr in self._hosts:
            if str(addr) not in used:
                return str(addr)
        raise PodNetworkError(f"no free address left in {self.NETWORK}")

    def setup(self, pod: Pod) -> list[str]:
        uid = pod["metadata"]["uid"]
        with self._lock:
            if uid in self._by_uid:
                return [self._by_uid[uid]]
            current = (pod.get("status") or {}).get("podIP")
            if (
                current
                and ipaddress.ip_address(current) in self.NETWORK
                and current not in self._by_uid.values()
            ):
                self._by_uid[uid] = current
            else:
                self._by_uid[uid] = self._allocate()
            return [self._by_uid[uid]]

    def teardown(self, pod: Pod) -> None:
        with self._lock:
            ip = self._by_uid.pop(pod["metadata"]["uid"], None)
            if ip is not None:
                heapq.heappush(self._free, int(ipaddress.ip_address(ip)))

    def gc(self, live: Mapping[str, Pod]) -> None:
        with self._lock:
            for uid in [u for u in self._by_uid if u not in live]:
                heapq.heappush(self._free, int(ipaddress.ip_address(self._by_uid.pop(uid))))


PODNETS = {
    "null": "harness.node:NullPodNetwork",
    "multus": "harness.podnet:MultusPodNetwork",
}


def load_pod_network(spec: str, ctx: PodNetworkContext) -> PodNetwork:
    """``null``, ``multus`` or ``package.module:Class`` -> an instance built with ``ctx``."""
    if spec == "null":
        return NullPodNetwork(ctx)
    target = PODNETS.get(spec, spec)
    if ":" not in target:
        raise ValueError(f"unknown pod network {spec!r}: use null, multus or module:Class")
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    impl: PodNetwork = cls(ctx)
    return impl


# --------------------------------------------------------------------------- API client


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, body: bytes) -> None:
        self.status = status
        try:
            self.reason = str(json.loads(body).get("message", ""))
        except ValueError:
            self.reason = body[:200].decode(errors="replace")
        super().__init__(f"{method} {path}: HTTP {status}: {self.reason}")


class Api:
    """Minimal JSON-over-HTTPS client from a kubeconfig (client certs or a bearer token)."""

    def __init__(self, kubeconfig: Path, timeout: float = 30.0) -> None:
        cfg = yaml.safe_load(kubeconfig.read_text())
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        url = urllib.parse.urlsplit(cluster["server"])
        self.host = url.hostname or HOST_IP
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
        self.headers = {"Accept": "application/json", "User-Agent": "netplumb-node/0.1"}
        if token := user.get("token"):
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()

    def _conn(self, timeout: float | None = None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl, timeout=timeout or self.timeout
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
    ) -> Any:
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

    def merge_patch(self, path: str, body: Any) -> Any:
        return self.request(
            "PATCH",
            path,
            body,
            "application/merge-patch+json",
            query={"fieldManager": FIELD_MANAGER},
        )

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


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- work queue


class WorkQueue:
    """Keys processed by one worker at a time; re-added while processing -> processed again;
    ``add_after`` schedules a delayed add (client-go workqueue semantics, in small)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, str]] = []
        self._closed = False

    def add(self, key: str) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: str) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._delayed, (time.monotonic() + delay, key))
            self._cond.notify_all()

    def get(self) -> str | None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    self._add_locked(heapq.heappop(self._delayed)[1])
                if self._closed:
                    return None
                if self._queue:
                    key = self._queue.pop(0)
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# --------------------------------------------------------------------------- pod status


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _image_id(image: str) -> str:
    if "@sha256:" in image:
        return image
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{_hash('image', image)}"


def _ready_condition_types(pod: Pod) -> list[str]:
    return [g["conditionType"] for g in (pod["spec"].get("readinessGates") or [])]


def desired_status(pod: Pod, ips: list[str], host_ip: str) -> dict[str, Any]:
    """The status a kubelet would report for ``pod`` with all containers running."""
    spec, status = pod["spec"], pod.get("status") or {}
    uid = pod["metadata"]["uid"]
    now = _now()
    old_conds = {c["type"]: c for c in status.get("conditions") or []}
    old_cs = {c["name"]: c for c in status.get("containerStatuses") or []}
    old_ics = {c["name"]: c for c in status.get("initContainerStatuses") or []}
    start = status.get("startTime") or now

    def running(c: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        started_at = now
        if old and old.get("image") == c["image"] and "running" in (old.get("state") or {}):
            started_at = old["state"]["running"].get("startedAt") or now
        return {
            "name": c["name"],
            "image": c["image"],
            "imageID": _image_id(c["image"]),
            "containerID": f"containerd://{_hash(uid, c['name'])}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started_at}},
        }

    def completed(c: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        term = ((old or {}).get("state") or {}).get("terminated")
        if not term or old is None or old.get("image") != c["image"]:
            term = {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": now}
        return {
            "name": c["name"],
            "image": c["image"],
            "imageID": _image_id(c["image"]),
            "containerID": f"containerd://{_hash(uid, c['name'])}",
            "ready": True,
            "started": False,
            "restartCount": 0,
            "state": {"terminated": term},
        }

    containers = [running(c, old_cs.get(c["name"])) for c in spec.get("containers", [])]
    inits = [
        running(c, old_ics.get(c["name"]))
        if c.get("restartPolicy") == "Always"  # sidecar
        else completed(c, old_ics.get(c["name"]))
        for c in spec.get("initContainers") or []
    ]

    gates = _ready_condition_types(pod)
    gates_ok = all(old_conds.get(g, {}).get("status") == "True" for g in gates)

    def cond(ctype: str, ok: bool = True, reason: str | None = None) -> dict[str, Any]:
        value = "True" if ok else "False"
        old = old_conds.get(ctype)
        c: dict[str, Any] = {
            "type": ctype,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": old["lastTransitionTime"]
            if old and old.get("status") == value and old.get("lastTransitionTime")
            else now,
        }
        if reason:
            c["reason"] = reason
        return c

    ours = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    conditions = [
        cond("PodReadyToStartContainers"),
        cond("Initialized"),
        cond("Ready", gates_ok, None if gates_ok else "ReadinessGatesNotReady"),
        cond("ContainersReady"),
        old_conds.get("PodScheduled") or cond("PodScheduled"),
    ]
    conditions += [c for t, c in old_conds.items() if t not in ours]

    result: dict[str, Any] = {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ips[0],
        "podIPs": [{"ip": ip} for ip in ips],
        "startTime": start,
        "containerStatuses": containers,
    }
    if inits:
        result["initContainerStatuses"] = inits
    return result


def _status_matches(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Ignoring timestamps, does ``current`` already say what ``desired`` says?"""

    def strip(status: dict[str, Any]) -> Any:
        conds = sorted(
            ((c.get("type"), c.get("status")) for c in status.get("conditions") or []),
            key=lambda t: str(t[0]),
        )
        cs = [
            (c.get("name"), c.get("image"), c.get("ready"), sorted((c.get("state") or {}).keys()))
            for c in (status.get("containerStatuses") or [])
            + (status.get("initContainerStatuses") or [])
        ]
        return (
            status.get("phase"),
            status.get("hostIP"),
            [p.get("ip") for p in status.get("podIPs") or []],
            conds,
            cs,
        )

    return bool(strip(current) == strip(desired))


# --------------------------------------------------------------------------- the agent


def _meminfo_kib() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 8 * 1024 * 1024


class NodeAgent:
    def __init__(
        self,
        api: Api,
        node_name: str,
        podnet: PodNetwork,
        host_ip: str = HOST_IP,
    ) -> None:
        self.api = api
        self.node_name = node_name
        self.podnet = podnet
        self.host_ip = host_ip
        self.stop = threading.Event()
        self.queue = WorkQueue()
        self._lock = threading.Lock()
        self._pods: dict[str, Pod] = {}  # uid -> last seen state
        self._gone: set[str] = set()  # uids deleted from the API, awaiting teardown
        self._setup: dict[str, list[str]] = {}  # uid -> IPs handed out by the pod network
        self._failures: dict[str, int] = {}  # uid -> consecutive setup failures
        self._events: dict[str, tuple[str, int]] = {}  # uid -> (event name, count)
        self._node_uid: str | None = None
        self._kubelet_version = "v0.0.0"
        self._last_status = 0.0

    # ---------------------------------------------------------------- node + lease

    def _node_object(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64" if platform.machine() == "x86_64" else "arm64",
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64"
                    if platform.machine() == "x86_64"
                    else "arm64",
                    "netplumb.dev/embedded": "true",
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
        }

    def _node_status(self) -> dict[str, Any]:
        now = _now()
        cpu = str(os.cpu_count() or 1)
        resources = {
            "cpu": cpu,
            "memory": f"{_meminfo_kib()}Ki",
            "pods": str(MAX_PODS),
            "ephemeral-storage": "100Gi",
        }

        def cond(ctype: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        uname = os.uname()
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": _hash("machine", self.node_name)[:32],
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name)),
                "bootID": _hash("boot", str(os.getpid()))[:32],
                "kernelVersion": uname.release,
                "osImage": "netplumb embedded node",
                "containerRuntimeVersion": "netplumb://0.1.0",
                "kubeletVersion": self._kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64" if platform.machine() == "x86_64" else "arm64",
            },
        }

    def _preserve_transitions(self, status: dict[str, Any], node: dict[str, Any]) -> None:
        old = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
        for c in status["conditions"]:
            o = old.get(c["type"])
            if o and o.get("status") == c["status"] and o.get("lastTransitionTime"):
                c["lastTransitionTime"] = o["lastTransitionTime"]

    def register(self) -> None:
        """Create the Node if missing and report its status."""
        with contextlib.suppress(Exception):
            self._kubelet_version = str(self.api.get("/version")["gitVersion"])
        try:
            node = self.api.get(f"/api/v1/nodes/{self.node_name}")
        except ApiError as e:
            if e.status != 404:
                raise
            node = self.api.request("POST", "/api/v1/nodes", self._node_object())
            log.info("registered node %s", self.node_name)
        self._node_uid = node["metadata"]["uid"]
        self._report_status(node)

    def _report_status(self, node: dict[str, Any]) -> None:
        status = self._node_status()
        self._preserve_transitions(status, node)
        self.api.merge_patch(f"/api/v1/nodes/{self.node_name}/status", {"status": status})
        self._last_status = time.monotonic()

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.node_name}"
        spec = {
            "holderIdentity": self.node_name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": _now_micro(),
        }
        try:
            self.api.merge_patch(path, {"spec": spec})
        except ApiError as e:
            if e.status != 404:
                raise
            meta: dict[str, Any] = {"name": self.node_name, "namespace": LEASE_NAMESPACE}
            if self._node_uid:
                meta["ownerReferences"] = [
                    {
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": self.node_name,
                        "uid": self._node_uid,
                    }
                ]
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": meta,
                "spec": spec,
            }
            self.api.request(
                "POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases", body
            )

    def heartbeat_loop(self) -> None:
        while not self.stop.is_set():
            try:
                node = self.api.get(f"/api/v1/nodes/{self.node_name}")
                ready = any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in (node.get("status") or {}).get("conditions") or []
                )
                if node["metadata"]["uid"] != self._node_uid:
                    self._node_uid = node["metadata"]["uid"]
                    ready = False
                if not ready or time.monotonic() - self._last_status > NODE_STATUS_REFRESH_S:
                    self._report_status(node)
                self.renew_lease()
            except ApiError as e:
                if e.status == 404:
                    log.warning("node %s is gone: registering again", self.node_name)
                    with contextlib.suppress(Exception):
                        self.register()
                else:
                    log.warning("heartbeat: %s", e)
            except Exception as e:
                log.warning("heartbeat: %s", e)
            self.stop.wait(LEASE_RENEW_S)

    # ---------------------------------------------------------------- pods

    def _pods_path(self) -> tuple[str, dict[str, str]]:
        return "/api/v1/pods", {"fieldSelector": f"spec.nodeName={self.node_name}"}

    def list_pods(self) -> tuple[list[Pod], str]:
        path, query = self._pods_path()
        lst = self.api.get(path, query)
        items: list[Pod] = lst.get("items") or []
        return items, str(lst["metadata"]["resourceVersion"])

    def _observe(self, pod: Pod, gone: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            self._pods[uid] = pod
            if gone:
                self._gone.add(uid)
        self.queue.add(uid)

    def watch_loop(self, initial_rv: str | None) -> None:
        rv = initial_rv
        path, query = self._pods_path()
        while not self.stop.is_set():
            try:
                if rv is None:
                    items, rv = self.list_pods()
                    seen = {p["metadata"]["uid"] for p in items}
                    with self._lock:
                        missing = [p for u, p in self._pods.items() if u not in seen]
                    for p in missing:
                        self._observe(p, gone=True)
                    for p in items:
                        self._observe(p)
                q = dict(
                    query, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="300"
                )
                for ev in self.api.watch(path, q, self.stop):
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            log.info("watch expired, relisting")
                            rv = None
                            break
                        raise ApiError(
                            int(obj.get("code", 500)), "WATCH", path, json.dumps(obj).encode()
                        )
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_rv:
                        rv = new_rv
                    if kind in ("ADDED", "MODIFIED"):
                        self._observe(obj)
                    elif kind == "DELETED":
                        self._observe(obj, gone=True)
            except ApiError as e:
                if e.status == 410:
                    rv = None
                else:
                    log.warning("watch: %s", e)
                    self.stop.wait(1.0)
            except Exception as e:
                if not self.stop.is_set():
                    log.warning("watch: %s", e)
                    self.stop.wait(1.0)

    def worker(self) -> None:
        while True:
            uid = self.queue.get()
            if uid is None:
                return
            try:
                self.reconcile(uid)
            except Exception as e:
                log.exception("reconcile %s: %s", uid, e)
                self.queue.add_after(uid, BACKOFF_INITIAL_S)
            finally:
                self.queue.done(uid)

    def _pod_path(self, pod: Pod) -> str:
        m = pod["metadata"]
        return f"/api/v1/namespaces/{m['namespace']}/pods/{m['name']}"

    def _teardown(self, pod: Pod) -> None:
        if pod["spec"].get("hostNetwork"):
            return
        self.podnet.teardown(pod)

    def reconcile(self, uid: str) -> None:
        with self._lock:
            pod = self._pods.get(uid)
            gone = uid in self._gone
        if pod is None:
            return
        m = pod["metadata"]
        name = f"{m['namespace']}/{m['name']}"
        if gone:
            self._teardown(pod)
            with self._lock:
                self._pods.pop(uid, None)
                self._gone.discard(uid)
                self._setup.pop(uid, None)
                self._failures.pop(uid, None)
                self._events.pop(uid, None)
            log.info("pod %s gone", name)
            return
        if m.get("deletionTimestamp"):
            self._teardown(pod)
            with self._lock:
                self._setup.pop(uid, None)
            body = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid},
            }
            try:
                self.api.request("DELETE", self._pod_path(pod), body)
                log.info("pod %s finalised", name)
            except ApiError as e:
                if e.status not in (404, 409):
                    raise
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        with self._lock:
            ips = self._setup.get(uid)
        if ips is None:
            if pod["spec"].get("hostNetwork"):
                ips = [self.host_ip]
            else:
                t = time.monotonic()
                try:
                    ips = list(self.podnet.setup(pod))
                    if not ips:
                        raise PodNetworkError("pod network returned no IP")
                except Exception as e:
                    self._setup_failed(pod, e)
                    return
                log.info("pod %s network up %s (%.2fs)", name, ips, time.monotonic() - t)
            with self._lock:
                self._setup[uid] = ips
                self._failures.pop(uid, None)
        desired = desired_status(pod, ips, self.host_ip)
        if _status_matches(status, desired):
            return
        try:
            self.api.merge_patch(f"{self._pod_path(pod)}/status", {"status": desired})
        except ApiError as e:
            if e.status == 404:
                return
            raise
        log.info("pod %s Running %s", name, ips)

    def _setup_failed(self, pod: Pod, err: Exception) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            n = self._failures[uid] = self._failures.get(uid, 0) + 1
        delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (n - 1))
        msg = f"Failed to create pod sandbox: {err}"
        log.warning(
            "pod %s/%s: %s (attempt %d, retry in %.0fs)",
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            msg,
            n,
            delay,
        )
        try:
            self.record_event(pod, "Warning", "FailedCreatePodSandBox", msg)
        except Exception as e:
            log.warning("recording event: %s", e)
        self.queue.add_after(uid, delay)

    def record_event(self, pod: Pod, etype: str, reason: str, message: str) -> None:
        """A core/v1 Event about ``pod`` from the kubelet (repeats bump the count)."""
        m = pod["metadata"]
        ns, uid = m["namespace"], m["uid"]
        now = _now()
        with self._lock:
            prev = self._events.get(uid)
        if prev is not None:
            name, count = prev
            try:
                self.api.merge_patch(
                    f"/api/v1/namespaces/{ns}/events/{name}",
                    {"count": count + 1, "lastTimestamp": now, "message": message},
                )
                with self._lock:
                    self._events[uid] = (name, count + 1)
                return
            except ApiError as e:
                if e.status != 404:
                    raise
        name = f"{m['name']}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": ns,
                "name": m["name"],
                "uid": uid,
                "resourceVersion": m.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": etype,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.api.request("POST", f"/api/v1/namespaces/{ns}/events", body)
        with self._lock:
            self._events[uid] = (name, 1)

    # ---------------------------------------------------------------- main

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self.register()
                self.renew_lease()
                break
            except Exception as e:
                if time.monotonic() > deadline or self.stop.is_set():
                    raise
                log.info("waiting for the apiserver: %s", e)
                self.stop.wait(0.5)
        log.info("node %s Ready", self.node_name)

        items, rv = self.list_pods()
        self.podnet.gc({p["metadata"]["uid"]: p for p in items})
        threads = [threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True)]
        threads += [
            threading.Thread(target=self.worker, name=f"worker-{i}", daemon=True)
            for i in range(WORKERS)
        ]
        for p in items:
            self._observe(p)
        log.info("reconciling %d existing pod(s)", len(items))
        threads.append(
            threading.Thread(target=self.watch_loop, args=(rv,), name="watch", daemon=True)
        )
        for t in threads:
            t.start()
        self.stop.wait()
        self.queue.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.node", description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", type=Path, required=True)
    ap.add_argument("--node-name", default=DEFAULT_NODE_NAME)
    ap.add_argument(
        "--podnet",
        default=os.environ.get("NETPLUMB_PODNET", "null"),
        help="null, multus or module:Class (default: $NETPLUMB_PODNET or null)",
    )
    ap.add_argument(
        "--cluster-dir", type=Path, help="cluster state directory (node state lives below)"
    )
    ap.add_argument("--pidfile", type=Path)
    args = ap.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(message)s",
        stream=sys.stderr,
    )
    if args.pidfile:
        args.pidfile.write_text(f"{os.getpid()}\n")
    state = (args.cluster_dir or args.kubeconfig.parent) / "node" / args.node_name
    state.mkdir(parents=True, exist_ok=True)
    ctx = PodNetworkContext(args.node_name, args.kubeconfig.resolve(), state.resolve())
    podnet = load_pod_network(args.podnet, ctx)
    log.info("pod network: %s (%s)", args.podnet, type(podnet).__name__)
    agent = NodeAgent(Api(args.kubeconfig), args.node_name, podnet)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
