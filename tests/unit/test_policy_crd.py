"""netplumb's MultiNetworkPolicy CRD: a structural schema under upstream's group, version and
names that accepts what users write (upstream's e2e policies where its snapshot is extracted
under /tmp, and equivalent examples inline), what netplumb renders, and refuses what the
API would refuse; its fields are those of upstream's Go types where the sources are here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb.args.guardrails import MultiNetworkPolicyArgs
from netplumb.render.crds import multi_network_policy_crd
from netplumb.render.guardrails import multi_network_policy

from .test_policy_enforcers import mnp_source

J = dict[str, Any]


def schema() -> J:
    [version] = multi_network_policy_crd()["spec"]["versions"]
    root: J = version["schema"]["openAPIV3Schema"]
    return root


def problems(value: Any, node: J, path: str = "") -> list[str]:
    """Where ``value`` breaks ``node`` as the API server reads a structural schema; a field
    the schema does not know (which the server would prune) counts too."""
    if node.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return [] if ok else [f"{path}: not an int or a string"]
    kind = node["type"]
    types: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,),
                                          "integer": (int,), "boolean": (bool,)}
    if not isinstance(value, types[kind]) or (kind == "integer" and isinstance(value, bool)):
        return [f"{path}: not {kind}"]
    out: list[str] = []
    if "enum" in node and value not in node["enum"]:
        out.append(f"{path}: {value!r} not one of {node['enum']}")
    if kind == "integer":
        if value < node.get("minimum", value) or value > node.get("maximum", value):
            out.append(f"{path}: {value} out of range")
    if kind == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            out += problems(item, node["items"], f"{path}[{i}]")
    if isinstance(value, dict) and path != ".metadata":  # the server checks ObjectMeta
        out += [f"{path}.{k}: missing" for k in node.get("required", []) if k not in value]
        for k, v in value.items():
            sub = node.get("properties", {}).get(k, node.get("additionalProperties"))
            if sub is None:
                if not node.get("x-kubernetes-preserve-unknown-fields"):
                    out.append(f"{path}.{k}: unknown field (pruned)")
            elif isinstance(sub, dict) and sub:
                out += problems(v, sub, f"{path}.{k}")
    return out


def nodes(node: J, path: str = "") -> list[tuple[str, J]]:
    out = [(path, node)]
    for k, sub in node.get("properties", {}).items():
        out += nodes(sub, f"{path}.{k}")
    if isinstance(node.get("additionalProperties"), dict):
        out += nodes(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        out += nodes(node["items"], f"{path}[]")
    return out


def test_group_version_and_names_are_upstreams() -> None:
    crd = multi_network_policy_crd()
    assert crd["metadata"]["name"] == "multi-networkpolicies.k8s.cni.cncf.io"
    spec = crd["spec"]
    assert spec["group"] == "k8s.cni.cncf.io" and spec["scope"] == "Namespaced"
    assert spec["names"] == {"plural": "multi-networkpolicies", "singular": "multi-networkpolicy",
                             "kind": "MultiNetworkPolicy", "shortNames": ["multi-policy"]}
    [version] = spec["versions"]
    assert version["name"] == "v1beta1" and version["served"] and version["storage"]


def test_the_schema_is_structural_and_complete() -> None:
    for path, node in nodes(schema()["properties"]["spec"], "spec"):
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert "type" in node or node.get("x-kubernetes-int-or-string"), path
    spec = schema()["properties"]["spec"]
    assert set(spec["properties"]) == {"podSelector", "policyTypes", "ingress", "egress"}
    ingress = spec["properties"]["ingress"]["items"]["properties"]
    egress = spec["properties"]["egress"]["items"]["properties"]
    assert set(ingress) == {"ports", "from"} and set(egress) == {"ports", "to"}
    peer = ingress["from"]["items"]["properties"]
    assert set(peer) == {"podSelector", "namespaceSelector", "ipBlock"}
    assert peer["ipBlock"]["required"] == ["cidr"]
    port = ingress["ports"]["items"]["properties"]
    assert port["port"] == {"x-kubernetes-int-or-string": True,
                            "description": port["port"]["description"]}
    assert port["endPort"]["type"] == "integer"


# upstream's e2e policies, in kind: the shapes users rely on
INLINE: list[J] = [
    {"podSelector": {"matchLabels": {"name": "pod-server"}},
     "ingress": [{"from": [{"podSelector": {"matchLabels": {"name": "pod-client-a"}}}]}]},
    {"podSelector": {"matchLabels": {"name": "pod-server"}}, "policyTypes": ["Egress"],
     "egress": [{"to": [{"podSelector": {"matchLabels": {"name": "pod-client-a"}}}]},
                {"to": [{"podSelector": {"matchLabels": {"name": "pod-client-c"}}}]}]},
    {"podSelector": {"matchLabels": {"name": "pod-server"}}, "policyTypes": ["Ingress"],
     "ingress": [{"from": [{"ipBlock": {"cidr": "2.2.5.11/32"}},
                           {"ipBlock": {"cidr": "2.2.5.0/24", "except": ["2.2.5.12/32"]}}]}]},
    {"podSelector": {"matchLabels": {"name": "pod-a"}}, "policyTypes": ["Egress", "Ingress"],
     "egress": [{"ports": [{"port": 5000, "endPort": 5900}]}],
     "ingress": [{"ports": [{"protocol": "UDP"}]}]},
    {"podSelector": {"matchLabels": {"name": "pod-server"}}, "policyTypes": ["Ingress"],
     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"foo": "bar"}}}]}]},
    {"podSelector": {}, "ingress": [{"from": [{
        "namespaceSelector": {}, "podSelector": {"matchExpressions": [
            {"key": "role", "operator": "In", "values": ["web", "api"]},
            {"key": "canary", "operator": "DoesNotExist"}]}}],
        "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "SCTP", "port": 3868}]}]},
]


def policy(spec: J) -> J:
    return {"apiVersion": "k8s.cni.cncf.io/v1beta1", "kind": "MultiNetworkPolicy",
            "metadata": {"name": "p", "namespace": "default",
                         "annotations": {"k8s.v1.cni.cncf.io/policy-for": "default/net"}},
            "spec": spec}


@pytest.mark.parametrize("spec", INLINE, ids=range(len(INLINE)))
def test_policies_as_users_write_them_are_accepted(spec: J) -> None:
    assert problems(policy(spec), schema()) == []


def upstream_policies() -> list[tuple[str, J]]:
    root = mnp_source()
    if root is None:
        return []
    out = []
    for path in sorted((root / "e2e/tests").glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "MultiNetworkPolicy":
                out.append((f"{path.name}:{doc['metadata']['name']}", doc))
    return out


def test_upstreams_e2e_policies_are_accepted() -> None:
    found = upstream_policies()
    if not found:
        pytest.skip("multi-networkpolicy-iptables' snapshot is not extracted under /tmp "
                    "(the inline examples stand in for its e2e policies)")
    assert len(found) >= 10
    for name, doc in found:
        assert doc["apiVersion"] == "k8s.cni.cncf.io/v1beta1", name
        assert problems(doc, schema()) == [], name


@pytest.mark.parametrize(("spec", "where"), [
    ({"ingress": []}, ".spec.podSelector: missing"),
    ({"podSelector": {}, "policyTypes": ["Both"]}, ".spec.policyTypes[0]"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"except": ["10.0.0.0/8"]}}]}]},
     ".spec.ingress[0].from[0].ipBlock.cidr: missing"),
    ({"podSelector": {}, "egress": [{"ports": [{"port": 80, "endPort": "90"}]}]},
     ".spec.egress[0].ports[0].endPort"),
    ({"podSelector": {}, "egress": [{"ports": [{"port": 8.5}]}]},
     ".spec.egress[0].ports[0].port"),
    ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]},
     ".spec.ingress[0].ports[0].protocol"),
    ({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"a": 1}}}]}]},
     ".spec.ingress[0].from[0].podSelector.matchLabels.a"),
    ({"podSelector": {}, "ingres": []}, ".spec.ingres: unknown field"),
])
def test_what_the_api_would_refuse_or_prune_is_found(spec: J, where: str) -> None:
    found = problems(policy(spec), schema())
    assert any(p.startswith(where) for p in found), found


def test_what_netplumb_renders_is_accepted() -> None:
    args = MultiNetworkPolicyArgs.parse({
        "name": "db", "namespace": "data", "policy_for": ["storage", "infra/backbone"],
        "pod_selector": {"app": "db"}, "policy_types": ["Ingress", "Egress"],
        "ingress": [{"peers": [{"pod_selector": {"app": "web"}},
                               {"namespace_selector": {"team": "a"}, "pod_selector": {}},
                               {"ip_block": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"port": 5432}, {"protocol": "UDP", "port": 6000,
                                                "end_port": 6100}, {"port": "metrics"}]}],
        "egress": [{"ports": [{"protocol": "SCTP"}]}]})
    assert problems(multi_network_policy(args), schema()) == []


def go_json_fields(source: str, struct: str) -> set[str]:
    body = re.search(r"type " + struct + r" struct \{(.*?)\n\}", source, re.S)
    assert body, struct
    return {tag.split(",")[0] for tag in re.findall(r'`json:"([^"]*)"`', body[1])} - {"", "-"}


def test_fields_are_those_of_upstreams_types() -> None:
    root = mnp_source()
    if root is None:
        pytest.skip("multi-networkpolicy-iptables' snapshot is not extracted under /tmp")
    types = root / ("vendor/github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/"
                    "k8s.cni.cncf.io/v1beta1/types.go")
    source = Path(types).read_text()
    spec = schema()["properties"]["spec"]
    rules = spec["properties"]
    ingress = rules["ingress"]["items"]["properties"]
    egress = rules["egress"]["items"]["properties"]
    assert set(rules) == go_json_fields(source, "MultiNetworkPolicySpec")
    assert set(ingress) == go_json_fields(source, "MultiNetworkPolicyIngressRule")
    assert set(egress) == go_json_fields(source, "MultiNetworkPolicyEgressRule")
    peer = ingress["from"]["items"]["properties"]
    assert set(peer) == go_json_fields(source, "MultiNetworkPolicyPeer")
    assert set(peer["ipBlock"]["properties"]) == go_json_fields(source, "IPBlock")
    assert set(ingress["ports"]["items"]["properties"]) == go_json_fields(
        source, "MultiNetworkPolicyPort")
