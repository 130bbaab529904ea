"""``netplumb doctor`` names a whereabouts allocation leaked by a pod that is gone, on the
platform's real whereabouts, and the platform's reconciler then frees it as the fix says.

A pod on a whereabouts network holds one address of the IPPool. The leak is made as an
unclean deletion leaves it (the pod gone, the CNI DEL never run): the IPPool keeps an
allocation, and an OverlappingRangeIPReservation, for a pod ``ghost`` that does not exist.
Doctor names the allocation with the pod it belonged to, the offset to remove and the
reconciler's schedule (the platform's: every minute), and counts it in the pool's use (read
from the IPPool: the running pod's address and the leaked one). The reconciler then removes
both objects' entries, and doctor no longer names them.

The network has its own ``network_name``, so its IPPool and reservations are apart from those
of other tests using whereabouts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.cluster.api import Api, ApiError, wait_for
from harness.pytest_fixtures import ClusterHandle, NetworkHandle
from netplumb.cli.main import main
from netplumb.cni.config import parse_cni_config
from netplumb.kube import Kube
from netplumb.ops.doctor import diagnose
from netplumb.ops.live import read_snapshot
from tests.e2e.nadspace import NadSpace, nad_namespace

pytestmark = pytest.mark.e2e

NS = "doctor-leak"
NETWORK_NAME = "np-doctor-leak"
RANGE, START, END = "192.0.2.0/24", "192.0.2.100", "192.0.2.120"
WB = "/apis/whereabouts.cni.cncf.io/v1alpha1/namespaces/kube-system"
GHOST = f"{NS}/ghost"
GHOST_CONTAINER = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def space(pod_network: NetworkHandle) -> Iterator[NadSpace]:
    with nad_namespace(pod_network, NS) as space:
        yield space


def _our_pool(api: Api) -> dict[str, Any] | None:
    pools = api.get(f"{WB}/ippools")["items"]
    return next((p for p in pools if p["spec"].get("range") == RANGE
                 and p["metadata"]["name"].startswith(f"{NETWORK_NAME}-")), None)


def _holding(api: Api, podref: str) -> dict[str, Any] | None:
    pool = _our_pool(api)
    allocations = ((pool or {}).get("spec") or {}).get("allocations") or {}
    return pool if any(a.get("podref") == podref for a in allocations.values()) else None


def _early_in_a_minute() -> None:
    """The platform's reconciler runs at the start of every minute: start after this
    minute's run, with half a minute before the next."""
    while not 5 <= dt.datetime.now(dt.UTC).second <= 30:
        time.sleep(0.5)


def _leaked(kube: Kube) -> list[Any]:
    return [f for f in diagnose(read_snapshot(kube, [NS])).findings
            if f.check == "whereabouts:leaked"]


def test_doctor_names_a_leaked_allocation_the_reconciler_then_frees(
        space: NadSpace, cluster: ClusterHandle, capsys: pytest.CaptureFixture[str]) -> None:
    api, kube = cluster.api(), Kube.from_kubeconfig(str(cluster.kubeconfig))
    assert kube.resource("whereabouts.cni.cncf.io/v1alpha1", "IPPool") is not None, \
        "the platform installs whereabouts and its CRDs"
    space.create_nad("leaky", parse_cni_config(json.dumps({
        "cniVersion": "1.0.0", "name": "leaky", "type": "bridge", "bridge": "np-dleak0",
        "ipam": {"type": "whereabouts", "range": RANGE, "range_start": START,
                 "range_end": END, "network_name": NETWORK_NAME}})))
    space.create_pod("holder", [{"name": "leaky", "interface": "net1"}])
    pool = wait_for("the holder's allocation in the IPPool",
                    lambda: _holding(api, f"{NS}/holder"), timeout=120)
    # settled: the holder running and its reservation written (one ADD writes the IPPool
    # and then the reservation)
    wait_for("the holder Running", lambda: (api.get(f"/api/v1/namespaces/{NS}/pods/holder")
                                            .get("status") or {}).get("phase") == "Running",
             timeout=120)
    pool = wait_for("the holder's allocation in the IPPool",
                    lambda: _holding(api, f"{NS}/holder"), timeout=30)
    name = pool["metadata"]["name"]
    allocations = pool["spec"]["allocations"]
    [held] = [int(k) for k, a in allocations.items() if a.get("podref") == f"{NS}/holder"]
    held_ip = ipaddress.ip_network(RANGE).network_address + held
    wait_for("the holder's reservation", lambda: api.get_or_none(
        f"{WB}/overlappingrangeipreservations/{NETWORK_NAME}-{held_ip}"), timeout=30)
    first = ipaddress.ip_network(RANGE).network_address
    taken = {int(k) for k in allocations}
    offset = next(o for o in range(int(ipaddress.ip_address(END)) - int(first),
                                   int(ipaddress.ip_address(START)) - int(first) - 1, -1)
                  if o not in taken)
    ghost_ip = first + offset
    reservation = f"{NETWORK_NAME}-{ghost_ip}"

    _early_in_a_minute()
    api.merge_patch(f"{WB}/ippools/{name}", {"spec": {"allocations": {str(offset): {
        "id": GHOST_CONTAINER, "podref": GHOST, "ifname": "net1"}}}})
    api.create(f"{WB}/overlappingrangeipreservations", {
        "apiVersion": "whereabouts.cni.cncf.io/v1alpha1",
        "kind": "OverlappingRangeIPReservation",
        "metadata": {"name": reservation, "namespace": "kube-system"},
        "spec": {"containerid": GHOST_CONTAINER, "podref": GHOST, "ifname": "net1"}})
    try:
        code = main(["doctor", "-n", NS, "--kubeconfig", str(cluster.kubeconfig), "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code >= 1
        [leak] = [f for f in doc["findings"] if f["check"] == "whereabouts:leaked"]
        assert leak["subject"] == f"IPPool kube-system/{name}"
        assert leak["pods"] == [GHOST]
        assert f"{ghost_ip} (pod {GHOST}, container {GHOST_CONTAINER[:12]}, net1)" \
            in leak["message"]
        assert f"remove offset(s) {offset} from spec.allocations" in leak["fix"]
        assert f"delete OverlappingRangeIPReservation(s) {reservation}" in leak["fix"]
        assert "frees them on its schedule '* * * * *'" in leak["fix"], leak["fix"]
        # the holder is not leaked; its reservation, written by its ADD, was seen to be
        # removed again by whereabouts' reconciler (v0.9.2, every minute here) while the pod
        # runs: then, and only then, doctor names the allocation as unreserved
        holder = [f["check"] for f in doc["findings"] if f"{NS}/holder" in f["pods"]]
        reserved = api.get_or_none(
            f"{WB}/overlappingrangeipreservations/{NETWORK_NAME}-{held_ip}") is not None
        assert holder == ([] if reserved else ["whereabouts:orphaned"]), (holder, reserved)
        [use] = [u for u in doc["pools"] if u["network"] == f"{NS}/leaky"]
        assert (use["used"], use["size"], use["scope"]) == (2, 21, "cluster")

        # the reconciler the fix names frees the allocation and the reservation
        wait_for("the reconciler to free the leaked allocation",
                 lambda: _holding(api, GHOST) is None, timeout=150, interval=2)
        wait_for("the reconciler to delete the leaked reservation",
                 lambda: api.get_or_none(f"{WB}/overlappingrangeipreservations/"
                                         f"{reservation}") is None, timeout=60, interval=2)
        assert _leaked(kube) == []
        d = diagnose(read_snapshot(kube, [NS]))
        assert [u.used for u in d.pools if u.network == f"{NS}/leaky"] == [1]
    finally:
        pool_now = _holding(api, GHOST)
        if pool_now is not None:
            api.merge_patch(f"{WB}/ippools/{name}",
                            {"spec": {"allocations": {str(offset): None}}})
        with contextlib.suppress(ApiError):
            api.delete(f"{WB}/overlappingrangeipreservations/{reservation}")
