"""netplumb's own minimal CRDs for the custom resources it creates but does not define:
MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1) and ServiceMonitor (monitoring.coreos.com/v1).

They are for clusters without the projects that normally ship these CRDs (a test cluster,
a cluster where the policy implementation comes later). The schemas check the envelope
only and keep ``spec`` as given, so objects written for the full CRDs are accepted.
"""

from __future__ import annotations

from typing import Any

from .manifests import crd

MULTI_NETWORK_POLICY_GROUP = "k8s.cni.cncf.io"
MULTI_NETWORK_POLICY_VERSION = "v1beta1"
MULTI_NETWORK_POLICY_API_VERSION = f"{MULTI_NETWORK_POLICY_GROUP}/{MULTI_NETWORK_POLICY_VERSION}"
MULTI_NETWORK_POLICY_KIND = "MultiNetworkPolicy"
MULTI_NETWORK_POLICY_PLURAL = "multi-networkpolicies"

SERVICE_MONITOR_GROUP = "monitoring.coreos.com"
SERVICE_MONITOR_VERSION = "v1"
SERVICE_MONITOR_API_VERSION = f"{SERVICE_MONITOR_GROUP}/{SERVICE_MONITOR_VERSION}"
SERVICE_MONITOR_KIND = "ServiceMonitor"
SERVICE_MONITOR_PLURAL = "servicemonitors"


def _open_object(description: str, **props: Any) -> dict[str, Any]:
    """An object whose listed properties are typed and whose other keys are kept."""
    out: dict[str, Any] = {"type": "object", "description": description,
                           "x-kubernetes-preserve-unknown-fields": True}
    if props:
        out["properties"] = props
    return out


def multi_network_policy_crd() -> dict[str, Any]:
    """MultiNetworkPolicy v1beta1: NetworkPolicy's spec, applied to the NADs named in the
    ``k8s.v1.cni.cncf.io/policy-for`` annotation."""
    spec = _open_object(
        "Same fields as a NetworkPolicy spec.",
        podSelector=_open_object("Pods the policy applies to."),
        policyTypes={"type": "array", "items": {"type": "string",
                                                "enum": ["Ingress", "Egress"]}},
        ingress={"type": "array", "items": _open_object("An ingress rule.")},
        egress={"type": "array", "items": _open_object("An egress rule.")},
    )
    spec["required"] = ["podSelector"]
    return crd(MULTI_NETWORK_POLICY_GROUP, MULTI_NETWORK_POLICY_VERSION,
               MULTI_NETWORK_POLICY_KIND, MULTI_NETWORK_POLICY_PLURAL, "multi-networkpolicy",
               ["multi-policy"],
               "Network policy for secondary (NetworkAttachmentDefinition) networks.", spec)


def service_monitor_crd() -> dict[str, Any]:
    """ServiceMonitor v1 (Prometheus operator), minimal: selector and endpoints typed."""
    spec = _open_object(
        "Which Services to scrape and how.",
        selector=_open_object("Label selector of the Services."),
        namespaceSelector=_open_object("Namespaces of the Services."),
        endpoints={"type": "array", "items": _open_object(
            "A scrape endpoint.", port={"type": "string"}, interval={"type": "string"},
            path={"type": "string"})},
    )
    spec["required"] = ["selector"]
    return crd(SERVICE_MONITOR_GROUP, SERVICE_MONITOR_VERSION, SERVICE_MONITOR_KIND,
               SERVICE_MONITOR_PLURAL, "servicemonitor", ["smon"],
               "Prometheus scrape configuration for a set of Services.", spec)
