"""netplumb adopt, the pure part (netplumb.ops.adopt): every NAD of the hand-run guide, and
odd ones, round-trip through the written stack file to the live spec.config (same JSON, same
key order); what others write is referenced with the reason; users and advice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb.args.stack import CLUSTER_KEY, CONFIG_KEY, FILE_KEY, load_stack_document
from netplumb.ops.adopt import (
    AdoptedNetwork,
    Adoption,
    Reference,
    adopt_nad,
    find_users,
    format_text,
    plan_adoption,
    read_selections,
    same_json,
    stack_files,
)
from netplumb.ownership import OWNER_ANNOTATION
from netplumb.plan import build_plan, nad_manifests

from .test_seed_nads import (
    SEED_BRIDGE,
    SEED_HOST_DEVICE,
    SEED_IPVLAN,
    SEED_MACVLAN,
    SEED_MACVLAN_STATIC,
    SEED_SRIOV,
)

RESOURCE = "k8s.v1.cni.cncf.io/resourceName"
NETWORKS = "k8s.v1.cni.cncf.io/networks"


def nad(name: str, config: Any, *, namespace: str = "default", **meta: Any) -> dict[str, Any]:
    """A live NAD as the API returns it (what a hand-run `kubectl apply` leaves on it)."""
    text = config if isinstance(config, str) else json.dumps(config)
    base: dict[str, Any] = {
        "name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "7",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]}
    notes = meta.pop("annotations", {})
    base["annotations"] = {**base["annotations"], **notes}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {**base, **meta}, "spec": {"config": text}}


def pod(name: str, selections: Any, *, namespace: str = "default", node: str = "worker-1",
        owner: tuple[str, str] | None = None) -> dict[str, Any]:
    notes = {NETWORKS: selections if isinstance(selections, str) else json.dumps(selections)}
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "annotations": notes}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0],
                                    "name": owner[1], "uid": "u", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": node}}


# The guide's NADs, as a cluster that followed it holds them (step 3 and step 4; the second
# macvlan-conf of step 4, with static IPAM, under another name beside the first).
SEED = [
    nad("macvlan-conf", SEED_MACVLAN, annotations={RESOURCE: "macvlan-cni-network"}),
    nad("bridge-conf", SEED_BRIDGE),
    nad("host-device-conf", SEED_HOST_DEVICE),
    nad("ipvlan-conf", SEED_IPVLAN),
    nad("macvlan-static", SEED_MACVLAN_STATIC),
    nad("sriov-conf", SEED_SRIOV, annotations={RESOURCE: "intel.com/sriov"}),
]
SEED_TYPES = {"default/macvlan-conf": "macvlan", "default/bridge-conf": "bridge",
              "default/host-device-conf": "host-device", "default/ipvlan-conf": "ipvlan",
              "default/macvlan-static": "macvlan", "default/sriov-conf": "sriov"}
# The guide's pods (step 5), the static-IP one with its `gateway` key as written there.
SEED_PODS = [
    pod("multus-pod-1", [{"name": "macvlan-conf", "namespace": "default", "interface": "net1"}]),
    pod("multi-network-pod", [
        {"name": "macvlan-conf", "namespace": "default", "interface": "storage-net"},
        {"name": "ipvlan-conf", "namespace": "default", "interface": "mgmt-net"}],
        node="worker-2"),
    pod("static-ip-pod", [{"name": "macvlan-conf", "interface": "net1",
                           "ips": ["172.17.9.245/24"], "gateway": ["172.17.9.1"]}]),
]


def written(adoption: Adoption, tmp_path: Path, *, spec_file: bool = False) -> dict[str, Any]:
    """The stack file ``netplumb adopt`` writes, decoded (and its spec file laid out)."""
    stack, spec = stack_files(adoption, source="context test (https://127.0.0.1:6443)",
                              clusters=["test", "https://127.0.0.1:6443"],
                              spec_file="specs/adopted.yaml" if spec_file else None)
    if spec is not None:
        (tmp_path / "specs").mkdir(exist_ok=True)
        (tmp_path / "specs" / "adopted.yaml").write_text(spec)
    doc: dict[str, Any] = yaml.safe_load(stack)
    return doc


def rendered_configs(doc: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """``ns/name`` → spec.config of the NADs the stack file renders to (the plan's renderer)."""
    plan = build_plan(load_stack_document(doc, tmp_path))
    return {f"{m['metadata']['namespace']}/{m['metadata']['name']}": m["spec"]["config"]
            for m in nad_manifests(plan)}


def assert_round_trips(nads: list[dict[str, Any]], tmp_path: Path, *,
                       spec_file: bool = False) -> Adoption:
    adoption = plan_adoption(nads, [], [])
    assert adoption.references == []
    out = rendered_configs(written(adoption, tmp_path, spec_file=spec_file), tmp_path)
    for obj in nads:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        live = json.loads(obj["spec"]["config"])
        got = json.loads(out[key])
        assert got == live, key  # the same JSON value …
        assert json.dumps(got) == json.dumps(live), key  # … keys in the same order
    return adoption


# -- the guide's NADs ---------------------------------------------------------------------------


def test_every_seed_nad_is_adopted_typed_and_renders_back(tmp_path: Path) -> None:
    adoption = assert_round_trips(SEED, tmp_path)
    assert {n.key: (n.given_as, n.kind) for n in adoption.networks} == {
        k: ("typed", t) for k, t in SEED_TYPES.items()}


def test_seed_nads_round_trip_from_a_spec_file_too(tmp_path: Path) -> None:
    assert_round_trips(SEED, tmp_path, spec_file=True)


@pytest.mark.parametrize("obj", SEED, ids=lambda o: o["metadata"]["name"])
def test_seed_nad_as_config_reproduces_it_as_well(obj: dict[str, Any], tmp_path: Path) -> None:
    """The fallback the typed form is checked against: config: gives the same back."""
    decided = adopt_nad(obj)
    assert isinstance(decided, AdoptedNetwork)
    entry = {k: v for k, v in decided.entry.items()
             if k in ("name", "namespace", "resource_name", "labels", "annotations")}
    entry["config"] = json.loads(obj["spec"]["config"])
    adoption = Adoption([AdoptedNetwork(decided.key, entry, "config", decided.kind)], [])
    out = rendered_configs(written(adoption, tmp_path), tmp_path)
    assert same_json(json.loads(out[decided.key]), json.loads(obj["spec"]["config"]))


def test_seed_metadata_is_carried_and_tools_own_marks_are_not() -> None:
    by_key = {n.key: n for n in plan_adoption(SEED, [], []).networks}
    macvlan, sriov = by_key["default/macvlan-conf"].entry, by_key["default/sriov-conf"].entry
    # not an extended resource name: kept as the annotation it is
    assert macvlan["annotations"] == {RESOURCE: "macvlan-cni-network"}
    assert macvlan["cni_name"] == "macvlan-network"
    assert sriov["resource_name"] == "intel.com/sriov" and "annotations" not in sriov
    assert sriov["cni_name"] == ""  # the guide's sriov config has no name
    assert "kubectl.kubernetes.io/last-applied-configuration" not in json.dumps(macvlan)


# -- odd NADs -----------------------------------------------------------------------------------

ODD: dict[str, tuple[Any, str, str]] = {
    # name: (config, typed or config, kind)
    "unknown-plugin": ({"cniVersion": "1.0.0", "name": "u", "type": "my-cni",
                        "opts": {"z": 1, "a": [True, None, 1.5, "é", 10**12]}},
                       "config", "my-cni"),
    "extra-key": ({"cniVersion": "1.0.0", "name": "e", "type": "macvlan", "master": "eth1",
                   "vendorTuning": {"x": "1"}}, "config", "macvlan"),
    "header-last": ({"type": "macvlan", "master": "eth1", "cniVersion": "1.0.0",
                     "name": "header-last"}, "config", "macvlan"),
    "ipam-first": ({"cniVersion": "1.0.0", "name": "i", "type": "bridge",
                    "ipam": {"type": "host-local", "subnet": "10.9.0.0/24"},
                    "bridge": "br9"}, "config", "bridge"),
    "caps-after-ipam": ({"cniVersion": "1.0.0", "name": "c", "type": "macvlan",
                         "master": "eth1", "ipam": {"type": "static"},
                         "capabilities": {"ips": True}}, "config", "macvlan"),
    "ipam-keys-reordered": ({"cniVersion": "1.0.0", "name": "r", "type": "macvlan",
                             "master": "eth1", "ipam": {"rangeEnd": "10.8.0.20",
                                                        "type": "host-local",
                                                        "subnet": "10.8.0.0/24"}},
                            "typed", "macvlan"),
    "chained": ({"cniVersion": "0.4.0", "name": "chained", "plugins": [
        {"type": "macvlan", "master": "eth2", "mode": "bridge",
         "ipam": {"type": "whereabouts", "range": "10.7.0.0/24"}},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.IFNAME.arp_filter": "1"}},
        {"type": "my-meta", "anything": [1, 2]}]}, "typed", "conflist of macvlan, tuning, my-meta"),
    "conflist-extra": ({"cniVersion": "1.0.0", "name": "cx", "disableCheck": True,
                        "plugins": [{"type": "bridge", "bridge": "br3"}]},
                       "config", "conflist of bridge"),
    "old-version-no-name": ({"cniVersion": "0.3.1", "type": "ipvlan", "master": "eth3",
                             "mode": "l3", "ipam": {"type": "dhcp"}}, "typed", "ipvlan"),
    "vlan": ({"cniVersion": "1.0.0", "name": "v", "type": "vlan", "master": "eth4",
              "vlanId": 42, "mtu": 1400, "ipam": {"type": "static", "addresses": [
                  {"address": "10.6.0.10/24", "gateway": "10.6.0.1"}]}}, "typed", "vlan"),
    "host-device-pci": ({"cniVersion": "1.0.0", "name": "h", "type": "host-device",
                         "pciBusID": "0000:3b:00.1"}, "typed", "host-device"),
    "raw-ipam": ({"cniVersion": "1.0.0", "name": "ri", "type": "macvlan", "master": "eth5",
                  "ipam": {"type": "my-ipam", "pool": {"b": 2, "a": 1}}}, "typed", "macvlan"),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_nads_round_trip(name: str, tmp_path: Path) -> None:
    config, given_as, kind = ODD[name]
    obj = nad(name, config, labels={"team": "net", "app.kubernetes.io/managed-by": "netplumb"})
    [adopted] = assert_round_trips([obj], tmp_path).networks
    assert (adopted.given_as, adopted.kind) == (given_as, kind)
    assert adopted.entry["labels"] == {"team": "net"}
    if given_as == "config":
        assert adopted.why_config
        # written as JSON text, so that an inline spec keeps its keys in their order
        assert isinstance(adopted.entry["config"], str)
        assert same_json(json.loads(adopted.entry["config"]), config)


def test_config_text_layout_does_not_matter_only_its_value(tmp_path: Path) -> None:
    text = '{ "cniVersion": "1.0.0",\n\t"name": "n", "type": "macvlan",   "master": "eth0" }'
    [adopted] = assert_round_trips([nad("spaced", text)], tmp_path).networks
    assert adopted.given_as == "typed"


def test_why_config_names_the_reason() -> None:
    reasons = {n: adopt_nad(nad(n, ODD[n][0])) for n in ("extra-key", "header-last",
                                                          "unknown-plugin")}
    assert all(isinstance(r, AdoptedNetwork) for r in reasons.values())
    assert "vendorTuning" in reasons["extra-key"].why_config  # type: ignore[union-attr]
    assert "order" in reasons["header-last"].why_config  # type: ignore[union-attr]
    assert "my-cni" in reasons["unknown-plugin"].why_config  # type: ignore[union-attr]


# -- references ---------------------------------------------------------------------------------


def owned_by(api: str, kind: str, name: str) -> list[dict[str, Any]]:
    return [{"apiVersion": api, "kind": kind, "name": name, "uid": "u", "controller": True,
             "blockOwnerDeletion": True}]


@pytest.mark.parametrize(("meta", "why"), [
    ({"ownerReferences": owned_by("example.com/v1", "Widget", "w1")},
     "owned by Widget default/w1 (example.com/v1)"),
    ({"ownerReferences": owned_by("sriovnetwork.openshift.io/v1", "SriovNetwork", "s")},
     "the SR-IOV network operator renders this NAD"),
    ({"ownerReferences": owned_by("mellanox.com/v1alpha1", "MacvlanNetwork", "m")},
     "the NVIDIA network operator"),
    ({"ownerReferences": owned_by("operator.openshift.io/v1", "Network", "cluster")},
     "cluster network operator"),
    ({"annotations": {OWNER_ANNOTATION: "netplumb/platform"}},
     "managed by netplumb stack 'netplumb/platform'"),
    ({"annotations": {"meta.helm.sh/release-name": "nets"},
      "labels": {"app.kubernetes.io/managed-by": "Helm"}}, "Helm release default/nets"),
    ({"annotations": {"argocd.argoproj.io/tracking-id": "app:k8s.cni.cncf.io/x"}}, "Argo CD"),
    ({"labels": {"kustomize.toolkit.fluxcd.io/name": "nets"}}, "Flux"),
])
def test_what_another_controller_writes_is_referenced(meta: dict[str, Any], why: str) -> None:
    users = [pod("user", [{"name": "theirs"}])]
    adoption = plan_adoption([nad("theirs", SEED_BRIDGE, **meta), nad("mine", SEED_BRIDGE)],
                             users, [], owner="netplumb/legacy")
    [ref] = adoption.references
    assert ref.key == "default/theirs" and why in ref.reason
    assert [str(u) for u in ref.users] == ["Pod default/user (net1)"]
    spec = adoption.spec()
    assert spec["external_networks"] == ["default/theirs"]
    assert spec["cluster_objects"] == {
        "adopt": ["NetworkAttachmentDefinition/default/mine"], "adopted_on_destroy": "retain"}
    # a pod selecting the reference is not told the network is missing
    assert not [f for f in adoption.advice if "no network" in f.message]


def test_this_stacks_own_mark_is_adopted_again() -> None:
    obj = nad("mine", SEED_BRIDGE, annotations={OWNER_ANNOTATION: "netplumb/legacy"})
    assert isinstance(adopt_nad(obj, "netplumb/legacy"), AdoptedNetwork)
    assert isinstance(adopt_nad(obj, "netplumb/other"), Reference)


@pytest.mark.parametrize(("text", "why"), [
    ("", "no spec.config"),
    ("{not json", "does not parse"),
    (json.dumps({"cniVersion": "1.0.0", "name": "t", "type": "macvlna"}), "did you mean"),
    (json.dumps({"name": "t", "type": "macvlan"}), "does not parse"),
])
def test_a_config_netplumb_cannot_hold_is_referenced(text: str, why: str) -> None:
    ref = adopt_nad(nad("broken", text))
    assert isinstance(ref, Reference) and why in ref.reason


# -- users and advice ---------------------------------------------------------------------------


def test_users_group_pods_under_their_workloads() -> None:
    def wl(kind: str, name: str, notes: str | None, owner: tuple[str, str] | None = None,
           **spec: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": "apps"}
        if owner:
            meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1],
                                        "controller": True}]
        template = {"metadata": {"annotations": {NETWORKS: notes} if notes else {}}}
        body = {"jobTemplate": {"spec": {"template": template}}} if kind == "CronJob" else {
            "template": template}
        return {"kind": kind, "metadata": meta, "spec": {**body, **spec}}

    workloads = [wl("Deployment", "web", "default/bridge-conf@br1", replicas=3),
                 wl("ReplicaSet", "web-5d9", "default/bridge-conf@br1", ("Deployment", "web")),
                 wl("CronJob", "probe", "default/bridge-conf"),
                 wl("Job", "probe-28", "default/bridge-conf", ("CronJob", "probe")),
                 wl("ReplicaSet", "roll-1", "default/bridge-conf", ("Rollout", "roll"))]
    pods = [pod("web-5d9-a", "default/bridge-conf@br1", namespace="apps",
                owner=("ReplicaSet", "web-5d9")),
            pod("web-5d9-b", "default/bridge-conf@br1", namespace="apps",
                owner=("ReplicaSet", "web-5d9")),
            pod("probe-28-x", "default/bridge-conf", namespace="apps", owner=("Job", "probe-28")),
            pod("lonely", "default/bridge-conf", namespace="apps", owner=("StatefulSet", "db")),
            pod("bad", "[{", namespace="apps")]
    users = find_users(pods, workloads)
    assert [str(u) for u in users.by_network["default/bridge-conf"]] == [
        "Pod apps/lonely (net1) of StatefulSet db",
        "CronJob apps/probe (net1): 1 pod(s) probe-28-x",
        "ReplicaSet apps/roll-1 (net1) of Rollout roll",
        "Deployment apps/web (br1): 2 pod(s) web-5d9-a, web-5d9-b",
    ]
    assert any("Pod apps/bad" in p and "not valid JSON" in p for p in users.problems)
    web = next(w for where, w, _ in users.workloads if where == "Deployment apps/web")
    assert web is not None and web.replicas == 3 and web.spreads


def test_short_form_selections() -> None:
    sels, problem = read_selections({NETWORKS: "a, other/b@eth9 ,c@x"}, "ns")
    assert problem is None
    assert [(s.key, s.interface) for s in sels] == [("ns/a", "net1"), ("other/b", "eth9"),
                                                    ("ns/c", "x")]


def test_seed_advice_names_the_static_ip_capability_and_the_gateway_key() -> None:
    adoption = plan_adoption(SEED, SEED_PODS, [])
    by_path = {f.path: f for f in adoption.advice}
    [cap] = [f for f in adoption.advice
             if "capabilities.ips" in f.message and "static-ip-pod" in f.message]
    assert cap.severity == "error"
    # the guide's second macvlan NAD (static IPAM, nothing else) can give no pod an address
    [static] = [f for f in adoption.advice if "default/macvlan-static" in f.message]
    assert static.severity == "warning" and static.path.endswith(".ipam.addresses")
    assert cap.path.startswith("config.netplumb:spec.networks[")
    assert "default/macvlan-conf" in cap.message and "Pod default/static-ip-pod" in cap.message
    gateway = by_path["Pod default/static-ip-pod.networks[0].gateway"]
    assert gateway.severity == "warning" and "default-route" in gateway.message
    # written as found: no capability added
    macvlan = next(n for n in adoption.networks if n.key == "default/macvlan-conf")
    assert "capabilities" not in macvlan.entry
    users = [str(u) for u in macvlan.users]
    assert users == ["Pod default/multi-network-pod (storage-net)",
                     "Pod default/multus-pod-1 (net1)", "Pod default/static-ip-pod (net1)"]
    text = format_text(adoption)
    assert "default/macvlan-conf" in text and "adopted as macvlan" in text
    assert "advice" in text and "capabilities.ips" in text


def test_missing_and_left_out_nads_in_advice() -> None:
    pods = [pod("p", [{"name": "bridge-conf"}, {"name": "not-here"}, {"name": "filtered"}])]
    adoption = plan_adoption([nad("bridge-conf", SEED_BRIDGE)], pods, [],
                             known=["default/filtered"])
    missing = [f for f in adoption.advice if "no network" in f.message]
    assert [f.path for f in missing] == ["Pod default/p.networks[1].name"]


# -- the stack file -----------------------------------------------------------------------------


def test_stack_file_records_the_adoption_explicitly(tmp_path: Path) -> None:
    nads = [*SEED, nad("theirs", SEED_BRIDGE,
                       ownerReferences=owned_by("example.com/v1", "Widget", "w"))]
    adoption = plan_adoption(nads, SEED_PODS, [])
    stack, none = stack_files(adoption, source="context kind-x (https://h:6443)",
                              clusters=["kind-x", "https://h:6443"])
    assert none is None
    doc = yaml.safe_load(stack)
    config = doc["config"]
    assert config[CLUSTER_KEY] == ["kind-x", "https://h:6443"]
    spec = load_stack_document(doc, tmp_path)
    assert spec.cluster_objects.adopt == [f"NetworkAttachmentDefinition/{k}"
                                          for k in sorted(SEED_TYPES)]
    assert spec.cluster_objects.adopted_on_destroy == "retain"
    assert spec.external_networks == ["default/theirs"]
    assert spec.pods == [] and spec.workloads == []
    # the comments say how each was adopted, who uses it, and why a reference is one
    assert "# default/macvlan-conf: adopted as macvlan" in stack
    assert "used by: Pod default/multi-network-pod (storage-net)" in stack
    assert "# default/theirs: owned by Widget default/w" in stack
    assert "from context kind-x (https://h:6443)" in stack.splitlines()[0]


def test_spec_file_variant(tmp_path: Path) -> None:
    adoption = plan_adoption(SEED, [], [])
    stack, spec = stack_files(adoption, source="x", spec_file="specs/legacy.yaml")
    doc = yaml.safe_load(stack)
    assert CONFIG_KEY not in doc["config"] and doc["config"][FILE_KEY] == "specs/legacy.yaml"
    assert spec is not None and yaml.safe_load(spec)["cluster_objects"]["adopt"]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "legacy.yaml").write_text(spec)
    assert len(load_stack_document(doc, tmp_path).networks) == len(SEED)


def test_nothing_adopted_still_writes_a_valid_stack(tmp_path: Path) -> None:
    only = [nad("theirs", SEED_BRIDGE,
                ownerReferences=owned_by("example.com/v1", "Widget", "w"))]
    adoption = plan_adoption(only, [], [])
    spec = load_stack_document(yaml.safe_load(stack_files(adoption, source="x")[0]), tmp_path)
    assert spec.networks == [] and spec.cluster_objects.adopt == []
