"""Where one embedded cluster keeps its files, and the addresses it uses.

Every address comes from the documentation and benchmark ranges (RFC 5737, RFC 2544):

* the host bridge :data:`CLUSTER_BRIDGE` joins the nodes: it carries the apiserver's address
  :data:`APISERVER_IP` in :data:`NODE_SUBNET`, and each node reaches it through its link
  :data:`NODE_LINK` (a veth pair: one end on the bridge, the other inside the node's network
  namespace with the node's address, :attr:`NodeSpec.ip`). The kubelet serves there, Flannel
  runs with ``--iface`` on it and its VXLAN carries pods between the nodes over it;
* Services get addresses from :data:`SERVICE_CIDR`, pods from :data:`POD_CIDR` (Flannel's
  network; the controller-manager gives each node a /24 of it).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness import paths

CLUSTER_NAME = "netplumb-embedded"
"""The embedded cluster's name in its kubeconfigs (cluster and context): what stacks bound to
it name in ``netplumb:cluster``."""
LOOPBACK = "127.0.0.1"
CLUSTER_BRIDGE = "np-cluster"
"""The host bridge joining the nodes (the cluster network's switch)."""
NODE_LINK = "np-node0"
"""Each node's link to :data:`CLUSTER_BRIDGE`, as named inside the node (Flannel's ``--iface``)."""
NODE_SUBNET = "198.19.255.0/24"
APISERVER_IP = "198.19.255.1"
"""The apiserver's address, on :data:`CLUSTER_BRIDGE` (the host's side of the cluster network)."""
SERVICE_CIDR = "198.19.0.0/24"
POD_CIDR = "198.18.0.0/16"
NODE_CIDR_MASK = 24
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_NODES = 2
"""Nodes ``cluster up`` starts unless told otherwise (``--nodes``, ``NETPLUMB_NODES``)."""
MAX_NODES = 9


@dataclass(frozen=True)
class NodeSpec:
    """One node of the embedded cluster (``index`` from 1)."""

    index: int

    @property
    def name(self) -> str:
        return f"worker-{self.index}"

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_address(APISERVER_IP) + 9 + self.index)

    @property
    def host_link(self) -> str:
        """The host end of the node's :data:`NODE_LINK` (on :data:`CLUSTER_BRIDGE`)."""
        return f"np-c-{self.name}"


def node_specs(count: int) -> list[NodeSpec]:
    if not 1 <= count <= MAX_NODES:
        raise ValueError(f"nodes: expected 1 to {MAX_NODES}, got {count}")
    return [NodeSpec(i) for i in range(1, count + 1)]


def requested_nodes() -> int:
    """``NETPLUMB_NODES`` (default :data:`DEFAULT_NODES`)."""
    raw = os.environ.get("NETPLUMB_NODES", "").strip()
    if not raw:
        return DEFAULT_NODES
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"NETPLUMB_NODES={raw!r}: expected a number of nodes") from None
    node_specs(count)
    return count


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
        *.kubeconfig          admin, controller-manager, scheduler, kube-proxy, and a
                              kubelet-<node>.kubeconfig per node
        cluster.json          ports, binaries, the nodes
        nodes/<name>/conf/    the node's containerd, kubelet and kube-proxy configs
        nodes/<name>/fs/      the node's own directories (``/run``, ``/var/lib/kubelet``, …)
        host/                 what the host looked like before the nodes started (restored
                              by ``down``) and the links the harness made on it
    """

    root: Path

    # duplicates: intended: one path of the cluster's tree per property, alike in shape.
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

    def node_dir(self, name: str) -> Path:
        return self.root / "nodes" / name

    def node_count(self) -> int:
        """How many nodes the cluster's state file records (0: none, or no cluster)."""
        try:
            return int(json.loads(self.state_file.read_text())["nodes"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

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
