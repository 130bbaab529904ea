"""A small Kubernetes API client: kubeconfig (or in-cluster) → HTTPS requests with JSON.

netplumb talks to clusters in a few places (the ownership check at preview, the object sets'
apply/list/delete, ``verify`` and ``doctor``); this module is the one client they share. It
resolves credentials the way ``kubectl`` and the Pulumi kubernetes provider do:

* an explicit kubeconfig (a path or the YAML text) and context, else ``$KUBECONFIG`` (a list of
  files, the first definition of each name wins), else ``~/.kube/config``, else the in-cluster
  service account;
* client certificates (files or ``-data``), bearer tokens (``token``/``tokenFile``), basic
  auth, and ``exec`` credential plugins (``client.authentication.k8s.io`` v1 and v1beta1);
* the cluster's CA (file or data), ``tls-server-name`` and ``insecure-skip-tls-verify``;
* a proxy: the cluster's ``proxy-url`` (``http://`` or ``https://`` proxies, with
  ``user:password@`` for basic proxy auth; ``socks5://`` is refused with a clear error), else,
  as client-go does, ``HTTPS_PROXY`` (``HTTP_PROXY`` for an ``http://`` server) unless
  ``NO_PROXY`` names the server (a host, a domain suffix, an IP, a CIDR or ``*``); a loopback
  server is never proxied. Requests go through the proxy in a CONNECT tunnel.

Connections are kept alive per thread, so a thread pool can apply objects in parallel.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(RuntimeError):
    """An API call failed: ``status`` is the HTTP status (0: no answer), ``reason`` the
    Kubernetes Status reason (``NotFound``, ``AlreadyExists``, ``Conflict``, …)."""

    def __init__(self, status: int, reason: str, message: str, *, method: str = "",
                 path: str = "") -> None:
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class KubeConfigError(ValueError):
    """The kubeconfig cannot be used (missing file, context, cluster or credentials)."""


# --------------------------------------------------------------------------- kubeconfig


@dataclass
class Credentials:
    """What one context resolves to."""

    server: str
    ca_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: Path | None = None
    basic: tuple[str, str] | None = None
    exec_spec: dict[str, Any] | None = None
    proxy_url: str | None = None
    """The cluster's ``proxy-url`` (a proxy from the environment applies where it is unset:
    :func:`proxy_for`)."""
    context: str = ""
    cluster_name: str = ""
    """The kubeconfig's name of the context's cluster."""
    source: str = ""
    _exec_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def bearer(self) -> str | None:
        if self.token_file is not None:
            return self.token_file.read_text().strip()
        if self.token:
            return self.token
        if self.exec_spec is not None:
            status = self._exec_status()
            token = status.get("token")
            return str(token) if token else None
        return None

    def client_cert(self) -> tuple[bytes, bytes] | None:
        if self.cert_data and self.key_data:
            return self.cert_data, self.key_data
        if self.exec_spec is not None:
            status = self._exec_status()
            cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
            if cert and key:
                return str(cert).encode(), str(key).encode()
        return None

    def _exec_status(self) -> dict[str, Any]:
        cached = self._exec_cache.get("status")
        expiry = self._exec_cache.get("expiry")
        now = dt.datetime.now(dt.UTC)
        if cached is not None and (expiry is None or expiry > now + dt.timedelta(seconds=30)):
            return dict(cached)
        spec = self.exec_spec or {}
        api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
        env = dict(os.environ)
        for item in spec.get("env") or []:
            env[str(item["name"])] = str(item["value"])
        env["KUBERNETES_EXEC_INFO"] = json.dumps({
            "apiVersion": api_version, "kind": "ExecCredential",
            "spec": {"interactive": False}})
        argv = [str(spec["command"]), *[str(a) for a in spec.get("args") or []]]
        try:
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                                 check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise KubeConfigError(f"credential plugin {argv[0]!r} failed: {exc}") from None
        status = dict(json.loads(out).get("status") or {})
        stamp = status.get("expirationTimestamp")
        self._exec_cache["status"] = status
        self._exec_cache["expiry"] = (
            dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None)
        return status


def _data_or_file(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(str(data))
    path = entry.get(key)
    if path:
        p = Path(str(path)).expanduser()
        if not p.is_absolute():
            p = base / p
        try:
            return p.read_bytes()
        except OSError as exc:
            raise KubeConfigError(f"{key} {p}: {exc.strerror}") from None
    return None


def _kubeconfig_docs(kubeconfig: str | None) -> list[tuple[dict[str, Any], Path, str]]:
    """(document, directory for relative paths, where) of every kubeconfig source in order."""
    if kubeconfig and ("\n" in kubeconfig or kubeconfig.lstrip().startswith("{")):
        doc = yaml.safe_load(kubeconfig)
        if not isinstance(doc, dict):
            raise KubeConfigError("the kubeconfig text is not a YAML mapping")
        return [(doc, Path.cwd(), "<kubeconfig text>")]
    if kubeconfig:
        paths = [Path(kubeconfig).expanduser()]
    elif os.environ.get("KUBECONFIG"):
        paths = [Path(p).expanduser() for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    else:
        paths = [Path.home() / ".kube" / "config"]
    docs = []
    for p in paths:
        if not p.is_file():
            if kubeconfig:
                raise KubeConfigError(f"kubeconfig {p} does not exist")
            continue
        doc = yaml.safe_load(p.read_text()) or {}
        if not isinstance(doc, dict):
            raise KubeConfigError(f"kubeconfig {p} is not a YAML mapping")
        docs.append((doc, p.parent, str(p)))
    return docs


def _named(docs: Sequence[tuple[dict[str, Any], Path, str]], section: str, key: str,
           name: str) -> tuple[dict[str, Any], Path]:
    for doc, base, _ in docs:
        for item in doc.get(section) or []:
            if item.get("name") == name:
                return dict(item.get(key) or {}), base
    raise KubeConfigError(f"kubeconfig has no {key} named {name!r}")


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Resolve a context to :class:`Credentials` (see the module docstring for the order)."""
    docs = _kubeconfig_docs(kubeconfig)
    if not docs:
        if (IN_CLUSTER_DIR / "token").is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            host = os.environ["KUBERNETES_SERVICE_HOST"]
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            host = f"[{host}]" if ":" in host else host
            ca = IN_CLUSTER_DIR / "ca.crt"
            return Credentials(server=f"https://{host}:{port}",
                               ca_data=ca.read_bytes() if ca.is_file() else None,
                               token_file=IN_CLUSTER_DIR / "token", source="in-cluster")
        raise KubeConfigError("no kubeconfig: set KUBECONFIG, or kubernetes:kubeconfig in the "
                              "stack config, or write ~/.kube/config")
    ctx_name = context or next((str(d["current-context"]) for d, _, _ in docs
                                if d.get("current-context")), "")
    if not ctx_name:
        raise KubeConfigError("the kubeconfig sets no current-context and none was given")
    ctx, _ = _named(docs, "contexts", "context", ctx_name)
    cluster, cbase = _named(docs, "clusters", "cluster", str(ctx.get("cluster", "")))
    user: dict[str, Any] = {}
    ubase = cbase
    if ctx.get("user"):
        user, ubase = _named(docs, "users", "user", str(ctx["user"]))
    server = str(cluster.get("server") or "")
    if not server.startswith("https://") and not server.startswith("http://"):
        raise KubeConfigError(f"cluster of context {ctx_name!r} has no https server")
    token_file = user.get("tokenFile")
    creds = Credentials(
        server=server.rstrip("/"),
        ca_data=_data_or_file(cluster, "certificate-authority", cbase),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        cert_data=_data_or_file(user, "client-certificate", ubase),
        key_data=_data_or_file(user, "client-key", ubase),
        token=user.get("token"),
        token_file=Path(str(token_file)) if token_file else None,
        basic=((str(user["username"]), str(user.get("password", "")))
               if user.get("username") else None),
        exec_spec=dict(user["exec"]) if user.get("exec") else None,
        proxy_url=str(cluster["proxy-url"]) if cluster.get("proxy-url") else None,
        context=ctx_name, cluster_name=str(ctx.get("cluster", "")), source=docs[0][2])
    return creds


# --------------------------------------------------------------------------- proxy


@dataclass(frozen=True)
class Proxy:
    """Where to tunnel through: the proxy's address, TLS to the proxy itself or not, and its
    basic credentials."""

    host: str
    port: int
    tls: bool = False
    auth: tuple[str, str] | None = None

    @classmethod
    def parse(cls, url: str, where: str) -> Proxy:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https"):
            raise KubeConfigError(f"{where}: {url!r}: netplumb tunnels through http:// and "
                                  f"https:// proxies only (not {parts.scheme}://)")
        if not parts.hostname:
            raise KubeConfigError(f"{where}: {url!r} names no host")
        auth = None
        if parts.username is not None:
            auth = (urllib.parse.unquote(parts.username),
                    urllib.parse.unquote(parts.password or ""))
        return cls(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                   parts.scheme == "https", auth)

    def headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        raw = f"{self.auth[0]}:{self.auth[1]}".encode()
        return {"Proxy-Authorization": "Basic " + base64.b64encode(raw).decode()}


def _env(name: str, env: Mapping[str, str]) -> str:
    return env.get(name.upper()) or env.get(name.lower()) or ""


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """``NO_PROXY`` names ``host`` (as Go's net/http reads it: ``*``, hosts and domain
    suffixes with or without a leading dot, IPs and CIDRs, each optionally with a port)."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None and "/" in entry:
            with contextlib.suppress(ValueError):
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        name, _, want_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want_port and want_port != str(port):
            continue
        name = name.strip("[]")
        if ip is not None:
            with contextlib.suppress(ValueError):
                if ip == ipaddress.ip_address(name):
                    return True
            continue
        h = host.lower()
        if h == name.lstrip(".") or h.endswith("." + name.lstrip(".")):
            return True
    return False


def proxy_for(creds: Credentials, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy requests to ``creds.server`` go through (None: straight), and why."""
    if creds.proxy_url:
        return Proxy.parse(creds.proxy_url, f"kubeconfig cluster {creds.cluster_name!r} "
                                            f"proxy-url")
    env = os.environ if env is None else env
    url = urllib.parse.urlsplit(creds.server)
    host = url.hostname or ""
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return None
    if host.lower() == "localhost":
        return None
    name = "HTTPS_PROXY" if https else "HTTP_PROXY"
    value = _env(name, env)
    if not value or _bypassed(host, port, _env("NO_PROXY", env)):
        return None
    return Proxy.parse(value, name)


# --------------------------------------------------------------------------- client


class _HTTPS(http.client.HTTPSConnection):
    """HTTPS with an explicit TLS server name (kubeconfig ``tls-server-name``)."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext,
                 server_name: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ctx = context
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._server_name)


class _TunnelTLSProxy(http.client.HTTPConnection):
    """A connection to an ``https://`` proxy: TLS to the proxy first, then CONNECT through
    it (and, for an https server, TLS to the server inside the tunnel)."""

    def __init__(self, proxy: Proxy, *, timeout: float, inner: ssl.SSLContext | None,
                 server_name: str) -> None:
        super().__init__(proxy.host, proxy.port, timeout=timeout)
        self._proxy_host = proxy.host
        self._inner = inner
        self._server_name = server_name

    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = ssl.create_default_context().wrap_socket(
            self.sock, server_hostname=self._proxy_host)
        # http.client's own CONNECT step (private, and not in its type stubs)
        tunnel: Any = self
        if tunnel._tunnel_host:
            tunnel._tunnel()
        if self._inner is not None:
            self.sock = self._inner.wrap_socket(self.sock, server_hostname=self._server_name)


def _put(conn: http.client.HTTPConnection, method: str, url: str, data: bytes | None,
         headers: Sequence[tuple[str, str]]) -> None:
    """Send one request as ``HTTPConnection.request`` does, but with headers that may repeat
    (``Impersonate-Group``: one line per group)."""
    conn.putrequest(method, url)
    for name, value in headers:
        conn.putheader(name, value)
    if data is not None or method in ("PATCH", "POST", "PUT"):
        conn.putheader("Content-Length", str(len(data or b"")))
    conn.endheaders(data)


@dataclass(frozen=True)
class ApiResource:
    """One resource of the discovery documents: how a kind is addressed."""

    group_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        tail = f"/{name}" if name else ""
        return f"{root}{ns}/{self.plural}{tail}"


class Kube:
    """A client for one cluster. Thread-safe: each thread keeps its own connection."""

    RETRY_429_SECONDS = 15.0
    """How long one request keeps retrying answers of 429 Too Many Requests (Retry-After)."""

    def __init__(self, creds: Credentials, *, timeout: float = 30.0,
                 impersonate: tuple[str, Sequence[str]] | None = None) -> None:
        self.creds = creds
        self.timeout = timeout
        self.impersonate = (impersonate[0], tuple(impersonate[1])) if impersonate else None
        """(user, groups) every call acts as (``Impersonate-User`` and one
        ``Impersonate-Group`` header per group), with the credentials' right to impersonate;
        None: as the credentials themselves."""
        url = urllib.parse.urlsplit(creds.server)
        self._https = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")
        self._local = threading.local()
        self._discovery: dict[str, dict[str, ApiResource]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self.proxy = proxy_for(creds)
        """The proxy this client tunnels through (None: it connects straight)."""

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None = None, context: str | None = None,
                        **kw: Any) -> Kube:
        return cls(load_credentials(kubeconfig, context), **kw)

    # ----------------------------------------------------------------- transport

    def _context(self) -> ssl.SSLContext:
        if self._ssl is not None:
            return self._ssl
        ctx = ssl.create_default_context()
        if self.creds.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.creds.ca_data:
            ctx = ssl.create_default_context(cadata=self.creds.ca_data.decode())
        pair = self.creds.client_cert()
        if pair is not None:
            # ssl loads client keys from files only: write them to a private temp dir briefly
            with tempfile.TemporaryDirectory(prefix="netplumb-kube-") as tmp:
                cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pair[1])
                cert.write_bytes(pair[0])
                ctx.load_cert_chain(cert, key)
        self._ssl = ctx
        return ctx

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new connection to the server, through the proxy if there is one."""
        name = self.creds.tls_server_name or self._host
        conn: http.client.HTTPConnection
        proxy = self.proxy
        if proxy is not None and proxy.tls:
            conn = _TunnelTLSProxy(proxy, timeout=timeout, server_name=name,
                                   inner=self._context() if self._https else None)
        elif proxy is not None and self._https:
            conn = _HTTPS(proxy.host, proxy.port, timeout=timeout, context=self._context(),
                          server_name=name)
        elif proxy is not None:
            conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
        elif self._https:
            conn = _HTTPS(self._host, self._port, timeout=timeout, context=self._context(),
                          server_name=name)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        if proxy is not None:
            conn.set_tunnel(self._host, self._port, headers=proxy.headers())
        return conn

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connection(self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self._local.conn = None

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop()

    def _headers(self, accept: str) -> list[tuple[str, str]]:
        """The headers of every call (a list: ``Impersonate-Group`` may repeat)."""
        headers = [("Accept", accept), ("User-Agent", "netplumb")]
        token = self.creds.bearer()
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        elif self.creds.basic is not None:
            raw = f"{self.creds.basic[0]}:{self.creds.basic[1]}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(raw).decode()))
        if self.impersonate is not None:
            user, groups = self.impersonate
            headers.append(("Impersonate-User", user))
            headers += [("Impersonate-Group", g) for g in groups]
        return headers

    def _send(self, method: str, path: str, query: Mapping[str, str] | None, body: Any,
              content_type: str, accept: str) -> tuple[int, str, bytes]:
        full = self._prefix + path
        if query:
            full += "?" + urllib.parse.urlencode(query)
        headers = self._headers(accept)
        data: bytes | None = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.append(("Content-Type", content_type))
        waited = 0.0
        while True:
            status, reason, raw, retry_after = self._send_once(method, full, path, data,
                                                               headers)
            # 429 with Retry-After: the apiserver asks to come back (a CRD's storage just
            # (re)initializing, priority and fairness); client-go retries these too.
            if status != 429 or retry_after is None or waited >= self.RETRY_429_SECONDS:
                return status, reason, raw
            pause = min(max(retry_after, 0.1), self.RETRY_429_SECONDS - waited)
            time.sleep(pause)
            waited += pause

    def _send_once(self, method: str, full: str, path: str, data: bytes | None,
                   headers: Sequence[tuple[str, str]]) -> tuple[int, str, bytes, float | None]:
        for attempt in (0, 1):
            conn = self._conn()
            try:
                _put(conn, method, full, data, headers)
                resp = conn.getresponse()
                body = resp.read()
                retry_after: float | None = None
                with contextlib.suppress(TypeError, ValueError):
                    retry_after = float(resp.getheader("Retry-After") or "")
                return resp.status, resp.reason, body, retry_after
            except (http.client.HTTPException, OSError) as exc:
                self._drop()
                if attempt == 1 or isinstance(exc, TimeoutError):
                    raise KubeError(0, "Unreachable", f"{self.creds.server}: {exc}",
                                    method=method, path=path) from None
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                body: Any = None, content_type: str = "application/json") -> Any:
        """One API call; returns the decoded JSON body (``None`` when empty)."""
        return self.request_with_status(method, path, query=query, body=body,
                                        content_type=content_type)[1]

    def request_with_status(self, method: str, path: str, *,
                            query: Mapping[str, str] | None = None, body: Any = None,
                            content_type: str = "application/json") -> tuple[int, Any]:
        """:meth:`request`, with the HTTP status of the answer (200, 201, 202, ...)."""
        status, reason, raw_body = self._send(method, path, query, body, content_type,
                                              "application/json")
        doc: Any = None
        if raw_body:
            try:
                doc = json.loads(raw_body)
            except ValueError:
                if status < 400:
                    raise KubeError(status, "BadResponse", raw_body[:200].decode(
                        errors="replace"), method=method, path=path) from None
        if status >= 400:
            message = raw_body.decode(errors="replace")[:500]
            if isinstance(doc, dict) and doc.get("kind") == "Status":
                reason = str(doc.get("reason") or reason)
                message = str(doc.get("message") or message)
            raise KubeError(status, reason, message, method=method, path=path)
        return status, doc

    def request_text(self, path: str, *, query: Mapping[str, str] | None = None) -> str:
        """A GET answered with text (a pod's log)."""
        status, reason, raw_body = self._send("GET", path, query, None, "", "*/*")
        text = raw_body.decode(errors="replace")
        if status >= 400:
            message = text[:500]
            with contextlib.suppress(ValueError):
                doc = json.loads(raw_body)
                if isinstance(doc, dict) and doc.get("kind") == "Status":
                    reason = str(doc.get("reason") or reason)
                    message = str(doc.get("message") or message)
            raise KubeError(status, reason, message, method="GET", path=path)
        return text

    def watch(self, path: str, query: Mapping[str, str],
              stop: threading.Event) -> Iterator[Any]:
        """Stream the watch events (decoded JSON) of the collection at ``path`` until the
        server ends the watch or ``stop`` is set (checked between events). Its own
        connection, authenticated as every other call; ``timeoutSeconds`` in ``query``
        (default 300) bounds it on the server's side."""
        q = dict(query)
        q["watch"] = "1"
        timeout = float(q.get("timeoutSeconds", "300")) + 30
        conn = self._connection(timeout)
        try:
            _put(conn, "GET", f"{self._prefix}{path}?{urllib.parse.urlencode(q)}", None,
                 self._headers("application/json"))
            resp = conn.getresponse()
            if resp.status >= 400:
                raise KubeError(resp.status, resp.reason, resp.read()[:300].decode(
                    errors="replace"), method="WATCH", path=path)
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()

    # ----------------------------------------------------------------- discovery

    def resources(self, group_version: str) -> dict[str, ApiResource]:
        """Kinds served under ``group_version`` (empty when the group is not served)."""
        with self._lock:
            known = self._discovery.get(group_version)
        if known is not None:
            return known
        root = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        try:
            doc = self.request("GET", root) or {}
        except KubeError as exc:
            if exc.status != 404:
                raise
            doc = {}
        found = {
            r["kind"]: ApiResource(group_version, r["kind"], r["name"], bool(r["namespaced"]))
            for r in doc.get("resources") or [] if "/" not in r["name"]}
        with self._lock:
            self._discovery[group_version] = found
        return found

    def forget(self, group_version: str) -> None:
        """Drop cached discovery (after a CRD is created or removed)."""
        with self._lock:
            self._discovery.pop(group_version, None)

    def resource(self, api_version: str, kind: str) -> ApiResource | None:
        return self.resources(api_version).get(kind)

    def _require(self, api_version: str, kind: str) -> ApiResource:
        res = self.resource(api_version, kind)
        if res is None:
            self.forget(api_version)
            res = self.resource(api_version, kind)
        if res is None:
            raise KubeError(404, "NotFound", f"the cluster serves no {kind} in {api_version}")
        return res

    # ----------------------------------------------------------------- verbs

    def get(self, api_version: str, kind: str, name: str,
            namespace: str | None = None) -> dict[str, Any] | None:
        """The live object, or ``None`` when it (or its kind) does not exist."""
        res = self.resource(api_version, kind)
        if res is None:
            return None
        try:
            out: dict[str, Any] = self.request("GET", res.path(namespace, name))
            return out
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None,
             page: int = 1000) -> list[dict[str, Any]]:
        """Every object of a kind (all namespaces unless ``namespace``); ``[]`` when the kind
        is not served. Pages through large lists."""
        return list(self.iter_list(api_version, kind, namespace=namespace,
                                   label_selector=label_selector,
                                   field_selector=field_selector, page=page))

    def iter_list(self, api_version: str, kind: str, *, namespace: str | None = None,
                  label_selector: str | None = None, field_selector: str | None = None,
                  page: int = 1000) -> Iterator[dict[str, Any]]:
        res = self.resource(api_version, kind)
        if res is None:
            return
        query = {"limit": str(page)}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        while True:
            doc = self.request("GET", res.path(namespace), query=query) or {}
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def apply(self, manifest: Mapping[str, Any], *, field_manager: str,
              force: bool = True, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of ``manifest`` (creates it when missing); with ``dry_run`` the
        apiserver admits and validates it and answers what it would store, storing nothing."""
        meta = manifest["metadata"]
        res = self._require(str(manifest["apiVersion"]), str(manifest["kind"]))
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        out: dict[str, Any] = self.request(
            "PATCH", res.path(meta.get("namespace"), meta["name"]), query=query,
            body=manifest, content_type="application/apply-patch+yaml")
        return out

    def create(self, manifest: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create ``manifest`` (``KubeError`` ``AlreadyExists`` when it exists); with
        ``dry_run`` it is admitted and validated but not stored."""
        meta = manifest["metadata"]
        res = self._require(str(manifest["apiVersion"]), str(manifest["kind"]))
        out: dict[str, Any] = self.request("POST", res.path(meta.get("namespace")),
                                           query={"dryRun": "All"} if dry_run else None,
                                           body=manifest)
        return out

    def pod_log(self, namespace: str, name: str, *, container: str | None = None,
                tail_lines: int | None = None) -> str:
        """A pod's log (the apiserver asks the node's kubelet for it)."""
        query = {k: v for k, v in (("container", container),
                                   ("tailLines", str(tail_lines) if tail_lines else None))
                 if v}
        return self.request_text(f"/api/v1/namespaces/{namespace}/pods/{name}/log",
                                 query=query or None)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               *, propagation: str = "Background", grace_seconds: int | None = None) -> bool:
        """Delete an object; ``False`` when it was already gone."""
        res = self.resource(api_version, kind)
        if res is None:
            return False
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1",
                                "propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            self.request("DELETE", res.path(namespace, name), body=body)
            return True
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise

    def reachable(self) -> bool:
        """True when the apiserver answers ``/version``."""
        try:
            self.request("GET", "/version")
            return True
        except (KubeError, KubeConfigError):
            return False
