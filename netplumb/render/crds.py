"""netplumb's own CRDs for the custom resources it creates but does not define:
MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1), ServiceMonitor and PrometheusRule
(monitoring.coreos.com/v1).

They are for clusters without the projects that normally ship these CRDs (a test cluster,
a cluster where the policy implementation comes later). MultiNetworkPolicy's schema is
structural and complete: every field of the v1beta1 API multi-networkpolicy-iptables reads
(``podSelector``, ``policyTypes``, ``ingress``/``egress`` with ``from``/``to`` peers and
``ports``) is typed, under the group, version and names upstream uses, so objects written
for upstream's CRD are accepted and unknown fields are pruned. The Prometheus operator's
are minimal: they check the envelope and keep ``spec`` as given.
"""

from __future__ import annotations

from typing import Any

from .manifests import crd, object_schema

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

PROMETHEUS_RULE_API_VERSION = SERVICE_MONITOR_API_VERSION
PROMETHEUS_RULE_KIND = "PrometheusRule"
PROMETHEUS_RULE_PLURAL = "prometheusrules"


def _open_object(description: str, **props: Any) -> dict[str, Any]:
    """An object whose listed properties are typed and whose other keys are kept."""
    out: dict[str, Any] = {"type": "object", "description": description,
                           "x-kubernetes-preserve-unknown-fields": True}
    if props:
        out["properties"] = props
    return out


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string"}}


def label_selector_schema(description: str) -> dict[str, Any]:
    """A ``metav1.LabelSelector``: ``matchLabels`` and ``matchExpressions`` (``{}`` selects
    everything)."""
    requirement = object_schema(
        "A label requirement: key, operator (In, NotIn, Exists, DoesNotExist) and values.", {
            "key": {"type": "string", "description": "The label key."},
            "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"],
                         "description": "How the key relates to the values."},
            "values": _strings("Values for In and NotIn; empty for Exists and "
                               "DoesNotExist."),
        }, ["key", "operator"])
    return {**object_schema(description, {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "Labels that must all match."},
        "matchExpressions": {"type": "array", "items": requirement,
                             "description": "Requirements that must all hold."},
    }), "x-kubernetes-map-type": "atomic"}


def _policy_peer_schema(direction: str) -> dict[str, Any]:
    return object_schema(
        f"Where traffic may come {direction}: pods (podSelector, with namespaceSelector for "
        "other namespaces), namespaces, or an ipBlock.", {
            "podSelector": label_selector_schema("Pods whose addresses on the policy's "
                                                 "networks are peers."),
            "namespaceSelector": label_selector_schema("Namespaces whose pods are peers."),
            "ipBlock": object_schema("An address range; except leaves sub-ranges out.", {
                "cidr": {"type": "string", "description": "The range, e.g. 10.0.0.0/8."},
                "except": _strings("Sub-ranges of cidr that are not peers."),
            }, ["cidr"]),
        })


def _policy_port_schema() -> dict[str, Any]:
    return object_schema(
        "A port, or a range from port to endPort; no port: every port of the protocol.", {
            "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"],
                         "description": "L4 protocol (TCP when unset)."},
            "port": {"x-kubernetes-int-or-string": True,
                     "description": "Port number or named container port."},
            "endPort": {"type": "integer", "format": "int32", "minimum": 1,
                        "maximum": 65535,
                        "description": "Last port of a range starting at a numeric port."},
        })


def multi_network_policy_spec_schema() -> dict[str, Any]:
    """``spec`` of a MultiNetworkPolicy v1beta1: NetworkPolicy's spec."""
    def rules(peers: str, direction: str) -> dict[str, Any]:
        return {"type": "array", "description": f"Allowed {direction} traffic; a rule allows "
                f"traffic matching any of its {peers} on any of its ports.",
                "items": object_schema(None, {
                    "ports": {"type": "array", "items": _policy_port_schema(),
                              "description": "Ports; empty: every port."},
                    peers: {"type": "array",
                            "items": _policy_peer_schema(
                                "from" if direction == "ingress" else "to"),
                            "description": "Peers; empty: every peer."}})}

    return object_schema(
        "Same fields as a NetworkPolicy spec; the networks it applies to are named by the "
        "k8s.v1.cni.cncf.io/policy-for annotation.", {
            "podSelector": label_selector_schema("Pods of the policy's namespace it applies "
                                                 "to ({}: all)."),
            "policyTypes": {"type": "array", "description": "Directions it isolates.",
                            "items": {"type": "string", "enum": ["Ingress", "Egress"]}},
            "ingress": rules("from", "ingress"),
            "egress": rules("to", "egress"),
        }, ["podSelector"])


def multi_network_policy_crd() -> dict[str, Any]:
    """MultiNetworkPolicy v1beta1 (``multi-networkpolicies.k8s.cni.cncf.io``): NetworkPolicy's
    spec, applied to the NADs named in the ``k8s.v1.cni.cncf.io/policy-for`` annotation."""
    return crd(MULTI_NETWORK_POLICY_GROUP, MULTI_NETWORK_POLICY_VERSION,
               MULTI_NETWORK_POLICY_KIND, MULTI_NETWORK_POLICY_PLURAL, "multi-networkpolicy",
               ["multi-policy"],
               "Network policy for secondary (NetworkAttachmentDefinition) networks.",
               multi_network_policy_spec_schema())


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


def prometheus_rule_crd() -> dict[str, Any]:
    """PrometheusRule v1 (Prometheus operator), minimal: groups of named rules typed."""
    rule_schema = _open_object(
        "An alerting rule (alert) or a recording rule (record).",
        alert={"type": "string"}, record={"type": "string"},
        expr={"x-kubernetes-int-or-string": True}, labels=_open_object("Labels to add."),
        annotations=_open_object("Annotations of an alert."))
    rule_schema["required"] = ["expr"]
    group = _open_object("A rule group, evaluated together.",
                         name={"type": "string"}, interval={"type": "string"},
                         rules={"type": "array", "items": rule_schema})
    group["required"] = ["name"]
    spec = _open_object("Prometheus rule groups.",
                        groups={"type": "array", "items": group})
    return crd(SERVICE_MONITOR_GROUP, SERVICE_MONITOR_VERSION, PROMETHEUS_RULE_KIND,
               PROMETHEUS_RULE_PLURAL, "prometheusrule", ["promrule"],
               "Prometheus alerting and recording rules.", spec)
