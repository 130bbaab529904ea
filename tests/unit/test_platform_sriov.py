"""SriovPool: the device plugin's pools, its DaemonSet, the sriov CNI binary, and the
resource name wired into SriovNetwork."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.images import SRIOV_CNI_IMAGE
from netplumb.args.sriov import SriovPoolArgs
from netplumb.cni.ipam import HostLocalIpam
from netplumb.components.network import SriovNetwork
from netplumb.components.sriov import SriovPool
from netplumb.render.sriov import device_plugin_config, sriov_manifests

from .pulumi_mocks import run_program
from .test_platform_flannel import refused
from .test_seed_nads import OWNED, SEED_SRIOV

POOLS = SriovPoolArgs.parse({
    "pools": [
        {"resource_name": "sriov",
         "selectors": {"vendors": ["8086"], "devices": ["154c", "10ed"],
                       "drivers": ["iavf", "ixgbevf"], "pfNames": ["ens1f0#0-7"]}},
        {"resource_name": "sriov_rdma", "resource_prefix": "mellanox.com",
         "selectors": {"vendors": ["15b3"], "isRdma": True, "linkTypes": ["ether"],
                       "rootDevices": ["0000:3b:00.0"]}},
    ],
    "node_selector": {"feature.node.kubernetes.io/network-sriov.capable": "true"},
})


def kinds(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in manifests}


def test_config_map_resource_list() -> None:
    cm = kinds(sriov_manifests(POOLS))["ConfigMap"]
    conf = json.loads(cm["data"]["config.json"])
    assert conf == device_plugin_config(POOLS)
    assert conf["resourceList"] == [
        {"resourceName": "sriov",
         "selectors": {"vendors": ["8086"], "devices": ["154c", "10ed"],
                       "drivers": ["iavf", "ixgbevf"], "pfNames": ["ens1f0#0-7"]}},
        {"resourceName": "sriov_rdma", "resourcePrefix": "mellanox.com",
         "selectors": {"vendors": ["15b3"], "rootDevices": ["0000:3b:00.0"],
                       "linkTypes": ["ether"], "isRdma": True}},
    ]


def test_daemonset_runs_plugin_and_places_sriov_cni() -> None:
    ds = kinds(sriov_manifests(POOLS))["DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    [plugin] = spec["containers"]
    assert "--resource-prefix=intel.com" in plugin["args"]
    assert "--config-file=/etc/pcidp/config.json" in plugin["args"]
    mounts = {m["name"]: m["mountPath"] for m in plugin["volumeMounts"]}
    assert mounts["devicesock"] == "/var/lib/kubelet/device-plugins"
    assert mounts["config-volume"] == "/etc/pcidp"
    [init] = spec["initContainers"]
    assert init["image"] == SRIOV_CNI_IMAGE
    assert init["args"] == ["--cni-bin-dir=/host/opt/cni/bin", "--no-sleep"]
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["cnibin"]["hostPath"]["path"] == "/opt/cni/bin"
    assert spec["nodeSelector"] == {
        "feature.node.kubernetes.io/network-sriov.capable": "true"}
    no_cni = SriovPoolArgs.parse({**POOLS.model_dump(exclude_unset=True, by_alias=True),
                                  "install_sriov_cni": False})
    spec = kinds(sriov_manifests(no_cni))["DaemonSet"]["spec"]["template"]["spec"]
    assert "initContainers" not in spec
    assert "cnibin" not in {v["name"] for v in spec["volumes"]}


def test_full_resource_names() -> None:
    assert POOLS.resource_names() == {"sriov": "intel.com/sriov",
                                      "sriov_rdma": "mellanox.com/sriov_rdma"}
    assert POOLS.resource_name("sriov_rdma") == "mellanox.com/sriov_rdma"
    with pytest.raises(PlanError, match="2 pools; expected the name of one of them"):
        POOLS.resource_name()
    with pytest.raises(PlanError, match="expected one of: sriov, sriov_rdma") as err:
        POOLS.network_args("nope")
    assert err.value.path == "pool"


def test_seed_sriov_nad_wired_to_the_pool() -> None:
    one = SriovPoolArgs.parse({"pools": [{"resource_name": "sriov",
                                          "selectors": {"drivers": ["iavf"]}}]})
    holder: dict[str, Any] = {}

    def build() -> SriovNetwork:
        pool = SriovPool("sriov", one)
        holder["names"] = pool.names
        return SriovNetwork("sriov-conf", pool.network_args(
            cni_name="", ipam=HostLocalIpam(type="host-local", subnet="10.56.217.0/24")))

    mocks = run_program(build)
    [nad] = mocks.of_type("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition")
    # the guide's SR-IOV NAD: annotation = the pool's full name, config as written there
    assert nad.inputs["metadata"]["annotations"] == {
        "k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov", **OWNED}
    assert json.loads(nad.inputs["spec"]["config"]) == json.loads(SEED_SRIOV)
    assert holder["names"] == {"sriov": "intel.com/sriov"}
    types = [r.type for r in mocks.registered]
    assert "netplumb:index:SriovPool" in types
    assert {"kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ConfigMap",
            "kubernetes:apps/v1:DaemonSet"} <= set(types)


@pytest.mark.parametrize(("data", "path", "shows"), [
    ({"pools": []}, "pools", "at least 1"),
    ({"pools": [{"resource_name": "sriov", "selectors": {}}]}, "pools[0].selectors",
     "every SR-IOV device"),
    ({"pools": [{"resource_name": "intel/sriov", "selectors": {"drivers": ["iavf"]}}]},
     "pools[0].resource_name", "letters, digits"),
    ({"pools": [{"resource_name": "a", "selectors": {"vendors": ["80861"]}}]},
     "pools[0].selectors.vendors[0]", "4-digit"),
    ({"pools": [{"resource_name": "a", "selectors": {"rootDevices": ["3b:00"]}}]},
     "pools[0].selectors.rootDevices[0]", "PCI"),
    ({"pools": [{"resource_name": "a", "selectors": {"pfNames": ["ens1f0#a-b"]}}]},
     "pools[0].selectors.pfNames[0]", "VF range"),
    ({"pools": [{"resource_name": "a", "selectors": {"drivers": ["iavf"]}},
                {"resource_name": "a", "selectors": {"drivers": ["vfio-pci"]}}]},
     "pools[1].resource_name", "unique"),
    ({"resource_prefix": "Intel_com", "pools": [{"resource_name": "a",
                                                 "selectors": {"drivers": ["x"]}}]},
     "resource_prefix", "DNS name"),
    ({"image": "ghcr.io/k8snetworkplumbingwg/sriov-network-device-plugin:latest",
      "pools": [{"resource_name": "a", "selectors": {"drivers": ["x"]}}]}, "image",
     "not pinned"),
])
def test_invalid_args(data: dict[str, Any], path: str, shows: str) -> None:
    with pytest.raises(PlanError) as err:
        SriovPoolArgs.parse(data)
    assert err.value.paths == [path]
    assert shows in str(err.value)


def test_invalid_component_input_registers_nothing() -> None:
    bad = SriovPoolArgs.model_construct(pools=[])
    err, mocks = refused(lambda: SriovPool("sriov", bad))
    assert err.paths == ["pools"]
    assert mocks.registered == []


def test_sriov_networks_must_name_a_declared_pool() -> None:
    from netplumb import parse_cni_config
    from netplumb.checks.selections import check_device_pools
    from netplumb.plan import PlannedNetwork

    sriov = PlannedNetwork("sriov-conf", "default", parse_cni_config(SEED_SRIOV),
                           where="networks[5]")
    full = set(POOLS.resource_names().values())
    assert check_device_pools([(sriov, "intel.com/sriov")], full) == []
    [f] = check_device_pools([(sriov, "intel.com/sriov_dpdk")], full)
    assert f.path == "networks[5].resource_name"
    assert "no device pool intel.com/sriov_dpdk" in f.message
    assert "intel.com/sriov, mellanox.com/sriov_rdma" in f.message
    [f] = check_device_pools([(sriov, None)])
    assert "sriov-cni fails every ADD" in f.message
    assert check_device_pools([(sriov, "intel.com/anything")]) == []  # no pools declared
