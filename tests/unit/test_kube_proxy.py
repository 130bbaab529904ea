"""netplumb.kube through a proxy: the kubeconfig's ``proxy-url``, else ``HTTPS_PROXY`` /
``HTTP_PROXY`` unless ``NO_PROXY`` names the server, as client-go chooses; requests and
watches go through a CONNECT tunnel (to an http and to an https API server), with the
proxy's basic credentials; schemes it cannot tunnel through are refused, naming the field."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from netplumb.kube import Credentials, Kube, KubeConfigError, Proxy, load_credentials, proxy_for

from .local_http import serving

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://api.example.com:6443", proxy-url: "%s"}}]
users: [{name: u, user: {token: t0k}}]
"""


def _creds(server: str, proxy_url: str | None = None) -> Credentials:
    return Credentials(server=server, proxy_url=proxy_url, cluster_name="k")


def test_the_kubeconfigs_proxy_url_is_read_with_its_credentials() -> None:
    creds = load_credentials(KUBECONFIG % "http://ops:s%40cret@proxy.example.com:3128")
    assert creds.proxy_url == "http://ops:s%40cret@proxy.example.com:3128"
    proxy = proxy_for(creds, env={"HTTPS_PROXY": "http://other.example.com:8080"})
    assert proxy == Proxy("proxy.example.com", 3128, False, ("ops", "s@cret"))
    assert proxy.headers() == {"Proxy-Authorization": "Basic b3BzOnNAY3JldA=="}


def test_a_socks_proxy_is_refused_naming_the_field_and_the_value() -> None:
    creds = load_credentials(KUBECONFIG % "socks5://proxy.example.com:1080")
    with pytest.raises(KubeConfigError, match=r"cluster 'k' proxy-url: 'socks5://proxy"
                                              r"\.example\.com:1080'.*not socks5://"):
        Kube(creds)


@pytest.mark.parametrize(("server", "env", "want"), [
    ("https://api.example.com", {"HTTPS_PROXY": "http://p.example.com:3128"},
     "p.example.com:3128"),
    ("https://api.example.com", {"https_proxy": "p.example.com"}, "p.example.com:80"),
    ("http://api.example.com", {"HTTPS_PROXY": "http://p.example.com:3128"}, None),
    ("http://api.example.com", {"HTTP_PROXY": "http://p.example.com:3128"},
     "p.example.com:3128"),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.example.com"},
     None),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"},
     None),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"},
     None),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample.com"},
     "p:1"),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1",
                                      "NO_PROXY": "api.example.com:443"}, "p:1"),
    ("https://api.example.com:6443", {"HTTPS_PROXY": "http://p:1",
                                      "NO_PROXY": "api.example.com:6443"}, None),
    ("https://192.0.2.10:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "192.0.2.0/24"},
     None),
    ("https://198.51.100.10:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "192.0.2.0/24"},
     "p:1"),
    ("https://[2001:db8::1]:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "2001:db8::1"},
     None),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
    ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://p:1"}, None),
    ("https://localhost:6443", {"HTTPS_PROXY": "http://p:1"}, None),
])
def test_the_environment_proxy_applies_as_client_go_chooses(
        server: str, env: dict[str, str], want: str | None) -> None:
    proxy = proxy_for(_creds(server), env=env)
    assert (f"{proxy.host}:{proxy.port}" if proxy else None) == want


# ---------------------------------------------------------------- through a real tunnel


@contextmanager
def _api(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """An API server (http, or https with ``tls``) answering every GET with a list, and a
    watch with two events; yields its port and the (path, Authorization) it saw."""
    seen: list[tuple[str, str]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the method name http.server dispatches to
            seen.append((self.path, self.headers.get("Authorization", "")))
            body = (b'{"type":"ADDED","object":{}}\n{"type":"DELETED","object":{}}\n'
                    if "watch=1" in self.path else json.dumps({"items": []}).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Api, tls) as port:
        yield port, seen


@contextmanager
def _connect_proxy() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """A CONNECT proxy on loopback; yields its port and the (request line,
    Proxy-Authorization) of every tunnel it opened."""
    tunnels: list[tuple[str, str]] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline().decode().strip()
            auth = ""
            while (header := self.rfile.readline().decode()) not in ("\r\n", "\n", ""):
                name, _, value = header.partition(":")
                if name.lower() == "proxy-authorization":
                    auth = value.strip()
            tunnels.append((line, auth))
            method, target, _ = line.split(" ", 2)
            if method != "CONNECT":
                self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            pending = self.rfile.peek(65536) if hasattr(self.rfile, "peek") else b""
            if pending:
                upstream.sendall(self.rfile.read(len(pending)))
            client = self.connection
            with upstream:
                while True:
                    ready, _, _ = select.select([client, upstream], [], [], 5)
                    if not ready:
                        return
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is client else client).sendall(data)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], tunnels
    finally:
        server.shutdown()
        server.server_close()


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, bytes]:
    """A server context for 127.0.0.1 and the certificate a client trusts it by."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netplumb-test-api")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "c.pem").write_bytes(pem)
    (tmp / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    return ctx, pem


@pytest.mark.parametrize("https", [False, True], ids=["http-server", "https-server"])
def test_requests_and_watches_go_through_the_tunnel_with_the_proxys_credentials(
        https: bool, tmp_path: Path) -> None:
    tls, ca = _self_signed(tmp_path) if https else (None, b"")
    with _api(tls) as (api_port, seen), _connect_proxy() as (proxy_port, tunnels):
        scheme = "https" if https else "http"
        kube = Kube(Credentials(server=f"{scheme}://127.0.0.1:{api_port}", token="t0k",
                                ca_data=ca or None,
                                proxy_url=f"http://ops:pw@127.0.0.1:{proxy_port}"))
        assert kube.request("GET", "/api/v1/pods") == {"items": []}
        events = list(kube.watch("/api/v1/pods", {"timeoutSeconds": "5"}, threading.Event()))
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]
    assert len(tunnels) == 2, tunnels  # the client's kept-alive connection, and the watch's
    assert {(line.rsplit(" ", 1)[0], auth) for line, auth in tunnels} == {
        (f"CONNECT 127.0.0.1:{api_port}", "Basic b3BzOnB3")}
    assert [p.split("?")[0] for p, _ in seen] == ["/api/v1/pods", "/api/v1/pods"]
    assert {a for _, a in seen} == {"Bearer t0k"}
