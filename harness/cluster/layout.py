"""Where one embedded cluster keeps its files, and the addresses it uses.

Every address comes from the documentation and benchmark ranges (RFC 5737, RFC 2544):

* the node's underlay link :data:`NODE_LINK` (a veth pair the harness makes) carries
  :data:`NODE_IP` in :data:`NODE_SUBNET`; the apiserver binds and advertises there (pods reach
  it through the ``kubernetes`` Service, and Endpoints may not hold loopback addresses), the
  kubelet serves there, Flannel runs with ``--iface`` on it;
* Services get addresses from :data:`SERVICE_CIDR`, pods from :data:`POD_CIDR` (Flannel's
  network; the controller-manager gives the node a /24 of it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from harness import paths

CLUSTER_NAME = "netplumb-embedded"
"""The embedded cluster's name in its kubeconfigs (cluster and context): what stacks bound to
it name in ``netplumb:cluster``."""
NODE_NAME = "netplumb-node-0"
LOOPBACK = "127.0.0.1"
NODE_LINK = "np-node0"
"""The node's underlay (Flannel's ``--iface``): one end of a veth pair made by the harness."""
NODE_SUBNET = "198.19.255.0/24"
NODE_IP = "198.19.255.10"
SERVICE_CIDR = "198.19.0.0/24"
POD_CIDR = "198.18.0.0/16"
NODE_CIDR_MASK = 24
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


def kubernetes_service_ip() -> str:
    """The ``kubernetes`` Service's cluster IP (the first address of the service range)."""
    return str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))


@dataclass(frozen=True)
class Layout:
    """File locations inside one cluster directory::

        pki/                  CA, serving and client certificates, service-account key pair
        etcd/                 etcd data
        logs/<component>.log  one log per process
        run/<component>.pid   one pidfile per process
        *.kubeconfig          admin, controller-manager, scheduler, kubelet, kube-proxy
        cluster.json          ports, binaries, whether the node runs
        node/                 containerd root and config, kubelet and kube-proxy config
        host/                 what the host looked like before the node started (restored
                              by ``down``) and the underlay links the harness made
    """

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

    @property
    def node(self) -> Path:
        return self.root / "node"

    @property
    def host(self) -> Path:
        return self.root / "host"

    def kubeconfig(self, who: str) -> Path:
        return self.root / f"{who}.kubeconfig"

    def pidfile(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def cert(self, stem: str) -> Path:
        return self.pki / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.pki / f"{stem}.key"

    @property
    def sa_pub(self) -> Path:
        return self.pki / "sa.pub"


def layout(cluster_dir: Path | None = None) -> Layout:
    return Layout((cluster_dir or paths.cluster_dir()).resolve())
