"""A workload's name takes what a pod's name takes: a Kubernetes object name that is also
the pods' ``app`` label value (at most 63 characters)."""

from __future__ import annotations

import pytest

from netplumb import PlanError
from netplumb.args import PodArgs, WorkloadArgs
from netplumb.components import MultiHomedPod, MultiHomedWorkload

from .pulumi_mocks import run_program
from .test_platform_flannel import refused

NAMES = ["web", "web-1", "web.v2", "a" * 63, "a" * 64, "Web", "web_1", "-web", "web-", "",
         "a." + "b" * 61]


def accepted(build: type[PodArgs] | type[WorkloadArgs], name: str) -> bool:
    try:
        build.parse({"name": name, "image": "busybox:1.36"})
    except PlanError as exc:
        assert exc.path == "name", exc
        return False
    return True


@pytest.mark.parametrize("name", NAMES)
def test_workload_and_pod_names_follow_one_rule(name: str) -> None:
    assert accepted(WorkloadArgs, name) == accepted(PodArgs, name)


def test_the_rule() -> None:
    assert accepted(WorkloadArgs, "web.v2")  # a DNS subdomain, as Kubernetes takes it
    assert accepted(WorkloadArgs, "a" * 63)
    with pytest.raises(PlanError, match="at most 63, since it is also the pods' app label"):
        PodArgs.parse({"name": "a" * 64})
    with pytest.raises(PlanError, match="invalid Kubernetes name"):
        WorkloadArgs.parse({"name": "Web", "image": "busybox:1.36"})


def test_a_component_name_used_as_the_name_is_checked_the_same() -> None:
    err, mocks = refused(lambda: MultiHomedPod("Bad_Name", PodArgs()))
    assert err.path == "name" and "set args.name" in str(err)
    err, mocks = refused(lambda: MultiHomedWorkload("Web", WorkloadArgs(image="busybox:1.36")))
    assert err.path == "name" and "Deployment name defaults" in str(err)
    assert mocks.registered == []
    ok = run_program(lambda: MultiHomedWorkload("web.v2", WorkloadArgs(image="busybox:1.36")))
    [deployment] = ok.of_type("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["metadata"]["name"] == "web.v2"
