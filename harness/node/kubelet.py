"""The kubelet of the embedded node: KubeletConfiguration, command line, health.

Settings this host needs (``REAL-NODE-FACTS.md``): ``failCgroupV1: false`` (v1.35+ refuses
cgroup v1 otherwise), ``cgroupDriver: cgroupfs`` (as containerd), ``failSwapOn: false``, loose
``evictionHard`` (small disks) and image garbage collection that never starts (preloaded
images cannot be pulled again here; they are also labelled pinned).

The root directory is the real ``/var/lib/kubelet``: the Multus thick daemon mounts it (pod
resources socket, device plugins) and the kubelet hard-codes ``/var/lib/kubelet/device-plugins``
anyway. Certificates (``--cert-dir``) and the volume plugin directory live in the cluster
directory. It serves on the node address (:data:`~harness.cluster.layout.NODE_IP`), where the
apiserver dials it for logs and exec; its healthz port is on 127.0.0.1.
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import yaml

from harness.cluster.controlplane import Ports
from harness.cluster.layout import LOOPBACK, NODE_IP, NODE_NAME, Layout

from . import containerd

ROOT_DIR = Path("/var/lib/kubelet")


def config_path(layout: Layout) -> Path:
    return layout.node / "kubelet" / "config.yaml"


def config(layout: Layout, ports: Ports) -> dict[str, Any]:
    base = layout.node / "kubelet"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": ports.kubelet_healthz,
        "tlsCertFile": str(layout.cert("kubelet-serving")),
        "tlsPrivateKeyFile": str(layout.key("kubelet-serving")),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.cert("ca"))},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": containerd.ENDPOINT,
        "imageServiceEndpoint": containerd.ENDPOINT,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "volumePluginDir": str(base / "volume-plugins"),
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        "maxPods": 110,
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def write_config(layout: Layout, ports: Ports) -> Path:
    path = config_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "volume-plugins").mkdir(exist_ok=True)
    (path.parent / "pki").mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config(layout, ports), sort_keys=False))
    return path


def argv(layout: Layout, kubelet: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={config_path(layout)}",
        f"--kubeconfig={layout.kubeconfig('kubelet')}",
        f"--root-dir={ROOT_DIR}",
        f"--cert-dir={layout.node / 'kubelet' / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


def healthy(ports: Ports) -> bool:
    try:
        conn = http.client.HTTPConnection(LOOPBACK, ports.kubelet_healthz, timeout=2.0)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
