"""Adopted objects stay in the cluster on destroy (cluster_objects.adopted_on_destroy): the
object set's provider leaves its retained objects on delete and when an update drops them,
NetplumbStack retains what it adopts (NADs in object sets, cluster-wide objects registered
one by one), and lists them in retained_on_destroy; `delete` opts out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.stack import StackSpec
from netplumb.components import NetplumbStack
from netplumb.components.cluster import reset_reader, use_reader
from netplumb.objectset import ObjectSetProvider, object_key, retained, to_delete
from netplumb.ownership import OWNER_ANNOTATION, ObjectRef, OwnershipPolicy

from .pulumi_mocks import run_program

SET_TYPE = "pulumi-python:dynamic/netplumb:ObjectSet"
CRD_KEY = "CustomResourceDefinition/network-attachment-definitions.k8s.cni.cncf.io"


def nad(name: str) -> dict[str, Any]:
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"config": '{"cniVersion": "1.0.0", "type": "bridge"}'}}


class FakeApi:
    """Applies, lists and deletes live objects by key; records the calls."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.live = {object_key(o): o for o in objects}
        self.calls: list[tuple[str, str]] = []

    def apply(self, m: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        self.calls.append(("apply", object_key(m)))
        self.live[object_key(m)] = m
        return m

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        key = object_key({"apiVersion": api_version, "kind": kind,
                          "metadata": {"name": name, "namespace": namespace}})
        self.calls.append(("delete", key))
        return self.live.pop(key, None) is not None

    def iter_list(self, api_version: str, kind: str, *, namespace: str | None = None,
                  label_selector: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.live.values()
                if m["kind"] == kind and m["metadata"].get("namespace") == namespace]


def provider_on(api: FakeApi) -> ObjectSetProvider:
    provider = ObjectSetProvider()
    provider._kube = lambda: api  # type: ignore[assignment,method-assign,return-value]
    return provider


def props(*names: str, retain: tuple[str, ...] = ()) -> dict[str, Any]:
    objects = {object_key(nad(n)): nad(n) for n in names}
    return {"name": "s", "owner": "netplumb/legacy", "objects": objects, "adopt": [],
            "retain": [object_key(nad(n)) for n in retain], "await": "none", "timeout": 5,
            "applied": {}}


def test_delete_leaves_the_retained_objects() -> None:
    api = FakeApi(nad("adopted"), nad("own"))
    provider_on(api).delete("id", props("adopted", "own", retain=("adopted",)))
    assert set(api.live) == {object_key(nad("adopted"))}
    assert ("delete", object_key(nad("adopted"))) not in api.calls


def test_an_update_dropping_objects_deletes_only_those_not_retained() -> None:
    api = FakeApi(nad("adopted"), nad("own"), nad("kept"))
    olds = props("adopted", "own", "kept", retain=("adopted",))
    news = props("kept")
    provider_on(api).update("id", olds, news)
    assert set(api.live) == {object_key(nad("adopted")), object_key(nad("kept"))}
    assert [c for c in api.calls if c[0] == "delete"] == [("delete", object_key(nad("own")))]


def test_a_changed_retain_list_is_a_change_to_the_set() -> None:
    olds = {**props("adopted", retain=("adopted",)), "applied": {}}
    news = props("adopted")
    live = nad("adopted")
    live["metadata"]["annotations"] = {OWNER_ANNOTATION: "netplumb/legacy"}  # no drift
    provider = provider_on(FakeApi(live))
    olds["applied"] = provider._outs(news)["applied"]
    assert provider.diff("id", olds, news).changes is True
    assert provider.diff("id", olds, {**news, "retain": olds["retain"]}).changes is False


def test_to_delete_and_retained() -> None:
    p = props("a", "b", retain=("a",))
    assert retained(p) == {object_key(nad("a"))}
    assert [object_key(m) for m in to_delete(p, p["objects"])] == [object_key(nad("b"))]
    assert to_delete({"objects": {}}, ["x"]) == []


def test_policy_retains_adopted_objects_whatever_their_scope() -> None:
    crd = ObjectRef("CustomResourceDefinition", "x.example.com")
    net = ObjectRef("NetworkAttachmentDefinition", "n", "default")
    policy = OwnershipPolicy("p/s", adopt=frozenset({crd.key, net.key}), delete_on_destroy=True)
    assert policy.retains(crd, cluster_wide=True) and policy.retains(net, cluster_wide=False)
    assert not policy.retains(ObjectRef("ClusterRole", "r"), cluster_wide=True)
    deleting = OwnershipPolicy("p/s", adopt=policy.adopt, retain_adopted=False)
    assert not deleting.retains(net, cluster_wide=False)
    assert deleting.retains(crd, cluster_wide=True)  # cluster-wide: on_destroy decides


@pytest.fixture
def nothing_live() -> Iterator[None]:
    use_reader(lambda ref: None)
    try:
        yield
    finally:
        reset_reader()


def _stack(spec: dict[str, Any], stack: str) -> tuple[list[Any], list[str]]:
    out: dict[str, list[str]] = {}

    def program() -> Any:
        s = NetplumbStack(stack, StackSpec.parse(spec))
        return s.retained_on_destroy.apply(lambda v: out.setdefault("retained", v))

    mocks = run_program(program, stack)
    return mocks.of_type(SET_TYPE), out["retained"]


def _adopting(name: str, setting: str | None = None) -> dict[str, Any]:
    objects: dict[str, Any] = {"adopt": [f"NetworkAttachmentDefinition/default/{name}"]}
    if setting:
        objects["adopted_on_destroy"] = setting
    return {"networks": [{"name": name, "type": "bridge", "bridge": "br-legacy"},
                         {"name": f"{name}-new", "type": "bridge", "bridge": "br-new"}],
            "cluster_objects": objects}


def test_stack_retains_its_adopted_nads(nothing_live: None) -> None:
    [nets], kept = _stack(_adopting("legacy-net"), "legacy")
    key = "NetworkAttachmentDefinition/default/legacy-net"
    assert nets.inputs["retain"] == [key]
    assert nets.inputs["adopt"] == [key]
    assert key in kept and "NetworkAttachmentDefinition/default/legacy-net-new" not in kept


def test_adopted_on_destroy_delete_retains_nothing(nothing_live: None) -> None:
    [nets], kept = _stack(_adopting("gone-net", "delete"), "legacy")
    assert nets.inputs["retain"] == []
    assert "NetworkAttachmentDefinition/default/gone-net" not in kept


def test_an_adopted_crd_stays_even_when_the_stack_deletes_cluster_wide_objects(
        nothing_live: None) -> None:
    objects: dict[str, Any] = {"on_destroy": "delete", "adopt": [CRD_KEY]}
    spec: dict[str, Any] = {"install_nad_crd": True, "cluster_objects": objects}
    mocks = run_program(lambda: NetplumbStack("platform", StackSpec.parse(spec)), "platform")
    [crd] = [r for r in mocks.registered if r.type.endswith(":CustomResourceDefinition")]
    assert crd.retain_on_delete is True
    spec["cluster_objects"] = {**objects, "adopted_on_destroy": "delete"}
    mocks = run_program(lambda: NetplumbStack("platform", StackSpec.parse(spec)), "platform")
    [crd] = [r for r in mocks.registered if r.type.endswith(":CustomResourceDefinition")]
    assert crd.retain_on_delete is False


def test_adopted_on_destroy_is_checked() -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"cluster_objects": {"adopted_on_destroy": "keep"}})
    assert err.value.paths == ["cluster_objects.adopted_on_destroy"]
