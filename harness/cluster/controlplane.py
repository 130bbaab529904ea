"""The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

etcd, the controller-manager and the scheduler listen on 127.0.0.1 only. The apiserver binds
:data:`~.layout.APISERVER_IP` on the cluster bridge when the nodes run: pods and hostNetwork
DaemonSets reach it through the ``kubernetes`` Service, whose Endpoints may not hold a
loopback address. Without the nodes (no root) it binds 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path

from .layout import LOOPBACK, NODE_CIDR_MASK, POD_CIDR, SERVICE_ACCOUNT_ISSUER, SERVICE_CIDR, Layout
from .processes import free_ports, http_ok

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

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


def argv(layout: Layout, ports: Ports, bins: dict[str, Path], apiserver_ip: str
         ) -> dict[str, list[str]]:
    serving = [f"--tls-cert-file={layout.cert('loopback-serving')}",
               f"--tls-private-key-file={layout.key('loopback-serving')}"]
    peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
    client = f"http://{LOOPBACK}:{ports.etcd_client}"
    apiserver = [
        str(bins["kube-apiserver"]),
        f"--etcd-servers={client}",
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
        apiserver.append("--endpoint-reconciler-type=none")
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
        "kube-apiserver": apiserver,
        "kube-controller-manager": [
            str(bins["kube-controller-manager"]),
            f"--kubeconfig={layout.kubeconfig('controller-manager')}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.controller_manager}",
            *serving,
            "--leader-elect=false",
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
        ],
        "kube-scheduler": [
            str(bins["kube-scheduler"]),
            f"--kubeconfig={layout.kubeconfig('scheduler')}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.scheduler}",
            *serving,
            "--leader-elect=false",
            "--profiling=false",
        ],
    }


def etcd_healthy(ports: Ports) -> bool:
    return http_ok(http.client.HTTPConnection(LOOPBACK, ports.etcd_client, timeout=2.0),
                   "/health", lambda body: json.loads(body).get("health") == "true")


def loopback_healthy(layout: Layout, port: int) -> bool:
    """``/healthz`` of the controller-manager or scheduler (TLS with the cluster CA)."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(layout.cert("ca")))
    return http_ok(http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=2.0),
                   "/healthz")
