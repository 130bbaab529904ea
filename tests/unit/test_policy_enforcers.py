"""The policy enforcers: kube-router's firewall (``network_policy:``) and
multi-networkpolicy-iptables (``multi_network_policy:``). What each component registers under
Pulumi mocks (kinds, names, order, what waits for what, retained cluster-wide objects), their
DaemonSets' flags, mounts and security contexts, their RBAC, the stack keys, and the one
MultiNetworkPolicy CRD. Flags are checked against upstream's own flag definitions where the
sources are on this machine (kube-router in the Go module cache, multi-networkpolicy-iptables
extracted under /tmp); the tests run without them."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.images import KUBE_ROUTER_IMAGE, MULTI_NETWORKPOLICY_IMAGE
from netplumb.args.multi_network_policy import MultiNetworkPolicyEnforcerArgs
from netplumb.args.network_policy import NetworkPolicyEnforcerArgs
from netplumb.args.stack import StackSpec
from netplumb.components.multi_network_policy import MultiNetworkPolicyEnforcer
from netplumb.components.network_policy import NetworkPolicyEnforcer
from netplumb.components.stack import NetplumbStack
from netplumb.plan import build_plan, cluster_wide, render_plan
from netplumb.render.multi_network_policy import enforcer_args, multi_network_policy_manifests
from netplumb.render.network_policy import kube_router_args, network_policy_manifests

from .node_sources import flag_names
from .pulumi_mocks import run_program
from .test_platform_flannel import refused

J = dict[str, Any]
AT = ("config", "netplumb:spec")
S = "config.netplumb:spec"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
DS_TYPE = "kubernetes:apps/v1:DaemonSet"


def by_kind(manifests: list[J]) -> dict[str, J]:
    return {m["kind"]: m for m in manifests}


def pod_spec(ds: J) -> J:
    spec: J = ds["spec"]["template"]["spec"]
    return spec


def mounts(container: J) -> dict[str, J]:
    return {m["mountPath"]: m for m in container["volumeMounts"]}


def host_paths(spec: J) -> dict[str, J]:
    return {v["name"]: v["hostPath"] for v in spec["volumes"] if "hostPath" in v}


def rules_of(role: J) -> set[tuple[str, str, str]]:
    """``(group, resource, verb)`` of every grant."""
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


# -- upstream sources, where this machine has them --------------------------------------------


@cache
def kube_router_source() -> Path | None:
    """kube-router v2.1.0 in the Go module cache."""
    try:
        root = Path(subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True,
                                   text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        root = Path.home() / "go/pkg/mod"
    path = root / "github.com/cloudnativelabs/kube-router/v2@v2.1.0"
    return path if path.is_dir() else None


@cache
def mnp_source() -> Path | None:
    """multi-networkpolicy-iptables' snapshot, where someone extracted it under /tmp."""
    tmp = Path("/tmp")
    for path in [tmp / "multi-networkpolicy-iptables",
                 *sorted(tmp.glob("*/multi-networkpolicy-iptables"))]:
        if (path / "pkg/server/options.go").is_file():
            return path
    return None


def go_flags(source: str) -> set[str]:
    """The flag names a Go file defines with pflag (``fs.XxxVar(&…, "name", …)``)."""
    return set(re.findall(r'fs\.\w+\(&[\w.]+,\s*"([a-z0-9-]+)"', source))


# -- kube-router's firewall -------------------------------------------------------------------


def test_kube_router_runs_the_firewall_alone_in_cluster() -> None:
    args = NetworkPolicyEnforcerArgs()
    flags = kube_router_args(args)
    assert flags[:3] == ["--run-firewall=true", "--run-router=false",
                         "--run-service-proxy=false"]
    assert "--service-cluster-ip-range=10.96.0.0/12" in flags
    assert "--health-port=20244" in flags
    assert not any(f.startswith(("--kubeconfig", "--master", "--metrics-port"))
                   for f in flags)
    assert "--metrics-port=9100" in kube_router_args(NetworkPolicyEnforcerArgs(metrics_port=9100))


def test_kube_router_flags_are_upstreams() -> None:
    root = kube_router_source()
    if root is None:
        pytest.skip("kube-router v2.1.0 is not in the Go module cache")
    defined = go_flags((root / "pkg/options/options.go").read_text())
    defined.add("v")  # fs.StringVarP(&s.VLevel, "v", "v", ...)
    args = NetworkPolicyEnforcerArgs(metrics_port=9100, enable_ipv6=True,
                                     service_cluster_ip_range=["10.96.0.0/12", "fd00::/108"])
    assert set(flag_names(kube_router_args(args))) <= defined


def test_kube_router_daemonset_has_what_the_firewall_needs_and_no_cni_config() -> None:
    objs = by_kind(network_policy_manifests(NetworkPolicyEnforcerArgs()))
    ds = objs["DaemonSet"]
    spec = pod_spec(ds)
    [c] = spec["containers"]
    assert "initContainers" not in spec and "ConfigMap" not in objs
    assert spec["hostNetwork"] is True and "hostPID" not in spec
    assert c["image"] == KUBE_ROUTER_IMAGE == "docker.io/cloudnativelabs/kube-router:v2.1.0"
    assert c["securityContext"] == {"privileged": True}
    assert c["env"] == [{"name": "NODE_NAME",
                         "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    # the firewall runs no modprobe (the kernel loads ipset and xt_set itself): no
    # /lib/modules, which the container runtime would create on a node without it
    assert mounts(c) == {
        "/run/xtables.lock": {"name": "xtables-lock", "mountPath": "/run/xtables.lock"}}
    assert host_paths(spec) == {"xtables-lock": {"path": "/run/xtables.lock",
                                                 "type": "FileOrCreate"}}
    assert not any("/etc/cni" in v["path"] or v["path"] == "/opt"
                   for v in host_paths(spec).values())
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["ports"] == [{"name": "health", "containerPort": 20244, "protocol": "TCP"}]
    assert spec["serviceAccountName"] == "kube-router"
    assert spec["priorityClassName"] == "system-node-critical"
    assert ds["metadata"]["namespace"] == "kube-system"


def test_kube_router_rbac_is_what_the_firewall_reads() -> None:
    objs = by_kind(network_policy_manifests(NetworkPolicyEnforcerArgs()))
    grants = rules_of(objs["ClusterRole"])
    read = {"list", "watch"}
    # the firewall's informers, and the ones kube-router starts and syncs whatever runs
    for group, resource in (("", "pods"), ("", "namespaces"), ("", "nodes"), ("", "services"),
                            ("", "endpoints"), ("discovery.k8s.io", "endpointslices"),
                            ("networking.k8s.io", "networkpolicies")):
        assert {(group, resource, v) for v in read} <= grants
    assert ("", "nodes", "get") in grants  # its own node, by NODE_NAME
    verbs = {v for _, _, v in grants}
    assert verbs == {"get", "list", "watch"}  # it writes nothing through the API
    assert not any(r in ("leases", "services/status") for _, r, _ in grants)
    binding = objs["ClusterRoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-router",
                                    "namespace": "kube-system"}]


def test_kube_router_args_are_checked() -> None:
    for data, path in (
            ({"service_cluster_ip_range": ["fd00::/108"]}, "service_cluster_ip_range[0]"),
            ({"service_cluster_ip_range": ["10.96.0.0/12", "10.97.0.0/16"],
              "enable_ipv6": True}, "service_cluster_ip_range"),
            ({"service_cluster_ip_range": []}, "service_cluster_ip_range"),
            ({"service_node_port_range": "32767-30000"}, "service_node_port_range"),
            ({"enable_ipv4": False, "enable_ipv6": True}, "service_cluster_ip_range[0]"),
            ({"enable_ipv4": False, "enable_ipv6": False}, "enable_ipv4"),
            ({"metrics_port": 20244}, "metrics_port"),
            ({"iptables_sync_period": "5 minutes"}, "iptables_sync_period"),
            ({"image": "docker.io/cloudnativelabs/kube-router"}, "image")):
        with pytest.raises(PlanError) as err:
            NetworkPolicyEnforcerArgs.parse(data)
        assert err.value.path == path, (data, err.value)
    dual = NetworkPolicyEnforcerArgs.parse({"enable_ipv6": True, "service_cluster_ip_range": [
        "fd00::/108", "10.96.0.0/12"]})
    assert "--service-cluster-ip-range=fd00::/108,10.96.0.0/12" in kube_router_args(dual)


def test_kube_router_component_registers_identity_then_daemonset() -> None:
    built: list[NetworkPolicyEnforcer] = []
    mocks = run_program(lambda: built.append(
        NetworkPolicyEnforcer("np", NetworkPolicyEnforcerArgs())))
    [component] = mocks.of_type("netplumb:index:NetworkPolicyEnforcer")
    assert component.name == "np"
    # registration order (the mocks see each once what it waits for is done)
    assert [p.role for p in built[0].parts] == ["cluster-role", "cluster-role-binding",
                                                "service-account", "daemonset"]
    names = {r.name for r in mocks.registered if r.type.startswith("kubernetes")}
    assert names == {"np-cluster-role", "np-cluster-role-binding", "np-service-account",
                     "np-daemonset"}
    assert mocks.named("np-cluster-role-binding").depends_on == ["np-cluster-role"]
    assert set(mocks.named("np-daemonset").depends_on) == {
        "np-service-account", "np-cluster-role-binding"}
    assert all(r.retain_on_delete for r in mocks.registered if r.type.startswith("kubernetes"))
    [ds] = mocks.of_type(DS_TYPE)
    assert ds.inputs["spec"]["template"]["spec"]["containers"][0]["args"][0] == (
        "--run-firewall=true")


# -- multi-networkpolicy-iptables --------------------------------------------------------------


def test_enforcer_talks_to_containerd_and_acts_for_upstreams_default_plugins() -> None:
    args = MultiNetworkPolicyEnforcerArgs()
    assert args.network_plugins == ["macvlan"]  # upstream's --network-plugins default
    flags = enforcer_args(args)
    assert flags == ["--host-prefix=/host",
                     "--container-runtime-endpoint=/run/containerd/containerd.sock",
                     "--network-plugins=macvlan",
                     "--hostname-override=$(NODE_NAME)",
                     "--sync-period=30",
                     "--v=0"]  # --pod-iptables off, as upstream's default
    more = MultiNetworkPolicyEnforcerArgs.parse({
        "network_plugins": ["macvlan", "sriov", "ipvlan"], "accept_icmpv6": True,
        "allow_ipv6_src_prefix": ["fe80::/10"], "allow_ipv6_dst_prefix": ["fe80::/10", "ff00::/8"],
        "custom_rules": {"v6_ingress": ["-p icmpv6 --icmpv6-type neighbor-solicitation -j ACCEPT"]},
        "pod_iptables": True})
    flags = enforcer_args(more)
    assert "--network-plugins=macvlan,sriov,ipvlan" in flags
    assert "--accept-icmpv6" in flags and "--allow-ipv6-dst-prefix=fe80::/10,ff00::/8" in flags
    assert ("--custom-v6-ingress-rule-file=/etc/multi-networkpolicy/rules/"
            "custom-v6-ingress-rules.txt") in flags
    assert "--pod-iptables=/var/lib/multi-networkpolicy/iptables" in flags


def test_enforcer_flags_are_upstreams() -> None:
    root = mnp_source()
    if root is None:
        pytest.skip("multi-networkpolicy-iptables' snapshot is not extracted under /tmp")
    options = (root / "pkg/server/options.go").read_text()
    defined = go_flags(options) | {"v"}  # klog's flags, added to the same set
    assert 'StringSliceVar(&o.networkPlugins, "network-plugins", []string{"macvlan"}' in options
    every = MultiNetworkPolicyEnforcerArgs.parse({
        "accept_icmp": True, "accept_icmpv6": True, "allow_ipv6_src_prefix": ["fe80::/10"],
        "allow_ipv6_dst_prefix": ["ff00::/8"],
        "custom_rules": {k: ["-p udp --dport 67 -j ACCEPT"]
                         for k in ("v4_ingress", "v4_egress", "v6_ingress", "v6_egress")}})
    assert set(flag_names(enforcer_args(every))) <= defined
    deploy = (root / "deploy.yml").read_text()
    assert "/usr/bin/multi-networkpolicy-iptables" in deploy


def test_enforcer_daemonset_mounts_only_what_it_opens() -> None:
    args = MultiNetworkPolicyEnforcerArgs.parse({"pod_iptables": True, "custom_rules": {
        "v4_ingress": ["-p icmp --icmp-type redirect -j ACCEPT"]}})
    objs = by_kind(multi_network_policy_manifests(args))
    ds = objs["DaemonSet"]
    spec = pod_spec(ds)
    [c] = spec["containers"]
    assert c["image"] == MULTI_NETWORKPOLICY_IMAGE == (
        "ghcr.io/k8snetworkplumbingwg/multi-networkpolicy-iptables:snapshot-cbf2b117")
    assert c["command"] == ["/usr/bin/multi-networkpolicy-iptables"]
    assert c["securityContext"] == {"privileged": True}
    assert spec["hostNetwork"] is True
    assert c["env"][0]["name"] == "NODE_NAME"
    assert mounts(c) == {
        "/host/proc": {"name": "host-proc", "mountPath": "/host/proc", "readOnly": True},
        "/host/run/containerd": {"name": "cri-socket", "mountPath": "/host/run/containerd"},
        "/run/xtables.lock": {"name": "xtables-lock", "mountPath": "/run/xtables.lock"},
        "/var/lib/multi-networkpolicy": {"name": "state",
                                         "mountPath": "/var/lib/multi-networkpolicy"},
        "/etc/multi-networkpolicy/rules": {"name": "custom-rules",
                                           "mountPath": "/etc/multi-networkpolicy/rules",
                                           "readOnly": True}}
    assert host_paths(spec) == {
        "host-proc": {"path": "/proc", "type": "Directory"},
        "cri-socket": {"path": "/run/containerd", "type": "Directory"},
        "xtables-lock": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
        "state": {"path": "/var/lib/multi-networkpolicy", "type": "DirectoryOrCreate"}}
    assert all(v["path"] != "/" for v in host_paths(spec).values())
    cm = objs["ConfigMap"]
    assert cm["data"] == {"custom-v4-ingress-rules.txt": (
        "# written by netplumb\n-p icmp --icmp-type redirect -j ACCEPT\n")}
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    assert "netplumb.dev/config-digest" in annotations  # a rule change rolls the pods
    crio = MultiNetworkPolicyEnforcerArgs(container_runtime_endpoint="/run/crio/crio.sock")
    [crio_c] = pod_spec(by_kind(multi_network_policy_manifests(crio))["DaemonSet"])[
        "containers"]
    assert "/host/run/crio" in mounts(crio_c)
    assert "--container-runtime-endpoint=/run/crio/crio.sock" in crio_c["args"]


def test_enforcer_rbac_is_what_it_reads_and_writes() -> None:
    objs = by_kind(multi_network_policy_manifests(MultiNetworkPolicyEnforcerArgs()))
    grants = rules_of(objs["ClusterRole"])
    assert grants == {
        ("k8s.cni.cncf.io", "multi-networkpolicies", "list"),
        ("k8s.cni.cncf.io", "multi-networkpolicies", "watch"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "list"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "watch"),
        ("", "pods", "list"), ("", "pods", "watch"),
        ("", "namespaces", "list"), ("", "namespaces", "watch"),
        ("", "events", "create"), ("", "events", "patch"), ("", "events", "update")}
    assert "ConfigMap" not in objs  # no custom rules, no ConfigMap


def test_enforcer_args_are_checked() -> None:
    for data, path in (
            ({"network_plugins": []}, "network_plugins"),
            ({"network_plugins": ["macvlan", "macvlan"]}, "network_plugins[1]"),
            ({"network_plugins": ["mac vlan"]}, "network_plugins[0]"),
            ({"container_runtime_endpoint": "unix:///run/containerd/containerd.sock"},
             "container_runtime_endpoint"),
            ({"container_runtime_endpoint": "containerd.sock"}, "container_runtime_endpoint"),
            ({"allow_ipv6_src_prefix": ["10.0.0.0/8"]}, "allow_ipv6_src_prefix[0]"),
            ({"custom_rules": {"v4_ingress": ["-A INPUT -j ACCEPT"]}},
             "custom_rules.v4_ingress[0]"),
            ({"custom_rules": {"v4_egress": ["a\nb"]}}, "custom_rules.v4_egress[0]"),
            ({"sync_period": 0}, "sync_period"),
            ({"image": "ghcr.io/k8snetworkplumbingwg/multi-networkpolicy-iptables:latest"},
             "image")):
        with pytest.raises(PlanError) as err:
            MultiNetworkPolicyEnforcerArgs.parse(data)
        assert err.value.path == path, (data, err.value)


def test_enforcer_component_registers_the_crd_first_and_the_daemonset_last() -> None:
    args = MultiNetworkPolicyEnforcerArgs.parse({"custom_rules": {"v4_ingress": ["-j ACCEPT"]}})
    built: list[MultiNetworkPolicyEnforcer] = []
    mocks = run_program(lambda: built.append(MultiNetworkPolicyEnforcer("mnp", args)))
    [component] = mocks.of_type("netplumb:index:MultiNetworkPolicyEnforcer")
    assert component.name == "mnp"
    assert [p.role for p in built[0].parts] == [
        "crd-multi-networkpolicies", "cluster-role", "cluster-role-binding", "service-account",
        "config", "daemonset"]
    assert built[0].crd_resource is not None and built[0].config_map is not None
    names = [r.name for r in mocks.registered if r.type.startswith("kubernetes")]
    assert names[-1] == "mnp-daemonset" and len(names) == 6  # it waits for all the others
    [crd] = mocks.of_type(CRD_TYPE)
    assert crd.inputs["metadata"]["name"] == "multi-networkpolicies.k8s.cni.cncf.io"
    assert set(mocks.named("mnp-daemonset").depends_on) == {
        "mnp-crd-multi-networkpolicies", "mnp-cluster-role-binding", "mnp-service-account",
        "mnp-config"}
    assert all(r.retain_on_delete for r in mocks.registered if r.type.startswith("kubernetes"))


def test_enforcer_without_its_crd() -> None:
    mocks = run_program(lambda: MultiNetworkPolicyEnforcer(
        "mnp", MultiNetworkPolicyEnforcerArgs(install_crd=False)))
    assert mocks.of_type(CRD_TYPE) == []
    assert "mnp-daemonset" in {r.name for r in mocks.registered}


def test_bad_args_register_nothing() -> None:
    err, mocks = refused(lambda: NetworkPolicyEnforcer(
        "np", NetworkPolicyEnforcerArgs.model_construct(namespace="Kube System")))
    assert err.paths == ["namespace"] and mocks.registered == []
    err, mocks = refused(lambda: MultiNetworkPolicyEnforcer(
        "mnp", MultiNetworkPolicyEnforcerArgs.model_construct(sync_period=-1)))
    assert err.paths == ["sync_period"] and mocks.registered == []


# -- in a stack --------------------------------------------------------------------------------


def test_both_are_off_by_default() -> None:
    spec = StackSpec.parse({"networks": [{"name": "n", "type": "bridge"}]})
    assert spec.network_policy is None and spec.multi_network_policy is None
    kinds = {(m["kind"], m["metadata"]["name"]) for m in render_plan(build_plan(spec))}
    assert not {("DaemonSet", "kube-router"), ("DaemonSet", "multi-networkpolicy")} & kinds


def test_the_stack_registers_both_with_their_keys() -> None:
    spec = StackSpec.parse({"network_policy": {}, "multi_network_policy": {}}, at=AT)
    mocks = run_program(lambda: NetplumbStack("s", spec))
    [np] = mocks.of_type("netplumb:index:NetworkPolicyEnforcer")
    [mnp] = mocks.of_type("netplumb:index:MultiNetworkPolicyEnforcer")
    assert (np.name, mnp.name) == ("s-network-policy", "s-multi-network-policy")
    assert {r.name for r in mocks.of_type(DS_TYPE)} == {
        "s-network-policy-daemonset", "s-multi-network-policy-daemonset"}
    [crd] = mocks.of_type(CRD_TYPE)
    assert crd.name == "s-multi-network-policy-crd-multi-networkpolicies"
    assert crd.retain_on_delete
    groups = {w.path: w for w in cluster_wide(spec, AT, build_plan(spec, root=AT))}
    assert {m["kind"] for m in groups[f"{S}.network_policy"].manifests} == {
        "ClusterRole", "ClusterRoleBinding", "ServiceAccount", "DaemonSet"}
    assert [m["kind"] for m in groups[f"{S}.multi_network_policy.install_crd"].manifests] == [
        "CustomResourceDefinition"]
    assert "CustomResourceDefinition" not in {
        m["kind"] for m in groups[f"{S}.multi_network_policy"].manifests}


def test_the_enforcers_crd_registers_before_the_guardrails_policies() -> None:
    spec = StackSpec.parse({
        "networks": [{"name": "mv", "type": "macvlan", "master": "eth1",
                      "ipam": {"type": "static"}}],
        "guardrails": {"multi_network_policies": [
            {"name": "p", "policy_for": ["mv"], "ingress": [{"ports": [{"port": 80}]}]}]},
        "multi_network_policy": {}}, at=AT)
    mocks = run_program(lambda: NetplumbStack("s", spec))
    [crd] = mocks.of_type(CRD_TYPE)
    # with the policies that need it, owned under the enforcer's key
    assert crd.name == "s-guardrails-multi-network-policy-crd"
    policy = mocks.named("s-guardrails-multi-policy-default-p")
    assert crd.name in policy.depends_on
    groups = {w.path: w for w in cluster_wide(spec, AT, build_plan(spec, root=AT))}
    assert [m["kind"] for m in groups[f"{S}.multi_network_policy.install_crd"].manifests] == [
        "CustomResourceDefinition"]
    assert "install_crd: false" in groups[f"{S}.multi_network_policy.install_crd"].instead
    kinds = [m["kind"] for m in render_plan(build_plan(spec, root=AT))]
    assert kinds.count("CustomResourceDefinition") == 1
    assert kinds.index("CustomResourceDefinition") < kinds.index("MultiNetworkPolicy")


def test_one_crd_when_the_guardrails_install_it() -> None:
    spec = StackSpec.parse({"guardrails": {"install_multi_network_policy_crd": True},
                            "multi_network_policy": {}}, at=AT)
    assert spec.multi_network_policy_crd_key() == "guardrails.install_multi_network_policy_crd"
    kinds = [m["kind"] for m in render_plan(build_plan(spec, root=AT))]
    assert kinds.count("CustomResourceDefinition") == 1
    groups = {w.path for w in cluster_wide(spec, AT, build_plan(spec, root=AT))}
    assert f"{S}.guardrails.install_multi_network_policy_crd" in groups
    assert f"{S}.multi_network_policy.install_crd" not in groups
    none = StackSpec.parse({"multi_network_policy": {"install_crd": False}})
    assert none.multi_network_policy_crd_key() is None
    assert "CustomResourceDefinition" not in {m["kind"] for m in render_plan(build_plan(none))}


def test_asking_both_keys_for_the_crd_is_a_plan_error_naming_both() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"guardrails": {"install_multi_network_policy_crd": True},
                         "multi_network_policy": {"install_crd": True}}, at=AT)
    assert err.value.path == f"{S}.multi_network_policy.install_crd"
    message = str(err.value)
    assert "twice" in message and "guardrails.install_multi_network_policy_crd" in message


def test_kube_router_takes_the_stacks_service_network() -> None:
    spec = StackSpec.parse({"network_policy": {},
                            "cluster_networks": {"services": ["fd00:10::/108", "10.43.0.0/16"]}})
    [ds] = [m for m in render_plan(build_plan(spec)) if m["kind"] == "DaemonSet"]
    assert "--service-cluster-ip-range=10.43.0.0/16" in pod_spec(ds)["containers"][0]["args"]
    dual = StackSpec.parse({"network_policy": {"enable_ipv6": True},
                            "cluster_networks": {"services": ["fd00:10::/108", "10.43.0.0/16"]}})
    policy = dual.network_policy_args()
    assert policy is not None
    assert policy.service_cluster_ip_range == ["fd00:10::/108", "10.43.0.0/16"]
    own = StackSpec.parse({"network_policy": {"service_cluster_ip_range": ["10.0.0.0/16"]},
                           "cluster_networks": {"services": ["10.43.0.0/16"]}})
    policy = own.network_policy_args()
    assert policy is not None and policy.service_cluster_ip_range == ["10.0.0.0/16"]


def test_stack_key_errors_name_their_path() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"network_policy": {"health_port": 0}}, at=AT)
    assert err.value.path == f"{S}.network_policy.health_port"
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"multi_network_policy": {"network_plugin": ["sriov"]}}, at=AT)
    assert err.value.path == f"{S}.multi_network_policy.network_plugin"
    assert "network_plugins" in str(err.value)  # the nearest valid key
