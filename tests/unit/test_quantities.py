"""Kubernetes quantities: what ``resource.ParseQuantity`` (k8s.io/apimachinery v0.36) takes,
and YAML numbers in pods, workloads and quotas alike."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from netplumb import PlanError
from netplumb.args.guardrails import QuotaArgs
from netplumb.args.pod import PodArgs
from netplumb.args.resources import ContainerResources, quantity_value
from netplumb.args.stack import StackSpec
from netplumb.plan import build_plan, render_plan

from .pulumi_mocks import run_program

# (text, value) pairs ParseQuantity accepts, with the value it reads (milli-units checked).
ACCEPTED = [
    ("1", Fraction(1)), ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)), ("5.", Fraction(5)),
    ("+1", Fraction(1)), ("01", Fraction(1)), ("1.0", Fraction(1)), ("100m", Fraction(1, 10)),
    ("1u", Fraction(1, 10**6)), ("1n", Fraction(1, 10**9)), ("1k", Fraction(1000)),
    ("1Ki", Fraction(1024)), ("1.5Gi", Fraction(3 * 2**29)), ("1e3", Fraction(1000)),
    ("1E3", Fraction(1000)), ("1e-07", Fraction(1, 10**7)), ("1.5e3", Fraction(1500)),
    ("1E", Fraction(10**18)), ("1.G", Fraction(10**9)), ("0", Fraction(0)),
]
# ... and what it refuses.
REFUSED = ["", "1ki", "1K", "0x10", "1 ", " 1", "1e", "1Mi3", "1m3", "inf", "1EE", "1e3m",
           "1.5.5", "one"]


@pytest.mark.parametrize(("text", "value"), ACCEPTED)
def test_quantity_reads_what_kubernetes_reads(text: str, value: Fraction) -> None:
    assert quantity_value(text) == value


@pytest.mark.parametrize("text", REFUSED)
def test_quantity_refuses_what_kubernetes_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="quantit"):
        quantity_value(text)


@pytest.mark.parametrize(("given", "written"), [(1, "1"), (0.5, "0.5"), (2, "2"), ("250m", "250m"),
                                                (1e-7, "1e-07")])
def test_yaml_numbers_are_quantities_everywhere(given: Any, written: str) -> None:
    pod = PodArgs.model_validate({"name": "p", "resources": {"requests": {"cpu": given}}},
                                 context={"typed": True})
    assert pod.resources.requests == {"cpu": written}
    res = ContainerResources.model_validate({"limits": {"cpu": given}})
    assert res.to_dict() == {"limits": {"cpu": written}}
    quota = QuotaArgs.model_validate({"name": "q", "requests_cpu": given})
    assert quota.requests_cpu == written


def test_stack_pod_and_workload_take_yaml_numbers_and_render_strings() -> None:
    spec = StackSpec.parse({
        "pods": [{"name": "p", "resources": {"requests": {"cpu": 1, "memory": "64Mi"},
                                             "limits": {"cpu": 1.5}}}],
        "workloads": [{"name": "w", "image": "busybox:1.36",
                       "resources": {"requests": {"cpu": 0.25}}}],
        "guardrails": {"quotas": [{"name": "q", "requests_cpu": 4, "limits_cpu": 8.5}]},
    })
    objects = {o["kind"]: o for o in render_plan(build_plan(spec))}
    pod = objects["Pod"]["spec"]["containers"][0]["resources"]
    assert pod == {"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "1.5"}}
    deployment = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert deployment["resources"] == {"requests": {"cpu": "0.25"}}
    assert objects["ResourceQuota"]["spec"]["hard"] == {"requests.cpu": "4", "limits.cpu": "8.5"}


@pytest.mark.parametrize(("resources", "path", "shows"), [
    ({"requests": {"cpu": True}}, "pods[0].resources.requests.cpu", "true"),
    ({"requests": {"cpu": [1]}}, "pods[0].resources.requests.cpu", "[1]"),
    ({"requests": {"cpu": "1 core"}}, "pods[0].resources.requests.cpu", "quantity"),
    ({"requests": {"memory": -1}}, "pods[0].resources.requests.memory", "negative"),
    ({"requests": {"cpu": 2}, "limits": {"cpu": "1500m"}}, "pods[0].resources.requests.cpu",
     "above the limit"),
    ({"request": {"cpu": 1}}, "pods[0].resources.request", "did you mean 'requests'?"),
])
def test_bad_pod_quantities_name_the_key(resources: dict[str, Any], path: str,
                                         shows: str) -> None:
    with pytest.raises(PlanError) as err:
        StackSpec.parse({"pods": [{"name": "p", "resources": resources}]})
    assert path in err.value.paths
    assert shows in str(err.value)


def test_multi_homed_pod_component_takes_a_yaml_number() -> None:
    from netplumb.components import MultiHomedPod

    mocks = run_program(lambda: MultiHomedPod(
        "p", PodArgs.model_validate({"resources": {"limits": {"cpu": 2}}},
                                    context={"typed": True})))
    [pod] = mocks.of_type("kubernetes:core/v1:Pod")
    assert pod.inputs["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "2"}}
