"""The guide's pods (step 5 and "Default Route Configuration"), the selection checks, the
capability fix-up, and networks attached to any workload's pod template."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from netplumb import PlanError, parse_cni_config
from netplumb.args.nad import MacvlanNetworkArgs, SriovNetworkArgs
from netplumb.args.pod import PodArgs
from netplumb.args.resources import ContainerResources
from netplumb.checks.selections import check_selections
from netplumb.cni.ipam import HostLocalIpam
from netplumb.cni.selection import NETWORKS_ANNOTATION, NetworkSelection, parse_selections
from netplumb.components import MultiHomedPod
from netplumb.components.network import MacvlanNetwork, SriovNetwork
from netplumb.components.workload import MultiHomedWorkload
from netplumb.plan import (
    PlannedNetwork,
    Workload,
    add_ips_capability,
    attach_networks,
    attach_to_workload,
    container_resources,
    device_requests,
    with_capability,
    with_device_resources,
    workload_of_pod,
)
from netplumb.render.nad import nad
from netplumb.render.pod import pod
from netplumb.render.workload import workload
from netplumb.validation import validate

from .pulumi_mocks import run_program
from .test_platform_flannel import refused
from .test_seed_nads import SEED_IPVLAN, SEED_MACVLAN, SEED_MACVLAN_STATIC

# The guide's pods, as written there (step 5).
SEED_POD_1 = """
apiVersion: v1
kind: Pod
metadata:
  name: multus-pod-1
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/networks: |
      [
        {
          "name": "macvlan-conf",
          "namespace": "default",
          "interface": "net1"
        }
      ]
spec:
  containers:
  - name: netshoot
    image: nicolaka/netshoot:latest
    command: ["tail"]
    args: ["-f", "/dev/null"]
    resources:
      requests:
        memory: "128Mi"
        cpu: "100m"
      limits:
        memory: "256Mi"
        cpu: "200m"
  terminationGracePeriodSeconds: 0
  nodeSelector:
    kubernetes.io/hostname: worker-node-1
"""
SEED_MULTI_NETWORK_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: multi-network-pod
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/networks: |
      [
        {
          "name": "macvlan-conf",
          "namespace": "default",
          "interface": "storage-net"
        },
        {
          "name": "ipvlan-conf",
          "namespace": "default",
          "interface": "mgmt-net"
        }
      ]
spec:
  containers:
  - name: app
    image: nginx:latest
    ports:
    - containerPort: 80
  terminationGracePeriodSeconds: 30
"""
SEED_STATIC_IP_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: static-ip-pod
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/networks: |
      [
        {
          "name": "macvlan-conf",
          "interface": "net1",
          "ips": ["172.17.9.245/24"],
          "gateway": ["172.17.9.1"]
        }
      ]
spec:
  containers:
  - name: app
    image: busybox:latest
    command: ["sleep", "infinity"]
"""
SEED_DEFAULT_ROUTE = [{"name": "macvlan-conf", "default-route": ["172.17.9.1"]}]


def seed(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def selections_in(manifest: dict[str, Any]) -> Any:
    return json.loads(manifest["metadata"]["annotations"][NETWORKS_ANNOTATION])


def without_networks(manifest: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(manifest))
    out["metadata"].pop("annotations")
    return out


def planned(name: str, text: str) -> PlannedNetwork:
    return PlannedNetwork(name, "default", parse_cni_config(text), where=f"networks.{name}")


MACVLAN = planned("macvlan-conf", SEED_MACVLAN)  # step 3: host-local .240-.250
MACVLAN_STATIC = planned("macvlan-conf", SEED_MACVLAN_STATIC)  # step 4: static IPAM
IPVLAN = planned("ipvlan-conf", SEED_IPVLAN)  # host-local .201-.205, same master enp0s9


def errors(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.severity == "error"]


# -- the three pods --------------------------------------------------------------------------


def test_multus_pod_1_from_multi_homed_pod() -> None:
    guide = seed(SEED_POD_1)
    args = PodArgs(name="multus-pod-1", image="nicolaka/netshoot:latest", command=["tail"],
                   args=["-f", "/dev/null"],
                   networks=[NetworkSelection(name="macvlan-conf", namespace="default",
                                              interface="net1")],
                   resources=ContainerResources(requests={"memory": "128Mi", "cpu": "100m"},
                                       limits={"memory": "256Mi", "cpu": "200m"}),
                   node_selector={"kubernetes.io/hostname": "worker-node-1"},
                   termination_grace_period_seconds=0)
    mocks = run_program(lambda: MultiHomedPod("multus-pod-1", args))
    [reg] = mocks.of_type("kubernetes:core/v1:Pod")
    made = reg.inputs
    assert made["metadata"]["name"] == guide["metadata"]["name"]
    assert made["metadata"]["namespace"] == guide["metadata"]["namespace"]
    assert selections_in(made) == selections_in(guide)
    [mine], [theirs] = made["spec"]["containers"], guide["spec"]["containers"]
    # MultiHomedPod names its container "main" (PodArgs has no container name)
    assert {k: v for k, v in mine.items() if k != "name"} == {
        k: v for k, v in theirs.items() if k != "name"}
    assert made["spec"]["nodeSelector"] == guide["spec"]["nodeSelector"]
    assert made["spec"]["terminationGracePeriodSeconds"] == 0


def test_multi_network_pod_by_attaching_typed_selections() -> None:
    guide = seed(SEED_MULTI_NETWORK_POD)
    sels = [NetworkSelection(name="macvlan-conf", namespace="default", interface="storage-net"),
            NetworkSelection(name="ipvlan-conf", namespace="default", interface="mgmt-net")]
    made = attach_to_workload(without_networks(guide), sels)
    assert selections_in(made) == selections_in(guide)
    assert without_networks(made) == without_networks(guide)
    findings = check_selections([MACVLAN, IPVLAN],
                                [Workload("pods.multi-network-pod", "default", sels)])
    assert findings == []


def test_static_ip_pod_gateway_key_is_refused_with_what_to_write() -> None:
    guide = seed(SEED_STATIC_IP_POD)
    with pytest.raises(PlanError) as err:
        parse_selections(selections_in(guide), at=("metadata", "annotations", "networks"))
    assert err.value.paths == ["metadata.annotations.networks[0].gateway"]
    text = str(err.value)
    assert "Multus has no 'gateway' key" in text and "default-route" in text
    # a bare pod's typed args (PodArgs) refuse it too, as an unknown field
    with pytest.raises(PlanError) as err2:
        validate(lambda d: PodArgs.model_validate(d, context={"typed": True}),
                 {"name": "static-ip-pod", "networks": selections_in(guide)})
    assert err2.value.paths == ["networks[0].gateway"]


def test_static_ip_pod_works_with_ips_capability_added() -> None:
    guide = seed(SEED_STATIC_IP_POD)
    fixed_sel = [s for s in selections_in(guide)]
    fixed_sel[0].pop("gateway")
    sels = parse_selections(fixed_sel)
    pod_w = Workload("pods.static-ip-pod", "default", sels)
    nets = [MACVLAN_STATIC, IPVLAN]
    # as the guide wrote it, the static NAD lacks capabilities.ips: the address would never
    # reach the static IPAM plugin
    [finding] = check_selections(nets, [pod_w])
    assert finding.path == "networks.macvlan-conf.capabilities"
    assert "capabilities.ips" in finding.message and "pods.static-ip-pod" in finding.message
    fixed, problems = add_ips_capability(nets, [pod_w])
    assert problems == []
    assert check_selections(fixed, [pod_w]) == []
    config = fixed[0].config.to_dict()
    assert config == {**json.loads(SEED_MACVLAN_STATIC), "capabilities": {"ips": True}}
    assert fixed[1] is IPVLAN  # not selected with ips: untouched
    # the rendered objects: the NAD with the capability, the pod with the selection
    made_nad = nad("macvlan-conf", "default", fixed[0].config)
    assert json.loads(made_nad["spec"]["config"])["capabilities"] == {"ips": True}
    made_pod = attach_to_workload(without_networks(guide), sels)
    assert selections_in(made_pod) == fixed_sel
    assert without_networks(made_pod) == without_networks(guide)


def test_pinned_capabilities_without_ips_are_an_error() -> None:
    pinned = planned("macvlan-conf", json.dumps(
        {**json.loads(SEED_MACVLAN_STATIC), "capabilities": {"mac": True}}))
    sels = [NetworkSelection(name="macvlan-conf", ips=["172.17.9.245/24"])]
    fixed, problems = add_ips_capability([pinned], [Workload("pods.p", "default", sels)])
    assert fixed == [pinned]
    [p] = problems
    assert p.path == "networks.macvlan-conf.capabilities"
    assert "pinned without ips" in p.message
    with pytest.raises(PlanError):
        with_capability(pinned, "ips")


def test_capability_is_added_to_the_interface_plugin_of_a_conflist() -> None:
    conf = parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": "n", "plugins": [
            {"type": "macvlan", "master": "eth1", "ipam": {"type": "static"}},
            {"type": "tuning"}]}))
    out = with_capability(PlannedNetwork("n", "default", conf), "ips").to_dict()
    assert out["plugins"][0]["capabilities"] == {"ips": True}
    assert "capabilities" not in out["plugins"][1]
    assert list(out["plugins"][0]) == ["type", "master", "capabilities", "ipam"]


# -- static addresses against the networks' ranges --------------------------------------------


def static_use(ip: str, name: str = "macvlan-conf") -> Workload:
    return Workload("pods.p", "default", [NetworkSelection(name=name, ips=[ip])])


def test_static_ip_must_avoid_dynamic_ranges_on_the_link() -> None:
    nets, _ = add_ips_capability([MACVLAN_STATIC, IPVLAN], [static_use("172.17.9.203/24")])
    [f] = check_selections(nets, [static_use("172.17.9.203/24")])
    assert f.path == "pods.p.networks[0].ips[0]"
    assert "dynamic range 172.17.9.201-172.17.9.205" in f.message
    assert "default/ipvlan-conf" in f.message


def test_static_ip_must_be_in_the_segment_subnet() -> None:
    nets, _ = add_ips_capability([MACVLAN_STATIC, IPVLAN], [static_use("10.9.9.9/24")])
    [f] = check_selections(nets, [static_use("10.9.9.9/24")])
    assert f.path == "pods.p.networks[0].ips[0]"
    assert "outside the subnets known on enp0s9 (172.17.9.0/24)" in f.message


def test_host_local_takes_requested_ips_only_inside_its_range() -> None:
    hl = planned("macvlan-conf", json.dumps(
        {**json.loads(SEED_MACVLAN), "capabilities": {"ips": True}}))
    # outside the range: host-local's allocator refuses it at ADD time
    [f] = check_selections([hl], [static_use("172.17.9.100/24")])
    assert f.severity == "error" and "only from its ranges (172.17.9.240-172.17.9.250)" in (
        f.message)
    # inside: allowed, with a warning that a dynamic pod may hold it already
    [w] = check_selections([hl], [static_use("172.17.9.245/24")])
    assert w.severity == "warning" and "no other pod got it first" in w.message


def test_dhcp_ignores_requested_ips() -> None:
    dhcp = planned("dhcp-net", json.dumps({
        "cniVersion": "1.0.0", "name": "d", "type": "macvlan", "master": "eth1",
        "capabilities": {"ips": True}, "ipam": {"type": "dhcp"}}))
    [f] = check_selections([dhcp], [static_use("10.0.0.5/24", "dhcp-net")])
    assert "dhcp IPAM, which ignores requested addresses" in f.message


def test_missing_capability_reported_once_per_network() -> None:
    users = [Workload(f"pods[{i}]", "default",
                      [NetworkSelection(name="macvlan-conf", ips=[f"172.17.9.{20 + i}/24"])])
             for i in range(5)]
    findings = check_selections([MACVLAN_STATIC, IPVLAN], users)
    [f] = findings
    assert "pods[0]" in f.message and "4 more" in f.message


# -- MAC, default route, names ------------------------------------------------------------------


def test_mac_needs_capability_and_is_impossible_on_ipvlan() -> None:
    sel = [NetworkSelection(name="macvlan-conf", mac="02:00:00:00:00:01")]
    [f] = check_selections([MACVLAN], [Workload("pods.p", "default", sel)])
    assert f.path == "networks.macvlan-conf.capabilities" and "capabilities.mac" in f.message
    with_mac = planned("macvlan-conf", json.dumps(
        {**json.loads(SEED_MACVLAN), "capabilities": {"mac": True}}))
    assert check_selections([with_mac], [Workload("pods.p", "default", sel)]) == []
    on_ipvlan = [NetworkSelection(name="ipvlan-conf", mac="02:00:00:00:00:01")]
    [f] = check_selections([IPVLAN], [Workload("pods.p", "default", on_ipvlan)])
    assert f.path == "pods.p.networks[0].mac" and "share the master's MAC" in f.message


def test_seed_default_route_selection() -> None:
    sels = parse_selections(SEED_DEFAULT_ROUTE)
    assert [s.to_dict() for s in sels] == SEED_DEFAULT_ROUTE
    use = Workload("pods.p", "default", sels)
    assert check_selections([MACVLAN], [use]) == []
    made = attach_networks({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "busybox:1.36"}]}}, sels)
    assert selections_in(made) == SEED_DEFAULT_ROUTE


def test_default_route_gateway_must_be_on_the_network() -> None:
    off = parse_selections([{"name": "macvlan-conf", "default-route": ["10.1.1.1"]}])
    [f] = check_selections([MACVLAN], [Workload("pods.p", "default", off)])
    assert f.path == "pods.p.networks[0].default-route[0]"
    assert "not on network default/macvlan-conf (subnets 172.17.9.0/24)" in f.message


def test_one_default_route_per_family() -> None:
    two = parse_selections([{"name": "macvlan-conf", "default-route": ["172.17.9.1"]},
                            {"name": "ipvlan-conf", "default-route": ["172.17.9.1"]}])
    [f] = check_selections([MACVLAN, IPVLAN], [Workload("pods.p", "default", two)])
    assert f.path == "pods.p.networks[1].default-route[0]" and "ECMP" in f.message


def test_unknown_network_and_external_networks() -> None:
    sels = [NetworkSelection(name="macvlan-conf", namespace="storage")]
    [f] = check_selections([MACVLAN], [Workload("pods.p", "default", sels)])
    assert f.path == "pods.p.networks[0].name"
    assert "exists as default/macvlan-conf; set namespace" in f.message
    assert check_selections([MACVLAN], [Workload("pods.p", "default", sels)],
                            external={"storage/macvlan-conf"}) == []
    ext = PlannedNetwork("other", "default", MACVLAN.config, external=True)
    other = [NetworkSelection(name="other")]
    assert check_selections([ext], [Workload("pods.p", "default", other)]) == []


def test_interface_names_unique_short_and_not_eth0() -> None:
    sels = [NetworkSelection(name="macvlan-conf", interface="net2"),
            NetworkSelection(name="ipvlan-conf"),  # Multus names it net2: clash
            NetworkSelection.model_construct(name="ipvlan-conf", interface="eth0"),
            NetworkSelection.model_construct(name="ipvlan-conf",
                                             interface="storage-network0")]
    findings = check_selections([MACVLAN, IPVLAN], [Workload("pods.p", "default", sels)])
    by_path = {f.path: f.message for f in findings}
    assert "already used by networks[0]" in by_path["pods.p.networks[1].interface"]
    assert "default network" in by_path["pods.p.networks[2].interface"]
    assert "at most 15" in by_path["pods.p.networks[3].interface"]


def test_pod_args_become_workloads() -> None:
    p = PodArgs(name="a", namespace="team", networks=[NetworkSelection(name="x")])
    w = workload_of_pod("pods[0]", p)
    assert (w.namespace, w.replicas, list(w.selections)) == ("team", 1, p.networks)


# -- device resources ----------------------------------------------------------------------------


def test_device_resources_added_to_requests_and_limits() -> None:
    sels = [NetworkSelection(name="sriov-a"), NetworkSelection(name="sriov-b"),
            NetworkSelection(name="macvlan-conf")]
    needs = device_requests(sels, "default", {"default/sriov-a": "intel.com/sriov",
                                              "default/sriov-b": "intel.com/sriov"})
    assert needs == {"intel.com/sriov": 2}
    res = with_device_resources({"requests": {"cpu": "1"}}, needs)
    assert res == {"requests": {"cpu": "1", "intel.com/sriov": "2"},
                   "limits": {"intel.com/sriov": "2"}}
    assert with_device_resources({"limits": {"intel.com/sriov": "4"}}, needs)["requests"] == {
        "intel.com/sriov": "4"}
    with pytest.raises(PlanError) as err:
        with_device_resources({"requests": {"intel.com/sriov": "1"}}, needs)
    assert err.value.paths == ["resources.requests.intel.com/sriov"]
    with pytest.raises(PlanError) as err:
        with_device_resources({"requests": {"intel.com/sriov": "2"},
                               "limits": {"intel.com/sriov": "3"}}, needs)
    assert "request == limit" in str(err.value)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_attach_to_any_workload_kind(kind: str) -> None:
    from netplumb.args.workload import WorkloadArgs

    args = WorkloadArgs.parse({"kind": kind, "name": "app", "image": "nginx:1.27",
                               "replicas": 3, "ports": [{"containerPort": 80}],
                               "networks": [{"name": "sriov-conf", "interface": "net1"},
                                            {"name": "macvlan-conf"}]})
    made = workload("app", args, container_resources(args.resources, {"intel.com/sriov": 1}))
    assert made["kind"] == kind
    tmpl = made["spec"]["template"]
    assert selections_in(tmpl) == [{"name": "sriov-conf", "interface": "net1"},
                                   {"name": "macvlan-conf"}]
    [c] = tmpl["spec"]["containers"]
    assert c["resources"] == {"requests": {"intel.com/sriov": "1"},
                              "limits": {"intel.com/sriov": "1"}}
    assert c["ports"] == [{"containerPort": 80}]
    assert ("replicas" in made["spec"]) == (kind != "DaemonSet")
    assert made["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
    # the same helper on a hand-written manifest
    again = attach_to_workload({"kind": kind, "spec": {"template": without_networks(tmpl)}},
                               args.networks)
    assert selections_in(again["spec"]["template"]) == selections_in(tmpl)


def test_attach_refuses_a_second_source_of_networks() -> None:
    tmpl = {"metadata": {"annotations": {NETWORKS_ANNOTATION: '[{"name": "other"}]'}},
            "spec": {"containers": [{"name": "c"}]}}
    with pytest.raises(PlanError) as err:
        attach_networks(tmpl, [NetworkSelection(name="macvlan-conf")])
    assert err.value.paths == [f"metadata.annotations.{NETWORKS_ANNOTATION}"]
    same = attach_networks(tmpl, [NetworkSelection(name="other")])
    assert selections_in(same) == [{"name": "other"}]
    with pytest.raises(PlanError):
        attach_to_workload({"kind": "Service", "spec": {}}, [])


# -- MultiHomedWorkload under mocks ------------------------------------------------------------


def test_workload_component_wires_sriov_resources_and_depends_on_networks() -> None:
    from netplumb.args.workload import WorkloadArgs

    def build() -> MultiHomedWorkload:
        sriov = SriovNetwork("sriov-conf", SriovNetworkArgs(
            cni_name="", resource_name="intel.com/sriov",
            ipam=HostLocalIpam(type="host-local", subnet="10.56.217.0/24")))
        args = WorkloadArgs.parse({"name": "dpdk", "image": "app:1.0", "replicas": 2,
                                   "networks": [{"name": "sriov-conf"}]})
        return MultiHomedWorkload("dpdk", args, networks=[sriov])

    mocks = run_program(build)
    [dep] = mocks.of_type("kubernetes:apps/v1:Deployment")
    [c] = dep.inputs["spec"]["template"]["spec"]["containers"]
    assert c["resources"]["limits"] == {"intel.com/sriov": "1"}
    assert [r.type for r in mocks.registered].count("netplumb:index:MultiHomedWorkload") == 1


def test_workload_component_refuses_bad_selections_and_registers_nothing() -> None:
    from netplumb.args.workload import WorkloadArgs

    held: dict[str, Any] = {}

    def build() -> None:
        held["net"] = MacvlanNetwork("macvlan-conf", MacvlanNetworkArgs(
            master="enp0s9", ipam=HostLocalIpam(type="host-local", subnet="172.17.9.0/24",
                                                range_start="172.17.9.240",
                                                range_end="172.17.9.250")))
        args = WorkloadArgs.parse({"name": "web", "image": "nginx:1.27", "replicas": 20,
                                   "networks": [{"name": "macvlan-conf"}]})
        MultiHomedWorkload("web", args, networks=[held["net"]])

    err, mocks = refused(build)
    assert "demand 20" in str(err) and "size 11" in str(err)
    assert not mocks.of_type("netplumb:index:MultiHomedWorkload")
    assert not mocks.of_type("kubernetes:apps/v1:Deployment")


def test_workload_args_refuse_gateway_key() -> None:
    from netplumb.args.workload import WorkloadArgs

    with pytest.raises(PlanError) as err:
        WorkloadArgs.parse({"image": "x:1", "networks": [
            {"name": "macvlan-conf", "gateway": ["172.17.9.1"]}]})
    assert err.value.paths == ["networks[0].gateway"]
    assert "default-route" in str(err.value)
    _ = pod  # render.pod is what MultiHomedPod uses
