"""Embedded control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and the node agent (:mod:`harness.node`), all on 127.0.0.1.

State lives in :func:`harness.paths.cluster_dir` (or the ``cluster_dir`` argument)::

    pki/                 CA, serving and client certificates, service-account key pair
    etcd/                etcd data
    logs/<component>.log one log per process
    run/<component>.pid  one pidfile per process
    *.kubeconfig         admin (``admin.kubeconfig``), controller-manager, scheduler
    cluster.json         ports and the binaries used

``up()`` is idempotent (a healthy running cluster is reused), ``down()`` stops every process
it started -- also those of a crashed earlier run, recognised by their ``/proc`` command line
naming this cluster directory -- and removes the state. ``status()`` reports without changing
anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import paths, tools

NODE_NAME = "netplumb-node-0"
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOOPBACK = "127.0.0.1"

# Controllers the embedded cluster runs (canonical v1.36 names): enough for workloads
# (Deployments, DaemonSets, StatefulSets, Jobs), ServiceAccounts and their tokens, namespace
# deletion, garbage
# collection, Services' endpoints, and node lifecycle (which lifts the not-ready taint the
# TaintNodesByCondition admission plugin puts on a new Node once it reports Ready).
CONTROLLERS = (
    "daemonset-controller",
    "replicaset-controller",
    "deployment-controller",
    "statefulset-controller",
    "job-controller",
    "cronjob-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "clusterrole-aggregation-controller",
    "resourcequota-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "ttl-after-finished-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
    "node-lifecycle-controller",
)

# Process order: started left to right, stopped right to left.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node")
GO_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

Progress = Callable[[str], None]


class ClusterError(RuntimeError):
    """The embedded cluster could not be started (the message names the log to read)."""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """File locations inside one cluster directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def lock_file(self) -> Path:
        return self.root.parent / f".{self.root.name}.lock"

    def kubeconfig(self, who: str) -> Path:
        return self.root / f"{who}.kubeconfig"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    # pki
    def cert(self, stem: str) -> Path:
        return self.pki / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.pki / f"{stem}.key"

    @property
    def sa_pub(self) -> Path:
        return self.pki / "sa.pub"


def _layout(cluster_dir: Path | None) -> Layout:
    return Layout((cluster_dir or paths.cluster_dir()).resolve())


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class _Client:
    stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = _Client("admin", "netplumb-admin", ("system:masters",))
_CLIENTS = (
    ADMIN,
    _Client("controller-manager", "system:kube-controller-manager"),
    _Client("scheduler", "system:kube-scheduler"),
)
APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def generate_pki(layout: Layout) -> None:
    """A CA (ECDSA P-256), serving certs for the apiserver and the loopback components,
    client certs for admin (``system:masters``), controller-manager and scheduler, and the
    service-account signing key pair."""
    layout.pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name("netplumb-ca")
    ca_cert = (
        builder(ca_subject, ca_subject, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(layout.key("ca"), _key_pem(ca_key))
    layout.cert("ca").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(
        stem: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            builder(subject, ca_subject, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if dns or ips:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        _write_private(layout.key(stem), _key_pem(key))
        layout.cert(stem).write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    server = ExtendedKeyUsageOID.SERVER_AUTH
    leaf("apiserver", _name("kube-apiserver"), server, APISERVER_DNS_NAMES, (LOOPBACK, service_ip))
    leaf("loopback-serving", _name("netplumb-loopback"), server, ("localhost",), (LOOPBACK,))
    for c in _CLIENTS:
        leaf(c.stem, _name(c.user, c.groups), ExtendedKeyUsageOID.CLIENT_AUTH)

    sa = ec.generate_private_key(ec.SECP256R1())
    _write_private(layout.key("sa"), _key_pem(sa))
    layout.sa_pub.write_bytes(
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(layout: Layout, stem: str, server: str, path: Path) -> None:
    """A kubeconfig with the CA and ``stem``'s client cert/key embedded."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "netplumb",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(layout.cert("ca")),
                },
            }
        ],
        "users": [
            {
                "name": stem,
                "user": {
                    "client-certificate-data": _b64(layout.cert(stem)),
                    "client-key-data": _b64(layout.key(stem)),
                },
            }
        ],
        "contexts": [{"name": "netplumb", "context": {"cluster": "netplumb", "user": stem}}],
        "current-context": "netplumb",
    }
    _write_private(path, yaml.safe_dump(cfg, sort_keys=False).encode())


# --------------------------------------------------------------------------- binaries


def find_binary(name: str) -> Path:
    """Locate a control-plane binary: ``$NETPLUMB_BIN_DIR`` (a hand-built set, say), else the
    tool cache for the current pins (:func:`harness.tools.bin_dir`). ``$PATH`` is not searched:
    Debian's etcd 3.4 is too old for Kubernetes 1.36, and the versions must match the pins."""
    candidates: list[Path] = []
    if env := os.environ.get("NETPLUMB_BIN_DIR"):
        candidates += [Path(p) / name for p in env.split(os.pathsep) if p]
    with contextlib.suppress(Exception):
        candidates.append(tools.bin_dir() / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    raise ClusterError(
        f"{name} not found: run `make tools` (python -m harness.tools build etcd kubernetes) "
        "or set NETPLUMB_BIN_DIR"
    )


def missing_binaries() -> list[str]:
    """Which of the control-plane binaries :func:`find_binary` cannot find."""
    missing = []
    for name in GO_BINARIES:
        try:
            find_binary(name)
        except ClusterError:
            missing.append(name)
    return missing


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def process_cmdline(pid: int) -> list[str]:
    """``/proc/<pid>/cmdline`` as arguments; empty when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_ours(pid: int, layout: Layout) -> bool:
    """True if ``pid`` is one of our components serving this cluster directory."""
    args = process_cmdline(pid)
    if not args or _is_zombie(pid):
        return False
    prog = Path(args[0]).name
    if prog in GO_BINARIES:
        pass
    elif "harness.node" in args:
        pass
    else:
        return False
    root = str(layout.root)
    return any(a.endswith(root) or f"{root}/" in a for a in args[1:])


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _scan_ours(layout: Layout) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if (
            entry.name.isdigit()
            and int(entry.name) != os.getpid()
            and _is_ours(int(entry.name), layout)
        ):
            pids.append(int(entry.name))
    return pids


def _component_of(pid: int) -> str:
    args = process_cmdline(pid)
    if not args:
        return "?"
    prog = Path(args[0]).name
    return "node" if prog not in GO_BINARIES else prog


def _kill(pids: list[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        _reap()
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
        if alive:
            time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive and time.monotonic() < deadline:
        _reap()
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
        if alive:
            time.sleep(0.05)


def _reap() -> None:
    """Collect exit statuses of children we started in this process (avoids zombies)."""
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def _spawn(
    layout: Layout, component: str, argv: list[str], env: dict[str, str] | None = None
) -> int:
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    log = layout.log(component).open("ab")
    try:
        log.write(f"==> {dt.datetime.now().isoformat()} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(paths.REPO_ROOT),
            env=env,
            close_fds=True,
        )
    finally:
        log.close()
    layout.pidfile(component).write_text(f"{proc.pid}\n")
    _children[proc.pid] = proc
    return proc.pid


# Processes started by this Python process: their exit is seen through Popen (a /proc
# command-line check can race with exec right after the fork).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _exited(layout: Layout, component: str) -> bool:
    pid = _read_pid(layout.pidfile(component))
    if pid is None:
        return True
    proc = _children.get(pid)
    if proc is not None:
        return proc.poll() is not None
    return not _is_ours(pid, layout)


# --------------------------------------------------------------------------- health


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def allocate(cls) -> Ports:
        chosen: set[int] = set()
        vals = []
        for _ in range(5):
            p = _free_port()
            while p in chosen:
                p = _free_port()
            chosen.add(p)
            vals.append(p)
        return cls(*vals)


def _ssl_context(layout: Layout, client: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(layout.cert("ca")))
    if client:
        ctx.load_cert_chain(str(layout.cert(ADMIN.stem)), str(layout.key(ADMIN.stem)))
    return ctx


def _https_get(
    layout: Layout, port: int, path: str, *, client: bool = True, timeout: float = 2.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(
        LOOPBACK, port, context=_ssl_context(layout, client), timeout=timeout
    )
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _probe(fn: Callable[[], bool]) -> bool:
    try:
        return fn()
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return False


def _etcd_healthy(ports: Ports) -> bool:
    def check() -> bool:
        status, body = _http_get(ports.etcd_client, "/health")
        return status == 200 and json.loads(body).get("health") == "true"

    return _probe(check)


def _apiserver_ready(layout: Layout, ports: Ports) -> bool:
    return _probe(lambda: _https_get(layout, ports.apiserver, "/readyz")[0] == 200)


def _component_healthy(layout: Layout, port: int) -> bool:
    return _probe(lambda: _https_get(layout, port, "/healthz", client=False)[0] == 200)


def _api_json(layout: Layout, ports: Ports, path: str) -> Any:
    status, body = _https_get(layout, ports.apiserver, path)
    if status != 200:
        raise ValueError(f"GET {path}: HTTP {status}")
    return json.loads(body)


def node_ready(node: dict[str, Any]) -> bool:
    """Ready=True and no not-ready/unreachable taint left on the Node."""
    conds = {c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions", [])}
    taints = node.get("spec", {}).get("taints") or []
    blocked = any(
        t.get("key", "").startswith("node.kubernetes.io/")
        and t.get("effect") in ("NoSchedule", "NoExecute")
        for t in taints
    )
    return conds.get("Ready") == "True" and not blocked


def _node_ready(layout: Layout, ports: Ports) -> bool:
    return _probe(lambda: node_ready(_api_json(layout, ports, f"/api/v1/nodes/{NODE_NAME}")))


def _default_sa_exists(layout: Layout, ports: Ports) -> bool:
    return _probe(
        lambda: bool(_api_json(layout, ports, "/api/v1/namespaces/default/serviceaccounts/default"))
    )


# --------------------------------------------------------------------------- results


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    log: Path


@dataclass
class ClusterInfo:
    """What ``up()`` returns and ``status()`` reports."""

    cluster_dir: Path
    kubeconfig: Path
    server: str | None
    ports: Ports | None
    ready: bool
    reused: bool = False
    elapsed: float = 0.0
    components: list[ComponentStatus] = field(default_factory=list)
    version: str | None = None


# --------------------------------------------------------------------------- lifecycle


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.root.parent.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load_state(layout: Layout) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return None
    return data


def _status(layout: Layout) -> ClusterInfo:
    state = _load_state(layout)
    ports = Ports(**state["ports"]) if state else None
    components: list[ComponentStatus] = []
    for comp in COMPONENTS:
        pid = _read_pid(layout.pidfile(comp))
        running = pid is not None and _is_ours(pid, layout)
        healthy = False
        if running and ports is not None:
            if comp == "etcd":
                healthy = _etcd_healthy(ports)
            elif comp == "kube-apiserver":
                healthy = _apiserver_ready(layout, ports)
            elif comp == "kube-controller-manager":
                healthy = _component_healthy(layout, ports.controller_manager)
            elif comp == "kube-scheduler":
                healthy = _component_healthy(layout, ports.scheduler)
            else:
                healthy = _node_ready(layout, ports)
        components.append(ComponentStatus(comp, pid, running, healthy, layout.log(comp)))
    ready = bool(state) and all(c.healthy for c in components)
    version = None
    if ready and ports is not None:
        with contextlib.suppress(Exception):
            version = str(_api_json(layout, ports, "/version")["gitVersion"])
    return ClusterInfo(
        cluster_dir=layout.root,
        kubeconfig=layout.admin_kubeconfig,
        server=f"https://{LOOPBACK}:{ports.apiserver}" if ports else None,
        ports=ports,
        ready=ready,
        components=components,
        version=version,
    )


def status(cluster_dir: Path | None = None) -> ClusterInfo:
    """Report each component's pid, liveness and health, without changing anything."""
    return _status(_layout(cluster_dir))


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    layout: Layout,
    watch: list[str],
    interval: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        for comp in watch:
            if _exited(layout, comp):
                raise ClusterError(f"{comp} exited while waiting for {what}: {_tail(layout, comp)}")
        if time.monotonic() > deadline:
            tails = "\n".join(_tail(layout, c) for c in watch)
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval)


def _tail(layout: Layout, comp: str, lines: int = 15) -> str:
    try:
        text = layout.log(comp).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        text = []
    return f"\n--- {layout.log(comp)} (last {len(text)} lines)\n" + "\n".join(text)


def _argv(
    layout: Layout, ports: Ports, bins: dict[str, Path], podnet: str | None
) -> dict[str, list[str]]:
    pki = layout.pki
    serving = [
        f"--tls-cert-file={layout.cert('loopback-serving')}",
        f"--tls-private-key-file={layout.key('loopback-serving')}",
    ]
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    kcm_kc = layout.kubeconfig("controller-manager")
    sched_kc = layout.kubeconfig("scheduler")
    return {
        "etcd": [
            str(bins["etcd"]),
            "--name=netplumb",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=netplumb={peer}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={client}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={layout.cert('apiserver')}",
            f"--tls-private-key-file={layout.key('apiserver')}",
            f"--client-ca-file={layout.cert('ca')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={layout.sa_pub}",
            f"--service-account-signing-key-file={layout.key('sa')}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            # Endpoints may not hold a loopback address: with the advertise address 127.0.0.1
            # the default "lease" reconciler only logs an error every few seconds.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            str(bins["kube-controller-manager"]),
            f"--kubeconfig={kcm_kc}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.controller_manager}",
            *serving,
            "--leader-elect=false",
            f"--controllers={','.join(CONTROLLERS)}",
            f"--service-account-private-key-file={layout.key('sa')}",
            f"--root-ca-file={layout.cert('ca')}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(bins["kube-scheduler"]),
            f"--kubeconfig={sched_kc}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.scheduler}",
            *serving,
            "--leader-elect=false",
            "--profiling=false",
        ],
        "node": [
            sys.executable,
            "-m",
            "harness.node",
            f"--kubeconfig={layout.admin_kubeconfig}",
            f"--node-name={NODE_NAME}",
            f"--cluster-dir={layout.root}",
            *([f"--podnet={podnet}"] if podnet else []),
        ],
    }


def up(
    cluster_dir: Path | None = None,
    progress: Progress | None = None,
    timeout: float = 90.0,
    podnet: str | None = None,
) -> ClusterInfo:
    """Start the embedded cluster, or reuse the healthy one already running there.

    ``podnet`` selects the node agent's pod network (``null``, ``multus``, ``module:Class``;
    default ``$NETPLUMB_PODNET`` or ``null``). A reused cluster keeps the one it has unless
    one is asked for explicitly (argument or ``$NETPLUMB_PODNET``) and differs: then only the
    node agent is restarted, with the requested pod network.

    Returns once the apiserver is ready, controller-manager and scheduler are healthy, the
    node is Ready without not-ready taints and the ``default`` ServiceAccount exists.
    """
    say = progress or (lambda _msg: None)
    layout = _layout(cluster_dir)
    t0 = time.monotonic()
    wanted = podnet or os.environ.get("NETPLUMB_PODNET") or None
    podnet = wanted or "null"
    with _locked(layout):
        current = _status(layout)
        state = _load_state(layout) or {}
        control_plane_ok = all(c.healthy for c in current.components if c.name != "node")
        if not current.ready and control_plane_ok and current.ports is not None:
            node_podnet = wanted or str(state.get("podnet", "null"))
            say(f"only the node agent is unhealthy: restarting it (pod network {node_podnet})")
            _restart_node(layout, current.ports, node_podnet, timeout)
            state["podnet"] = node_podnet
            layout.state_file.write_text(json.dumps(state, indent=2) + "\n")
            current = _status(layout)
        if current.ready:
            running_podnet = str(state.get("podnet", "null"))
            if wanted and wanted != running_podnet and current.ports is not None:
                say(f"restarting the node agent: pod network {running_podnet} -> {wanted}")
                _restart_node(layout, current.ports, wanted, timeout)
                state["podnet"] = wanted
                layout.state_file.write_text(json.dumps(state, indent=2) + "\n")
                current = _status(layout)
            current.reused = True
            current.elapsed = time.monotonic() - t0
            say(f"reusing the running cluster at {current.server}")
            return current

        bins = {name: find_binary(name) for name in GO_BINARIES}
        if layout.root.exists() or _scan_ours(layout):
            say("cleaning up a previous cluster that is not healthy")
            _down(layout, say)

        def step(msg: str, t: float) -> None:
            say(f"{msg} ({time.monotonic() - t:.1f}s)")

        t = time.monotonic()
        layout.root.mkdir(parents=True, exist_ok=True)
        generate_pki(layout)
        ports = Ports.allocate()
        server = f"https://{LOOPBACK}:{ports.apiserver}"
        write_kubeconfig(layout, ADMIN.stem, server, layout.admin_kubeconfig)
        for c in _CLIENTS[1:]:
            write_kubeconfig(layout, c.stem, server, layout.kubeconfig(c.stem))
        state = {
            "ports": asdict(ports),
            "binaries": {k: str(v) for k, v in bins.items()},
            "podnet": podnet,
        }
        layout.state_file.write_text(json.dumps(state, indent=2) + "\n")
        step("certificates and kubeconfigs written", t)

        argv = _argv(layout, ports, bins, podnet)
        node_env = _node_env()
        try:
            t = time.monotonic()
            _spawn(layout, "etcd", argv["etcd"])
            _wait("etcd /health", lambda: _etcd_healthy(ports), timeout, layout, ["etcd"])
            step(f"etcd healthy on {LOOPBACK}:{ports.etcd_client}", t)

            t = time.monotonic()
            _spawn(layout, "kube-apiserver", argv["kube-apiserver"])
            _wait(
                "kube-apiserver /readyz",
                lambda: _apiserver_ready(layout, ports),
                timeout,
                layout,
                ["etcd", "kube-apiserver"],
            )
            step(f"kube-apiserver ready at {server}", t)

            t = time.monotonic()
            for comp in ("kube-controller-manager", "kube-scheduler"):
                _spawn(layout, comp, argv[comp])
            _spawn(layout, "node", argv["node"], env=node_env)
            watch = list(COMPONENTS)
            _wait(
                "kube-controller-manager /healthz",
                lambda: _component_healthy(layout, ports.controller_manager),
                timeout,
                layout,
                watch,
            )
            _wait(
                "kube-scheduler /healthz",
                lambda: _component_healthy(layout, ports.scheduler),
                timeout,
                layout,
                watch,
            )
            step("kube-controller-manager and kube-scheduler healthy", t)
            _wait(
                f"node {NODE_NAME} Ready",
                lambda: _node_ready(layout, ports),
                timeout,
                layout,
                watch,
            )
            _wait(
                "the default ServiceAccount",
                lambda: _default_sa_exists(layout, ports),
                timeout,
                layout,
                watch,
            )
            step(f"node {NODE_NAME} Ready, default ServiceAccount present", t)
        except BaseException:
            # Keep the state directory (logs) for inspection; stop the processes.
            _stop_processes(layout)
            raise

    info = _status(layout)
    info.elapsed = time.monotonic() - t0
    if not info.ready:
        bad = ", ".join(c.name for c in info.components if not c.healthy)
        raise ClusterError(f"cluster started but not healthy: {bad}")
    return info


def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(paths.REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def _restart_node(layout: Layout, ports: Ports, podnet: str, timeout: float) -> None:
    pid = _read_pid(layout.pidfile("node"))
    if pid is not None and _is_ours(pid, layout):
        _kill([pid])
    argv = _argv(layout, ports, {n: Path(n) for n in GO_BINARIES}, podnet)["node"]
    since = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _spawn(layout, "node", argv, env=_node_env())

    def renewed_since() -> bool:
        lease = _api_json(
            layout,
            ports,
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}",
        )
        renew = dt.datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
        return renew >= since

    _wait(
        f"node {NODE_NAME} Ready (new agent)",
        lambda: _probe(renewed_since) and _node_ready(layout, ports),
        timeout,
        layout,
        ["node"],
    )


def _stop_processes(layout: Layout, say: Progress | None = None) -> list[int]:
    """Stop our processes: pidfiles first (in reverse start order), then a /proc scan."""
    found: list[int] = []
    for comp in reversed(COMPONENTS):
        pid = _read_pid(layout.pidfile(comp))
        if pid is not None and _is_ours(pid, layout):
            found.append(pid)
    found += [p for p in _scan_ours(layout) if p not in found]
    if found and say:
        say("stopping " + ", ".join(f"{_component_of(p)}[{p}]" for p in found))
    # Node agent and clients first, then apiserver, then etcd.
    order = {name: i for i, name in enumerate(reversed(COMPONENTS))}
    found.sort(key=lambda p: order.get(_component_of(p), 0))
    for pid in found:
        _kill([pid])
    return found


def _purge_pod_network(layout: Layout, say: Progress) -> None:
    """After the node agent stopped: undo what a Multus pod network left on the host (pod
    namespaces, CNI state, links) through :func:`harness.podnet.purge`. Only for a node whose
    state shows it ran Multus; a null pod network leaves nothing behind."""
    node_root = layout.root / "node"
    if not node_root.is_dir():
        return
    for state in sorted(node_root.iterdir()):
        if not (state / "multus.conf").is_file():
            continue
        try:
            from harness import podnet

            removed = podnet.purge(state)
        except Exception as e:
            say(f"pod network cleanup of {state.name} failed: {e}")
            continue
        say(f"pod network of {state.name} cleaned up ({len(removed)} namespace(s) removed)")


def _down(layout: Layout, say: Progress) -> list[int]:
    stopped = _stop_processes(layout, say)
    _purge_pod_network(layout, say)
    if layout.root.exists():
        shutil.rmtree(layout.root, ignore_errors=True)
        if layout.root.exists():  # e.g. a file being written while we removed
            shutil.rmtree(layout.root)
    return stopped


def down(cluster_dir: Path | None = None, progress: Progress | None = None) -> list[int]:
    """Stop every process of this cluster (also left over from a crashed run) and remove
    its state. Returns the pids that were stopped."""
    layout = _layout(cluster_dir)
    with _locked(layout):
        return _down(layout, progress or (lambda _msg: None))


def listening_sockets(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, local address, port) of each TCP socket in LISTEN state owned by ``pids``."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    result: list[tuple[int, str, int]] = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue
            raise
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc/net/tcp* stores the address as host-order 32-bit words.
            words = [raw[i : i + 4][::-1] for i in range(0, width, 4)]
            addr = ipaddress.ip_address(b"".join(words))
            result.append((inodes[inode], str(addr), int(port_hex, 16)))
    return result


def component_pids(cluster_dir: Path | None = None) -> list[int]:
    """Pids of every running process of this cluster (pidfiles and /proc scan)."""
    layout = _layout(cluster_dir)
    pids = {
        pid
        for comp in COMPONENTS
        if (pid := _read_pid(layout.pidfile(comp))) is not None and _is_ours(pid, layout)
    }
    return sorted(pids | set(_scan_ours(layout)))
