"""The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

etcd, the controller-manager and the scheduler listen on 127.0.0.1 only. The apiserver binds
:data:`~.layout.APISERVER_IP` on the cluster bridge when the nodes run: pods and hostNetwork
DaemonSets reach it through the ``kubernetes`` Service, whose Endpoints may not hold a
loopback address. Without the nodes (no root) it binds 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .api import Api
from .layout import LOOPBACK, NODE_CIDR_MASK, POD_CIDR, SERVICE_ACCOUNT_ISSUER, SERVICE_CIDR, Layout
from .processes import Component, free_ports, http_ok

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
"""The control plane's processes, in start order (what :func:`components` declares)."""

# Controllers the embedded cluster runs (canonical v1.36 names): workloads (Deployments,
# DaemonSets, StatefulSets, Jobs), ServiceAccounts and their tokens, namespace deletion,
# garbage collection, Services' endpoints, node lifecycle (which lifts the not-ready taint
# once the node reports Ready) and node IPAM (the node's podCIDR, which Flannel's
# kube-subnet-mgr takes its subnet from).
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
    "node-ipam-controller",
    "taint-eviction-controller",
)


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kubelet: int = 0
    kubelet_healthz: int = 0
    kube_proxy_healthz: int = 0
    kube_proxy_metrics: int = 0

    @classmethod
    def allocate(cls) -> Ports:
        return cls(*free_ports(9))


def _etcd(layout: Layout, ports: Ports, program: Path) -> list[str]:
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    return [
        str(program),
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
    ]


def _apiserver(layout: Layout, ports: Ports, program: Path, apiserver_ip: str) -> list[str]:
    argv = [
        str(program),
        f"--etcd-servers=http://{LOOPBACK}:{ports.etcd_client}",
        f"--bind-address={apiserver_ip}",
        f"--advertise-address={apiserver_ip}",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.pki}",
        f"--tls-cert-file={layout.cert('apiserver')}",
        f"--tls-private-key-file={layout.key('apiserver')}",
        f"--client-ca-file={layout.cert('ca')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={layout.sa_pub}",
        f"--service-account-signing-key-file={layout.key('sa')}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        # logs, exec and port-forward: the apiserver dials the kubelet at the node's
        # InternalIP (there is no DNS for the node name) with its own client certificate
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--kubelet-client-certificate={layout.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={layout.key('apiserver-kubelet-client')}",
        f"--kubelet-certificate-authority={layout.cert('ca')}",
        "--profiling=false",
    ]
    if apiserver_ip == LOOPBACK:
        # Endpoints may not hold a loopback address: the default "lease" reconciler would only
        # log an error every few seconds. Without the node nothing needs the Service anyway.
        argv.append("--endpoint-reconciler-type=none")
    return argv


def _on_loopback(layout: Layout, program: Path, kubeconfig: str, port: int) -> list[str]:
    """What the controller-manager and the scheduler start with: their kubeconfig, their
    health port on the loopback (TLS with the loopback serving certificate), no election."""
    return [
        str(program),
        f"--kubeconfig={layout.kubeconfig(kubeconfig)}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--tls-cert-file={layout.cert('loopback-serving')}",
        f"--tls-private-key-file={layout.key('loopback-serving')}",
        "--leader-elect=false",
    ]


def _controller_manager(layout: Layout, ports: Ports, program: Path) -> list[str]:
    return [
        *_on_loopback(layout, program, "controller-manager", ports.controller_manager),
        f"--controllers={','.join(CONTROLLERS)}",
        f"--service-account-private-key-file={layout.key('sa')}",
        f"--root-ca-file={layout.cert('ca')}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={POD_CIDR}",
        f"--node-cidr-mask-size={NODE_CIDR_MASK}",
        # a node that stops renewing its lease (the kubelet renews it every 10 s) is
        # NotReady after 20 s instead of the default 50 s: node failures show sooner
        "--node-monitor-grace-period=20s",
        "--profiling=false",
    ]


def _scheduler(layout: Layout, ports: Ports, program: Path) -> list[str]:
    return [*_on_loopback(layout, program, "scheduler", ports.scheduler), "--profiling=false"]


def components(layout: Layout, ports: Ports, api: Api | None, apiserver_ip: str,
               program: Callable[[str], Path]) -> tuple[Component, ...]:
    """The control plane's processes in start order (:data:`COMPONENTS`): etcd, the apiserver
    (on ``apiserver_ip``), then the controller-manager and the scheduler, started together.
    ``program`` finds each one's binary by name; ``api`` asks the apiserver (None: no
    kubeconfig yet, never ready)."""
    return (
        Component("etcd", lambda: _etcd(layout, ports, program("etcd")),
                  lambda: etcd_healthy(ports), "etcd /health"),
        Component("kube-apiserver",
                  lambda: _apiserver(layout, ports, program("kube-apiserver"), apiserver_ip),
                  lambda: api is not None and api.healthy("/readyz"), "kube-apiserver /readyz"),
        Component("kube-controller-manager",
                  lambda: _controller_manager(layout, ports, program("kube-controller-manager")),
                  lambda: loopback_healthy(layout, ports.controller_manager),
                  "kube-controller-manager /healthz"),
        Component("kube-scheduler",
                  lambda: _scheduler(layout, ports, program("kube-scheduler")),
                  lambda: loopback_healthy(layout, ports.scheduler), "kube-scheduler /healthz"),
    )


def etcd_healthy(ports: Ports) -> bool:
    return http_ok(http.client.HTTPConnection(LOOPBACK, ports.etcd_client, timeout=2.0),
                   "/health", lambda body: json.loads(body).get("health") == "true")


def loopback_healthy(layout: Layout, port: int) -> bool:
    """``/healthz`` of the controller-manager or scheduler (TLS with the cluster CA)."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(layout.cert("ca")))
    return http_ok(http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=2.0),
                   "/healthz")
