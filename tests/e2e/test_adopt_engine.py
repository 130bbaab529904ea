"""``netplumb adopt`` on the real cluster, then the adopted stack through the engine.

In a namespace of its own the test applies every NAD of the hand-run guide as written there,
each by another field manager (the way ``kubectl create``, client-side ``kubectl apply``,
server-side apply and other tools leave them), plus a NAD another object owns (an owner
reference to a custom resource the test creates: a PrometheusRule, whose CRD the platform
installs and no controller acts on here) and a NAD whose plugin netplumb cannot type (an
unknown type with extra keys). None of the guide's NADs can carry a pod on this machine (they
name ``enp0s9``, an SR-IOV pool, a DHCP server, and private ranges, which pods here must not
use), so two pods run on copies of the guide's bridge and macvlan NADs whose only changes
are a documentation range (with its gateway), a master this cluster has, and no default route
on the macvlan (the pod's default route stays on eth0). The guide's static-IP pod is
created too, with a documentation address and bound to no node (it stays Pending).

Then: ``netplumb adopt`` writes the stack, its advice naming the static-IP pod's NAD that
lacks ``capabilities.ips``; ``netplumb check`` passes it with a warning naming the guide's
static NAD that can give no pod an address; the preview
creates nothing but the object set that adopts the NADs (the stack file lists each one under
``cluster_objects.adopt``); ``pulumi up`` leaves every pod with the same UID, restart count
and addresses and every NAD's config equal in value to what it was (the text is netplumb's
rendering);
the owned NAD is a reference with its field managers untouched; a second ``up`` changes
nothing; a hand edit of a NAD is undone by the next ``up``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from harness import engine
from harness.cluster.api import wait_for
from harness.pytest_fixtures import NetworkHandle
from netplumb.cli.main import main
from netplumb.cni.selection import NETWORK_STATUS_ANNOTATION
from netplumb.kube import Kube
from tests.e2e.nadspace import nad_namespace, pod_body
from tests.unit.test_adopt import SEED

pytestmark = pytest.mark.e2e

NS = "np-adopt"
STACK = "adopted"
NAD_API = "k8s.cni.cncf.io/v1"
NADS = f"/apis/k8s.cni.cncf.io/v1/namespaces/{NS}/network-attachment-definitions"
MASTER = "np-adopt0"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# how each NAD comes to the cluster: (field manager, how), "post" as kubectl create and
# client-side kubectl apply do, "apply" as server-side apply does
MANAGERS = [("kubectl-client-side-apply", "post"), ("kubectl-create", "post"),
            ("kubectl", "apply"), ("helm", "apply"), ("argocd-controller", "apply"),
            ("kustomize-controller", "apply"), ("operator-x", "post"), ("vendor-tool", "post"),
            ("kubectl-create", "post"), ("kubectl-client-side-apply", "post")]
ODD_CONFIG = ('{"cniVersion": "1.0.0", "name": "odd", "type": "np-vendor-plugin", '
              '"zeta": {"b": 1, "a": [3, 2, 1]}, "alpha": "kept in this order", '
              '"ipam": {}}')


def _nad(name: str, config: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": NAD_API, "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": NS, **meta}, "spec": {"config": config}}


def _guide_nad(live: dict[str, Any]) -> dict[str, Any]:
    """A guide NAD as written there: its config and its own annotations (resourceName), not
    what the API or kubectl added."""
    notes = {k: v for k, v in (live["metadata"].get("annotations") or {}).items()
             if k != LAST_APPLIED}
    return _nad(live["metadata"]["name"], live["spec"]["config"],
                **({"annotations": notes} if notes else {}))


def _runnable(seed: dict[str, Any], name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of a guide NAD that can carry a pod here: ``changes`` (a documentation range,
    an existing master) on top of its config, nothing else."""
    conf = json.loads(seed["spec"]["config"])
    for key, value in changes.items():
        if isinstance(value, dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    return _nad(name, json.dumps(conf))


def _put(kube: Kube, obj: dict[str, Any], manager: str, how: str) -> None:
    if how == "apply":
        kube.apply(obj, field_manager=manager)
        return
    body = copy.deepcopy(obj)
    if manager == "kubectl-client-side-apply":  # what client-side kubectl apply records
        body["metadata"].setdefault("annotations", {})[LAST_APPLIED] = json.dumps(obj)
    kube.request("POST", NADS, query={"fieldManager": manager}, body=body)


def _managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((m["manager"], m["operation"])
                  for m in obj["metadata"].get("managedFields") or [])


def line_is_error(line: str) -> bool:
    """A line of adopt's advice of severity error."""
    return line.strip().startswith("error:")


def _pod_state(kube: Kube, name: str) -> tuple[str, int, list[Any]]:
    pod = kube.get("v1", "Pod", name, NS)
    assert pod is not None, name
    status = json.loads(pod["metadata"]["annotations"][NETWORK_STATUS_ANNOTATION])
    restarts = sum(c.get("restartCount", 0) for c in pod["status"]["containerStatuses"])
    return pod["metadata"]["uid"], restarts, [(s["interface"], s.get("ips")) for s in status]


def _configs(kube: Kube) -> dict[str, str]:
    return {n["metadata"]["name"]: n["spec"]["config"]
            for n in kube.list(NAD_API, "NetworkAttachmentDefinition", namespace=NS)}


def _values(kube: Kube) -> dict[str, Any]:
    """Each NAD's config as JSON values: the up writes netplumb's rendering of the same
    values (its own layout of the text, and the typed models' key order)."""
    return {name: json.loads(text) for name, text in _configs(kube).items()}


@pytest.fixture
def namespace(pod_network: NetworkHandle) -> Iterator[Kube]:
    with nad_namespace(pod_network, NS) as space:
        space.made_links += pod_network.node.ensure_underlay([MASTER])
        yield Kube.from_kubeconfig(str(pod_network.node.cluster.kubeconfig))


def test_adopt_takes_the_guides_nads_over_without_touching_them_or_their_pods(
        namespace: Kube, pod_network: NetworkHandle, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    kube = namespace
    cluster = pod_network.node.cluster
    by_name = {o["metadata"]["name"]: o for o in SEED}
    wanted = [_guide_nad(o) for o in SEED]
    rule = kube.create({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                        "metadata": {"name": "owner", "namespace": NS},
                        "spec": {"groups": []}})
    owned = _nad("operator-net", by_name["bridge-conf"]["spec"]["config"], ownerReferences=[{
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "name": "owner",
        "uid": rule["metadata"]["uid"]}])
    wanted += [owned, _nad("odd", ODD_CONFIG),
               _runnable(by_name["bridge-conf"], "bridge-run", {
                   "bridge": "np-adoptbr0", "ipam": {
                       "subnet": "203.0.113.0/24", "rangeStart": "203.0.113.10",
                       "rangeEnd": "203.0.113.200"}}),
               _runnable(by_name["macvlan-conf"], "macvlan-run", {
                   "master": MASTER, "ipam": {"subnet": "198.51.100.0/24",
                                              "rangeStart": "198.51.100.240",
                                              "rangeEnd": "198.51.100.250",
                                              "gateway": "198.51.100.1", "routes": []}})]
    assert len(wanted) == len(MANAGERS)
    for obj, (manager, how) in zip(wanted, MANAGERS, strict=True):
        _put(kube, obj, manager, how)
    node = pod_network.node.names[0]  # host-local ranges are per node: both pods on one
    for name in ("seed-a", "seed-b"):
        kube.request("POST", f"/api/v1/namespaces/{NS}/pods", query={
            "fieldManager": "kubectl-create"}, body=pod_body(
                name, [{"name": "bridge-run"}, {"name": "macvlan-run"}],
                nodeSelector={"kubernetes.io/hostname": node}))
    for name in ("seed-a", "seed-b"):
        wait_for(f"{name} Running with its networks", lambda n=name: (  # type: ignore[misc]
            (p := kube.get("v1", "Pod", n, NS)) is not None
            and p["status"].get("phase") == "Running"
            and NETWORK_STATUS_ANNOTATION in (p["metadata"].get("annotations") or {})),
            timeout=120, interval=1)
    # the guide's static-IP pod, as written there (ips and gateway on macvlan-conf, whose
    # config lacks capabilities.ips) but with a documentation address, and bound to no node:
    # it stays Pending and never reaches a CNI plugin; adopt lists it as a user of the NAD
    kube.request("POST", f"/api/v1/namespaces/{NS}/pods", query={
        "fieldManager": "kubectl-client-side-apply"}, body=pod_body(
            "static-ip-pod", [{"name": "macvlan-conf", "interface": "net1",
                               "ips": ["198.51.100.245/24"], "gateway": ["198.51.100.1"]}],
            nodeSelector={"netplumb.dev/adopt-test": "no-such-node"}))
    pods_before = {n: _pod_state(kube, n) for n in ("seed-a", "seed-b")}
    assert all(len(s[2]) == 3 for s in pods_before.values()), pods_before
    configs_before = _configs(kube)
    owned_before = kube.get(NAD_API, "NetworkAttachmentDefinition", "operator-net", NS)
    assert owned_before is not None

    project = engine.project_copy(tmp_path_factory.mktemp("project"))
    stacks = project / "stacks"
    flags = ["--kubeconfig", str(cluster.kubeconfig)]
    assert main(["--stacks-dir", str(stacks), "adopt", "--stack", STACK, "-n", NS,
                 *flags]) == 0
    out = capsys.readouterr().out
    assert f"{NS}/operator-net" in out and "referenced, not adopted" in out, out
    # the guide's mistake that needs its pod: advice at once, naming the NAD and the pod
    [cap] = [line for line in out.splitlines()
             if "capabilities.ips" in line and f"Pod {NS}/static-ip-pod" in line]
    assert line_is_error(cap) and f"{NS}/macvlan-conf" in cap, out
    doc = yaml.safe_load((stacks / f"Pulumi.{STACK}.yaml").read_text())
    spec = doc["config"]["netplumb:spec"]
    adopted = sorted(set(configs_before) - {"operator-net"})
    assert sorted(spec["cluster_objects"]["adopt"]) == sorted(
        f"NetworkAttachmentDefinition/{NS}/{n}" for n in adopted), spec["cluster_objects"]
    assert spec["external_networks"] == [f"{NS}/operator-net"]
    code = main(["--stacks-dir", str(stacks), "check", STACK])
    checked = capsys.readouterr().out
    assert code == 0 and "ok: 9 networks" in checked, checked
    # the guide's mistake a NAD shows alone: its second macvlan NAD (static IPAM, nothing
    # else) can give no pod an address; named at its key path, written as found
    [static] = [line for line in checked.splitlines() if f"{NS}/macvlan-static" in line]
    assert static.strip().startswith("warning:") and ".ipam.addresses" in static, checked
    assert "capabilities.ips" in static, static

    st = engine.stack(STACK, work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp_path_factory.mktemp("backend"))
    try:
        preview = st.preview(on_output=engine.printer("  [adopt] "))
        # the program's stack, netplumb's Stack and the one object set adopting the NADs
        assert preview.change_summary == {"create": 3}, preview.change_summary
        assert _configs(kube) == configs_before  # a preview acts on nothing

        up = st.up(on_output=engine.printer("  [adopt] "))
        assert up.summary.result == "succeeded"
        values_before = {n: json.loads(t) for n, t in configs_before.items()}
        assert _values(kube) == values_before
        assert _configs(kube)["operator-net"] == configs_before["operator-net"]
        # the untyped config equal in value and in key order, nested keys too (adopt writes
        # it as JSON text: the Pulumi CLI's config would hand a mapping over sorted)
        assert spec["networks"][[n["name"] for n in spec["networks"]].index("odd")][
            "config"] == json.dumps(json.loads(ODD_CONFIG))
        assert json.dumps(json.loads(_configs(kube)["odd"])) == \
            json.dumps(json.loads(ODD_CONFIG))
        assert {n: _pod_state(kube, n) for n in pods_before} == pods_before
        owned_after = kube.get(NAD_API, "NetworkAttachmentDefinition", "operator-net", NS)
        assert owned_after is not None
        assert _managers(owned_after) == _managers(owned_before)
        assert owned_after["metadata"]["resourceVersion"] == \
            owned_before["metadata"]["resourceVersion"]

        again = st.up(on_output=engine.printer("  [adopt] "))
        assert set(again.summary.resource_changes or {}) == {"same"}, \
            again.summary.resource_changes

        edited = json.loads(configs_before["bridge-run"])
        edited["ipam"]["rangeEnd"] = "203.0.113.99"
        kube.request("PATCH", f"{NADS}/bridge-run", query={"fieldManager": "kubectl-edit"},
                     body={"spec": {"config": json.dumps(edited)}},
                     content_type="application/merge-patch+json")
        assert _values(kube)["bridge-run"] != values_before["bridge-run"]
        undone = st.up(on_output=engine.printer("  [adopt] "))
        changes = {str(k): v for k, v in (undone.summary.resource_changes or {}).items()}
        assert changes.get("update") == 1, changes
        assert _values(kube) == values_before
        assert {n: _pod_state(kube, n) for n in pods_before} == pods_before
    finally:
        try:
            st.destroy(on_output=engine.printer("  [adopt] "))
        finally:
            st.workspace.remove_stack(STACK)
    # adopted NADs stay on destroy (the stack did not make them)
    assert set(_configs(kube)) == set(configs_before)
