"""``netplumb check`` on policies (issue P item 4): what the enforcers silently ignore and
what surprises people, each finding at the key that causes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb import PlanError
from netplumb.args.stack import StackSpec
from netplumb.cli.main import main
from netplumb.errors import Finding
from netplumb.plan import build_plan

J = dict[str, Any]
AT = ("config", "netplumb:spec")
S = "config.netplumb:spec"
G = f"{S}.guardrails"

MACVLAN: J = {"name": "mv", "type": "macvlan", "master": "eth1",
              "ipam": {"type": "whereabouts", "range": "192.0.2.0/24"}}
BRIDGE_NO_IPAM: J = {"name": "br", "type": "bridge", "bridge": "br1"}
CONFLIST: J = {"name": "chain", "config": {
    "cniVersion": "1.0.0", "name": "chain",
    "plugins": [{"type": "ipvlan", "master": "eth2", "ipam": {"type": "static"}},
                {"type": "tuning", "sysctl": {"net.ipv4.conf.all.log_martians": "1"}}]}}
DB_POD: J = {"name": "db", "labels": {"role": "db"}, "networks": [{"name": "mv"}]}


def spec_of(**keys: Any) -> StackSpec:
    base: J = {"networks": [MACVLAN, BRIDGE_NO_IPAM, CONFLIST],
               "whereabouts": {"installed": "external"}, "pods": [DB_POD]}
    return StackSpec.parse({**base, **keys}, at=AT)


def findings(spec: StackSpec) -> list[Finding]:
    return build_plan(spec, root=AT).findings


def at(found: list[Finding], path: str) -> list[Finding]:
    return [f for f in found if f.path == path]


def errors_of(spec: StackSpec) -> list[Finding]:
    with pytest.raises(PlanError) as err:
        build_plan(spec, root=AT)
    return err.value.findings


def mnp(**fields: Any) -> J:
    return {"name": "p", "policy_for": ["mv"], "pod_selector": {"role": "db"}, **fields}


# -- a policy selecting no pod ----------------------------------------------------------------


def test_a_network_policy_selecting_no_pod_of_its_namespace() -> None:
    found = findings(spec_of(guardrails={"network_policies": [
        {"name": "web", "pod_selector": {"role": "web"}}]}))
    [w] = at(found, f"{G}.network_policies[0].pod_selector")
    assert w.severity == "warning" and w.value == {"role": "web"}
    assert "selects no pod" in w.message and "pod db" in w.message
    assert "Checked only in namespaces where the plan declares pods or workloads" in w.message


def test_selection_counts_the_labels_netplumb_renders_and_workload_templates() -> None:
    found = findings(spec_of(
        workloads=[{"name": "api", "image": "busybox:1.36", "labels": {"tier": "api"}}],
        guardrails={"network_policies": [
            {"name": "by-app", "pod_selector": {"app": "db"}},
            {"name": "by-label", "pod_selector": {"role": "db"}},
            {"name": "template", "pod_selector": {"tier": "api", "app": "api"}},
            {"name": "all", "pod_selector": {}}]}))
    assert not [f for f in found if ".network_policies[" in f.path]


def test_namespaces_without_pods_in_the_plan_are_not_judged() -> None:
    found = findings(spec_of(guardrails={"network_policies": [
        {"name": "elsewhere", "namespace": "team-b", "pod_selector": {"x": "y"}}]}))
    assert not [f for f in found if ".network_policies[" in f.path]


def test_a_multi_network_policy_selecting_no_pod_or_no_attached_pod() -> None:
    found = findings(spec_of(guardrails={"multi_network_policies": [
        mnp(name="none", pod_selector={"role": "web"}),
        mnp(name="detached", policy_for=["br"]),
        mnp(name="fine")]}))
    [none] = at(found, f"{G}.multi_network_policies[0].pod_selector")
    assert "selects no pod" in none.message and none.severity == "warning"
    [detached] = at(found, f"{G}.multi_network_policies[1].pod_selector")
    assert "pod db" in detached.message and "default/br" in detached.message
    assert "none of them attaches" in detached.message
    assert not at(found, f"{G}.multi_network_policies[2].pod_selector")


def test_pods_selecting_networks_by_raw_annotation_are_not_called_detached() -> None:
    pod = {"name": "raw", "labels": {"role": "raw"},
           "annotations": {"k8s.v1.cni.cncf.io/networks": "mv"}}
    found = findings(spec_of(pods=[pod], guardrails={"multi_network_policies": [
        mnp(pod_selector={"role": "raw"})]}))
    assert not at(found, f"{G}.multi_network_policies[0].pod_selector")


# -- policy-for: a NAD that does not exist, or whose plugin the enforcer ignores ---------------


def test_policy_for_a_nad_that_does_not_exist() -> None:
    found = errors_of(spec_of(guardrails={"multi_network_policies": [
        mnp(policy_for=["mv", "nope"])]}))
    [e] = at(found, f"{G}.multi_network_policies[0].policy_for[1]")
    assert "no network default/nope" in e.message and e.severity == "error"


def test_policy_for_a_network_the_enforcer_does_not_act_for() -> None:
    spec = spec_of(multi_network_policy={},
                   guardrails={"multi_network_policies": [mnp(policy_for=["mv", "chain"])]})
    [e] = errors_of(spec)
    assert e.path == f"{G}.multi_network_policies[0].policy_for[1]" and e.value == "chain"
    # a conflist's type is its first plugin's, as multi-networkpolicy-iptables reads it
    assert "default/chain is ipvlan" in e.message
    assert f"{S}.multi_network_policy.network_plugins" in e.message
    assert "macvlan" in e.message
    fixed = spec_of(multi_network_policy={"network_plugins": ["macvlan", "ipvlan"]},
                    guardrails={"multi_network_policies": [mnp(policy_for=["mv", "chain"])]})
    assert not [f for f in findings(fixed) if f.severity == "error"]


def test_without_an_enforcer_in_the_stack_the_plugin_is_not_judged() -> None:
    found = findings(spec_of(guardrails={"multi_network_policies": [
        mnp(policy_for=["chain"])]}))
    assert not at(found, f"{G}.multi_network_policies[0].policy_for[0]")


# -- peers on a network without IPAM ----------------------------------------------------------


def test_peers_on_a_network_without_ipam_cannot_match() -> None:
    policy = mnp(policy_for=["br"], policy_types=["Ingress", "Egress"],
                 ingress=[{"peers": [{"ip_block": {"cidr": "192.0.2.0/24"}},
                                     {"pod_selector": {"role": "web"},
                                      "namespace_selector": {}}]},
                          {"ports": [{"port": 80}]}],
                 egress=[{"peers": [{"namespace_selector": {"team": "a"}}]}])
    pods = [{"name": "db", "labels": {"role": "db"}, "networks": [{"name": "br"}]}]
    found = findings(spec_of(pods=pods, guardrails={"multi_network_policies": [policy]}))
    base = f"{G}.multi_network_policies[0]"
    [block] = at(found, f"{base}.ingress[0].peers[0].ip_block")
    assert block.value == "192.0.2.0/24" and block.severity == "warning"
    assert "default/br has no IPAM" in block.message and "source addresses" in block.message
    assert at(found, f"{base}.ingress[0].peers[1].pod_selector")
    [egress] = at(found, f"{base}.egress[0].peers[0].namespace_selector")
    assert "egress" in egress.message
    assert not [f for f in found if f.path.startswith(f"{base}.ingress[1]")]  # any peer


def test_peers_on_networks_with_ipam_are_fine() -> None:
    found = findings(spec_of(guardrails={"multi_network_policies": [
        mnp(ingress=[{"peers": [{"ip_block": {"cidr": "192.0.2.0/24"}}]}])]}))
    assert not [f for f in found if "no IPAM" in f.message]


def test_ingress_rules_of_an_egress_only_policy_are_not_judged() -> None:
    # policy_types without Ingress and ingress rules is refused by the args; egress only:
    found = findings(spec_of(guardrails={"multi_network_policies": [
        mnp(policy_for=["br"], egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}],
            policy_types=["Egress"])]}))
    assert not [f for f in found if "no IPAM" in f.message]


# -- pod selectors without a namespace selector -----------------------------------------------


def test_a_pod_selector_peer_matches_every_namespace_under_the_enforcer() -> None:
    policy = mnp(ingress=[{"peers": [{"pod_selector": {"role": "web"}},
                                     {"pod_selector": {"role": "api"},
                                      "namespace_selector": {"team": "a"}}]}])
    found = findings(spec_of(multi_network_policy={},
                             guardrails={"multi_network_policies": [policy]}))
    base = f"{G}.multi_network_policies[0].ingress[0]"
    [w] = at(found, f"{base}.peers[0].pod_selector")
    assert "every namespace" in w.message and w.severity == "warning"
    assert not at(found, f"{base}.peers[1].pod_selector")
    without = findings(spec_of(guardrails={"multi_network_policies": [policy]}))
    assert not at(without, f"{base}.peers[0].pod_selector")


# -- through the command ----------------------------------------------------------------------


def test_netplumb_check_prints_them_with_their_paths(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec: J = {"networks": [MACVLAN, BRIDGE_NO_IPAM], "whereabouts": {"installed": "external"},
            "pods": [DB_POD], "network_policy": {}, "multi_network_policy": {},
            "guardrails": {"network_policies": [{"name": "web",
                                                 "pod_selector": {"role": "web"}}],
                           "multi_network_policies": [mnp()]}}
    (tmp_path / "Pulumi.pol.yaml").write_text(yaml.safe_dump(
        {"config": {"netplumb:spec": spec}}))
    assert main(["--stacks-dir", str(tmp_path), "check", "pol"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {G}.network_policies[0].pod_selector:" in out
    spec["guardrails"]["multi_network_policies"] = [mnp(policy_for=["br"])]
    (tmp_path / "Pulumi.pol.yaml").write_text(yaml.safe_dump(
        {"config": {"netplumb:spec": spec}}))
    assert main(["--stacks-dir", str(tmp_path), "check", "pol"]) == 1
    err = capsys.readouterr().err
    assert f"error: {G}.multi_network_policies[0].policy_for[0]:" in err
    assert "default/br is bridge" in err


# -- NetworkPolicies that nothing enforces ----------------------------------------------------


def test_network_policies_under_flannel_without_an_enforcer() -> None:
    policies = {"network_policies": [{"name": "a"}, {"name": "b"}]}
    found = findings(spec_of(multus={"default_network": "flannel"}, guardrails=policies))
    [w] = at(found, f"{G}.network_policies[0]")
    assert w.severity == "warning" and w.value == "a"
    assert f"{S}.multus.default_network" in w.message and f"{S}.network_policy: {{}}" in w.message
    assert "and 1 more" in w.message
    enforced = findings(spec_of(multus={"default_network": "flannel"}, network_policy={},
                                guardrails=policies))
    assert not at(enforced, f"{G}.network_policies[0]")
    theirs = findings(spec_of(multus={"default_network": "none"}, guardrails=policies))
    assert not at(theirs, f"{G}.network_policies[0]")


# -- a policy for one network isolates its pods on the others --------------------------------


def test_a_policy_for_one_network_warns_of_the_pods_other_macvlan_networks() -> None:
    mv2: J = {**MACVLAN, "name": "mv2", "master": "eth3",
              "ipam": {"type": "whereabouts", "range": "198.51.100.0/24"}}
    both: J = {**DB_POD, "networks": [{"name": "mv"}, {"name": "mv2"}, {"name": "br"}]}
    spec = StackSpec.parse({"networks": [MACVLAN, mv2, BRIDGE_NO_IPAM],
                            "whereabouts": {"installed": "external"}, "pods": [both],
                            "guardrails": {"multi_network_policies": [mnp()]}}, at=AT)
    [w] = at(findings(spec), f"{G}.multi_network_policies[0].policy_for")
    assert w.severity == "warning" and w.value == ["mv"]
    # the bridge network is not of a type the enforcer acts for (macvlan by default)
    assert "(default/mv2: pod db)" in w.message and "default/br" not in w.message
    assert "so their ingress there is dropped" in w.message
    # naming both networks settles it
    spec2 = StackSpec.parse({"networks": [MACVLAN, mv2], "whereabouts": {"installed": "external"},
                             "pods": [{**DB_POD, "networks": [{"name": "mv"}, {"name": "mv2"}]}],
                             "guardrails": {"multi_network_policies": [
                                 mnp(policy_for=["mv", "mv2"])]}}, at=AT)
    assert not at(findings(spec2), f"{G}.multi_network_policies[0].policy_for")
