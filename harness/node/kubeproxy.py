"""kube-proxy of the embedded node (iptables mode): it makes the ``kubernetes`` Service work
for pods and for hostNetwork DaemonSets (Flannel's kube-subnet-mgr, the Multus thick daemon).

Each node runs its own, in the node's network namespace; its health and metrics listen on
the node's address. It is told not to raise ``nf_conntrack_max``
(``conntrack.maxPerCore: 0``) and not to route NodePorts on localhost
(``localhostNodePorts: false``, which would set ``net.ipv4.conf.all.route_localnet``).
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import yaml

from harness.cluster.controlplane import Ports
from harness.cluster.layout import POD_CIDR, Layout, NodeSpec
from harness.cluster.processes import http_ok


def config_path(conf: Path) -> Path:
    return conf / "kube-proxy.yaml"


def config(layout: Layout, node: NodeSpec, ports: Ports) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": f"{node.ip}:{ports.kube_proxy_healthz}",
        "metricsBindAddress": f"{node.ip}:{ports.kube_proxy_metrics}",
        "clusterCIDR": POD_CIDR,
        "nodePortAddresses": [f"{node.ip}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
    }


def write_config(layout: Layout, node: NodeSpec, conf: Path, ports: Ports) -> Path:
    path = config_path(conf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config(layout, node, ports), sort_keys=False))
    return path


def argv(conf: Path, kube_proxy: Path) -> list[str]:
    return [str(kube_proxy), f"--config={config_path(conf)}", "--v=1"]


def healthy(node: NodeSpec, ports: Ports) -> bool:
    conn = http.client.HTTPConnection(node.ip, ports.kube_proxy_healthz, timeout=2.0)
    return http_ok(conn, "/livez")
