"""Which default (primary) network a cluster already runs, read from its DaemonSets.

Multus adds networks beside the cluster's own default network; it must never bring a second
one. ``multus: {default_network: auto}`` (the default) looks at the cluster at preview and
installs Flannel only where no default network runs. The well-known CNIs are recognised by
their DaemonSet's name, ``k8s-app`` label or container image, as their upstream manifests
and charts name them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .ownership import OWNER_ANNOTATION

KNOWN: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    # (name, DaemonSet names / k8s-app labels, image repository fragments)
    ("Calico", ("calico-node",), ("calico/node",)),
    ("Canal", ("canal",), ()),
    ("Cilium", ("cilium", "cilium-agent"), ("cilium/cilium",)),
    ("Flannel", ("kube-flannel-ds", "kube-flannel", "flannel"),
     ("flannel-io/flannel", "flannelcni-flannel", "coreos/flannel")),
    ("Weave Net", ("weave-net",), ("weaveworks/weave-kube", "weave-kube")),
    ("Antrea", ("antrea-agent",), ("antrea/antrea",)),
    ("kube-router", ("kube-router",), ("cloudnativelabs/kube-router",)),
    ("Kube-OVN", ("kube-ovn-cni",), ("kubeovn/kube-ovn",)),
    ("OVN-Kubernetes", ("ovnkube-node",), ("ovn-kubernetes",)),
    ("Amazon VPC CNI", ("aws-node",), ("amazon-k8s-cni",)),
    ("Azure CNI", ("azure-cns", "azure-cni"), ("azure-cns", "azure-vnet")),
)


@dataclass(frozen=True)
class Primary:
    """A default network found running: its name, DaemonSet and owner (netplumb's
    ``netplumb.dev/owner``, ``None`` for anything netplumb did not install)."""

    name: str
    daemonset: str
    owner: str | None

    def describe(self) -> str:
        who = f", installed by netplumb stack {self.owner}" if self.owner else ""
        return f"{self.name} (DaemonSet {self.daemonset}{who})"


NOT_A_NETWORK: dict[str, tuple[str, ...]] = {
    # kube-router run as a firewall only (the pairing beside Flannel that netplumb's
    # network_policy installs, and k3s ships): it routes no pod, another network does
    "kube-router": ("--run-router=false",),
}
"""Flags with which a well-known CNI's DaemonSet runs without being the pod network."""


def _containers(ds: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for key in ("containers", "initContainers") for c in spec.get(key) or []
            if isinstance(c, Mapping)]


def _images(ds: Mapping[str, Any]) -> list[str]:
    return [str(c.get("image", "")) for c in _containers(ds)]


def _runs_with(ds: Mapping[str, Any], flags: tuple[str, ...]) -> bool:
    words = {str(w) for c in _containers(ds)
             for w in [*(c.get("command") or []), *(c.get("args") or [])]}
    return any(f in words for f in flags)


def find(daemonsets: Iterable[Mapping[str, Any]]) -> list[Primary]:
    """The default networks among ``daemonsets`` (plain API objects), in their order."""
    out: list[Primary] = []
    for ds in daemonsets:
        meta = ds.get("metadata") or {}
        name = str(meta.get("name", ""))
        app = str((meta.get("labels") or {}).get("k8s-app", ""))
        images = _images(ds)
        for cni, names, fragments in KNOWN:
            if name in names or app in names or any(f in i for f in fragments for i in images):
                if _runs_with(ds, NOT_A_NETWORK.get(cni, ())):
                    break
                out.append(Primary(cni, f"{meta.get('namespace')}/{name}",
                                   (meta.get("annotations") or {}).get(OWNER_ANNOTATION)))
                break
    return out
