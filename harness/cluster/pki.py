"""Certificates and kubeconfigs of the embedded cluster (one ECDSA P-256 CA for everything)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .layout import APISERVER_IP, CLUSTER_NAME, LOOPBACK, Layout, NodeSpec, kubernetes_service_ip


@dataclass(frozen=True)
class Client:
    """A client certificate: ``stem`` names the files, ``user``/``groups`` the identity."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Client("admin", "netplumb-admin", ("system:masters",))
CONTROLLER_MANAGER = Client("controller-manager", "system:kube-controller-manager")
SCHEDULER = Client("scheduler", "system:kube-scheduler")


def kubelet_client(node: NodeSpec) -> Client:
    """A node's identity (the Node authorizer grants what a kubelet needs for its own pods)."""
    return Client(f"kubelet-{node.name}", f"system:node:{node.name}", ("system:nodes",))


def kubelet_serving(node: NodeSpec) -> str:
    """The stem of a node's kubelet serving certificate."""
    return f"kubelet-serving-{node.name}"


KUBE_PROXY = Client("kube-proxy", "system:kube-proxy")
"""Bound to ``system:node-proxier`` by the apiserver's default RBAC."""
APISERVER_KUBELET = Client("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                           ("system:masters",))
"""The apiserver's identity towards the kubelet (logs, exec, port-forward)."""
CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KUBE_PROXY, APISERVER_KUBELET)
KUBECONFIG_CLIENTS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER, KUBE_PROXY)
"""Clients with a kubeconfig of their own (each node's kubelet has one too)."""

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
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def generate(layout: Layout, nodes: list[NodeSpec]) -> None:
    """The CA, serving certificates (apiserver, each node's kubelet, the loopback
    components), every client certificate of :data:`CLIENTS` and each node's kubelet, and the
    service-account signing key pair."""
    layout.pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> Any:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365)))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name("netplumb-ca")
    ca_cert = (
        builder(ca_subject, ca_subject, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    write_private(layout.key("ca"), _key_pem(ca_key))
    layout.cert("ca").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, subject: x509.Name, usage: x509.ObjectIdentifier,
             dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (builder(subject, ca_subject, key)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(_key_usage(ca=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 ca_key.public_key()), critical=False))
        if dns or ips:
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        write_private(layout.key(stem), _key_pem(key))
        layout.cert(stem).write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    server = ExtendedKeyUsageOID.SERVER_AUTH
    leaf("apiserver", _name("kube-apiserver"), server, APISERVER_DNS_NAMES,
         (LOOPBACK, APISERVER_IP, kubernetes_service_ip()))
    leaf("loopback-serving", _name("netplumb-loopback"), server, ("localhost",), (LOOPBACK,))
    for node in nodes:
        leaf(kubelet_serving(node), _name(node.name), server, (node.name,), (node.ip, LOOPBACK))
    for c in (*CLIENTS, *(kubelet_client(n) for n in nodes)):
        leaf(c.stem, _name(c.user, c.groups), ExtendedKeyUsageOID.CLIENT_AUTH)

    sa = ec.generate_private_key(ec.SECP256R1())
    write_private(layout.key("sa"), _key_pem(sa))
    layout.sa_pub.write_bytes(sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(layout: Layout, client: Client, server: str, path: Path) -> None:
    """A kubeconfig with the CA and ``client``'s certificate and key embedded."""
    stem = client.stem
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {
            "server": server, "certificate-authority-data": _b64(layout.cert("ca"))}}],
        "users": [{"name": stem, "user": {
            "client-certificate-data": _b64(layout.cert(stem)),
            "client-key-data": _b64(layout.key(stem))}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": stem}}],
        "current-context": CLUSTER_NAME,
    }
    write_private(path, yaml.safe_dump(cfg, sort_keys=False).encode())
