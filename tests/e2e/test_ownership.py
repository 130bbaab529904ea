"""Many teams on one cluster, through the real engine.

The cluster's platform stack owns the NAD CRD (the ``platform`` fixture). Two team stacks
deploy networks and pods; destroying one leaves the CRD, the other team's NADs and every
other owner's NADs as they were, and a namespace it created (with the other team's NAD in
it) stays. A team stack that asks for the CRD fails at preview naming the platform. A stack
with the platform's identity, destroyed, leaves the CRD and says so. A 1,000-network stack
whose spec lives in a file goes up and is destroyed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from harness import engine
from harness.pytest_fixtures import NAD_CRD, ClusterHandle
from netplumb.kube import Kube
from netplumb.ownership import OWNER_ANNOTATION, owner_of

pytestmark = pytest.mark.e2e

NAD = ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
SHARED_NS = "np-own-shared"


def _team(name: str, first_host: int, *, namespace: str, extra: str = "") -> str:
    """A team stack: two bridge networks (one in ``SHARED_NS``) and a pod on the first."""
    lo, hi = f"198.51.100.{first_host}", f"198.51.100.{first_host + 4}"
    lo2, hi2 = f"198.51.100.{first_host + 5}", f"198.51.100.{first_host + 9}"
    return f"""config:
  netplumb:spec:{extra}
    networks:
      - name: {name}-br
        namespace: {namespace}
        type: bridge
        bridge: np-br-dev
        ipam: {{type: host-local, subnet: 198.51.100.0/24, rangeStart: {lo}, rangeEnd: {hi}}}
      - name: {name}-shared
        namespace: {SHARED_NS}
        type: bridge
        bridge: np-br-dev
        ipam: {{type: host-local, subnet: 198.51.100.0/24, rangeStart: {lo2}, rangeEnd: {hi2}}}
    pods:
      - {{name: {name}-pod, namespace: {namespace}, networks: [{{name: {name}-br}}]}}
"""


TEAM_A = _team("team-a", 100, namespace=SHARED_NS, extra=f"""
    guardrails:
      rbac: null      # the network roles are cluster-wide: the platform's to declare
      pod_security: [{{namespace: {SHARED_NS}, create: true}}]""")
TEAM_B = _team("team-b", 120, namespace="default")
TEAM_B_CRD = _team("team-b", 120, namespace="default", extra="\n    install_nad_crd: true")


def _nads(kube: Kube) -> dict[str, tuple[str | None, str]]:
    """Every NAD in the cluster: ``ns/name`` → (owner, resourceVersion)."""
    return {f"{n['metadata']['namespace']}/{n['metadata']['name']}":
            (owner_of(n), n["metadata"]["resourceVersion"]) for n in kube.list(*NAD)}


@pytest.fixture
def kube(cluster: ClusterHandle) -> Kube:
    return Kube.from_kubeconfig(str(cluster.kubeconfig))


@contextlib.contextmanager
def _stacks(cluster: ClusterHandle, project: Path, backend: Path,
            *names: str) -> Iterator[dict[str, auto.Stack]]:
    made = {n: engine.stack(n, work_dir=project, kubeconfig=cluster.kubeconfig,
                            backend=backend) for n in names}
    try:
        yield made
    finally:
        for st in made.values():
            with contextlib.suppress(auto.CommandError):
                st.destroy(on_output=engine.printer())
            st.workspace.remove_stack(st.name)


def _wait_gone(kube: Kube, api_version: str, kind: str, name: str) -> None:
    deadline = time.monotonic() + 120
    while kube.get(api_version, kind, name) is not None:
        assert time.monotonic() < deadline, f"{kind} {name} still there"
        time.sleep(0.5)


def test_team_destroy_leaves_the_platform_and_other_teams(
        cluster: ClusterHandle, platform: str, kube: Kube, tmp_path: Path) -> None:
    platform_only = {"config": {"netplumb:spec": {"install_nad_crd": True}}}
    project = engine.project_copy(tmp_path / "project", {
        "team-a": TEAM_A, "team-b": TEAM_B, "team-b-crd": TEAM_B_CRD,
        "platform": yaml.safe_dump(platform_only)})
    assert kube.get("v1", "Namespace", SHARED_NS) is None, "left over from an earlier run"
    try:
        with _stacks(cluster, project, tmp_path / "teams", "team-a", "team-b") as st:
            before = _nads(kube)
            up_a = st["team-a"].up(on_output=engine.printer())
            assert up_a.outputs["retained_on_destroy"].value == [f"Namespace/{SHARED_NS}"]
            st["team-b"].up(on_output=engine.printer())
            mine = {k for k, (owner, _) in _nads(kube).items()
                    if owner in ("netplumb/team-a", "netplumb/team-b")}
            assert mine == {f"{SHARED_NS}/team-a-br", f"{SHARED_NS}/team-a-shared",
                            "default/team-b-br", f"{SHARED_NS}/team-b-shared"}
            team_b = {k: v for k, v in _nads(kube).items() if v[0] == "netplumb/team-b"}

            result = st["team-a"].destroy(on_output=engine.printer())
            # team A's namespace is retained: team B's NAD lives in it
            assert "[retain]" in result.stdout and SHARED_NS in result.stdout
            after = _nads(kube)
            assert {k: v for k, v in after.items() if v[0] == "netplumb/team-b"} == team_b
            assert {k: v for k, v in after.items() if k in before} == before
            assert not any(v[0] == "netplumb/team-a" for v in after.values())
            crd = kube.get(*CRD, NAD_CRD)
            assert crd is not None and owner_of(crd) == platform
            ns = kube.get("v1", "Namespace", SHARED_NS)
            assert ns is not None and ns["metadata"].get("deletionTimestamp") is None

            # team B asking for the CRD the platform owns: refused at preview, nothing applied
            asking = engine.stack("team-b-crd", work_dir=project,
                                  kubeconfig=cluster.kubeconfig, backend=tmp_path / "asking")
            try:
                with pytest.raises(auto.CommandError) as err:
                    asking.preview(on_output=engine.printer())
                text = str(err.value)
                assert "config.netplumb:spec.install_nad_crd" in text
                assert f"netplumb stack {platform!r}" in text
                assert "cluster_objects.adopt" in text
            finally:
                asking.workspace.remove_stack("team-b-crd")
            crd_after = kube.get(*CRD, NAD_CRD)
            assert crd_after is not None and owner_of(crd_after) == platform

        # A stack with the platform's identity, destroyed: the CRD stays, and it says so.
        with _stacks(cluster, project, tmp_path / "platform", "platform") as st:
            up = st["platform"].up(on_output=engine.printer())
            assert NAD_CRD.split(".")[0] in str(up.outputs["retained_on_destroy"].value)
            gone = st["platform"].destroy(on_output=engine.printer())
            assert "[retain]" in gone.stdout
            crd = kube.get(*CRD, NAD_CRD)
            assert crd is not None and crd["metadata"]["annotations"][OWNER_ANNOTATION] == platform
    finally:
        if kube.delete("v1", "Namespace", SHARED_NS):  # the test made it; it was retained
            _wait_gone(kube, "v1", "Namespace", SHARED_NS)


def _big_spec(count: int) -> dict[str, Any]:
    return {"networks": [
        {"name": f"scale-{i:05d}", "namespace": "default", "type": "bridge",
         "bridge": "np-scale0",
         "ipam": {"type": "host-local", "subnet": f"198.18.{i // 250}.0/24",
                  "rangeStart": f"198.18.{i // 250}.{i % 250 + 1}",
                  "rangeEnd": f"198.18.{i // 250}.{i % 250 + 1}"}}
        for i in range(count)]}


def test_thousand_networks_from_a_spec_file(cluster: ClusterHandle, platform: str, kube: Kube,
                                            tmp_path: Path, figure: Callable[[str], None]) -> None:
    count = 1000
    project = engine.project_copy(tmp_path / "project", {
        "big": "config:\n  netplumb:specFile: specs/big.yaml\n"})
    (project / "specs").mkdir()
    (project / "specs" / "big.yaml").write_text(yaml.safe_dump(_big_spec(count)))
    with _stacks(cluster, project, tmp_path / "backend", "big") as st:
        t0 = time.monotonic()
        st["big"].up(on_output=engine.printer())
        took_up = time.monotonic() - t0
        ours = [k for k, (owner, _) in _nads(kube).items() if owner == "netplumb/big"]
        assert len(ours) == count
        t0 = time.monotonic()
        st["big"].destroy(on_output=engine.printer())
        took_down = time.monotonic() - t0
        assert not any(owner == "netplumb/big" for owner, _ in _nads(kube).values())
        figure(f"{count} networks: up {took_up:.1f}s, destroy {took_down:.1f}s")
