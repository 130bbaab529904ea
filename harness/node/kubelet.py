"""The kubelet of the embedded node: KubeletConfiguration, command line, health.

Settings this host needs (``REAL-NODE-FACTS.md``): ``failCgroupV1: false`` (v1.35+ refuses
cgroup v1 otherwise), ``cgroupDriver: cgroupfs`` (as containerd), ``failSwapOn: false``, loose
``evictionHard`` (small disks) and image garbage collection that never starts (preloaded
images cannot be pulled again here; they are also labelled pinned).

The root directory is ``/var/lib/kubelet`` as seen inside the node (the node's own
directory): the Multus thick daemon mounts it (pod resources socket, device plugins) and the
kubelet hard-codes ``/var/lib/kubelet/device-plugins`` anyway. Certificates (``--cert-dir``)
and the volume plugin directory live in the node's config directory. It serves, and answers
its health checks, on the node's address, where the apiserver dials it for logs and exec.
Its pods' cgroups live under ``/netplumb/<node>`` (``cgroupRoot``), so nodes never share
``kubepods``.
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import yaml

from harness.cluster import pki
from harness.cluster.controlplane import Ports
from harness.cluster.layout import Layout, NodeSpec
from harness.cluster.processes import http_ok
from netplumb import hostpaths

from . import containerd

ROOT_DIR = Path(hostpaths.KUBELET_DIR)
MAX_PODS = 64
"""Each node's ``maxPods`` (see the kubelet config below)."""
CGROUP_PARENT = "netplumb"
"""Top-level cgroup (every v1 controller) holding each node's ``cgroupRoot``."""


def cgroup_root(node: NodeSpec) -> str:
    return f"/{CGROUP_PARENT}/{node.name}"


def config_path(conf: Path) -> Path:
    return conf / "kubelet.yaml"


def config(layout: Layout, node: NodeSpec, conf: Path, ports: Ports) -> dict[str, Any]:
    serving = pki.kubelet_serving(node)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": node.ip,
        "healthzPort": ports.kubelet_healthz,
        "tlsCertFile": str(layout.cert(serving)),
        "tlsPrivateKeyFile": str(layout.key(serving)),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.cert("ca"))},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root(node),
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": containerd.ENDPOINT,
        "imageServiceEndpoint": containerd.ENDPOINT,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "volumePluginDir": str(conf / "volume-plugins"),
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        # the kubelet's default is 110; 64 keeps the burst tests (tests/e2e/test_burst.py:
        # a node's maximum pods at once, then a node restart) within make test's time on
        # two cores, and is twice what the other tests run on a node at once
        "maxPods": MAX_PODS,
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def write_config(layout: Layout, node: NodeSpec, conf: Path, ports: Ports) -> Path:
    path = config_path(conf)
    path.parent.mkdir(parents=True, exist_ok=True)
    (conf / "volume-plugins").mkdir(exist_ok=True)
    (conf / "kubelet-pki").mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config(layout, node, conf, ports), sort_keys=False))
    return path


def argv(layout: Layout, node: NodeSpec, conf: Path, kubelet: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={config_path(conf)}",
        f"--kubeconfig={layout.kubeconfig(pki.kubelet_client(node).stem)}",
        f"--root-dir={ROOT_DIR}",
        f"--cert-dir={conf / 'kubelet-pki'}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.ip}",
        "--v=1",
    ]


def healthy(node: NodeSpec, ports: Ports) -> bool:
    conn = http.client.HTTPConnection(node.ip, ports.kubelet_healthz, timeout=2.0)
    return http_ok(conn, "/healthz")
