"""Which cluster ``make run`` and ``make test`` act on (:mod:`harness.target`), and a stack's
``netplumb:cluster`` binding (:func:`netplumb.components.cluster.check_binding`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import node as harness_node
from harness import target
from harness.pytest_fixtures import skip_without_node
from netplumb.args.stack import load_stack_document, load_stack_file
from netplumb.components.cluster import check_binding
from netplumb.errors import PlanError
from netplumb.kube import Credentials

REPO = Path(__file__).resolve().parents[2]


def _kubeconfig(path: Path, context: str = "team-prod", cluster: str = "prod-eu",
                server: str = "https://203.0.113.7:6443") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": cluster, "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": "u"}}]}))
    return path


def test_the_default_is_the_embedded_cluster_whatever_kubeconfig_says(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(_kubeconfig(tmp_path / "k"))}
    where = target.resolve(env)
    assert where.kind == "embedded" and not where.external
    said: list[str] = []
    target.ignore_exported_kubeconfig(where, said.append, env)
    assert "KUBECONFIG" not in env
    assert len(said) == 1 and str(tmp_path / "k") in said[0] and "TARGET=current-context" in said[0]
    assert target.resolve({"NETPLUMB_CLUSTER": "kind"}).kind == "kind"


def test_current_context_names_the_context_and_server(tmp_path: Path) -> None:
    env = {"NETPLUMB_TARGET": "current-context", "KUBECONFIG": str(_kubeconfig(tmp_path / "k"))}
    where = target.resolve(env)
    assert where.external and where.context == "team-prod"
    assert where.server == "https://203.0.113.7:6443"
    assert "'team-prod'" in where.describe() and "203.0.113.7" in where.describe()
    said: list[str] = []
    target.ignore_exported_kubeconfig(where, said.append, env)
    assert env["KUBECONFIG"] and said == []


@pytest.mark.parametrize(("env", "message"), [
    ({"NETPLUMB_TARGET": "prod"}, "expected 'embedded'"),
    ({"NETPLUMB_TARGET": "current-context", "KUBECONFIG": "/nonexistent/a:/nonexistent/b"},
     "one file"),
    ({"NETPLUMB_TARGET": "current-context", "KUBECONFIG": "/nonexistent/kubeconfig"},
     "does not exist"),
])
def test_a_target_that_names_no_cluster_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(target.TargetError, match=message):
        target.resolve(env)


def test_a_real_node_skip_fails_where_the_node_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness_node, "why_not", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="can run the real node"):
        skip_without_node(target.Target("embedded"), "no node")
    with pytest.raises(pytest.skip.Exception):
        skip_without_node(target.Target("external", context="c", server="s"), "no node")
    monkeypatch.setattr(harness_node, "why_not", lambda: "the real node needs root")
    with pytest.raises(pytest.skip.Exception):
        skip_without_node(target.Target("embedded"), "no node")


def _creds(context: str = "team-prod", cluster: str = "prod-eu",
           server: str = "https://203.0.113.7:6443") -> Credentials:
    return Credentials(server=server, context=context, cluster_name=cluster, source="/k")


@pytest.mark.parametrize("bound", ["team-prod", "prod-eu", "https://203.0.113.7:6443/",
                                   ["other", "HTTPS://203.0.113.7:6443"], None])
def test_a_bound_stack_accepts_its_cluster(bound: object) -> None:
    check_binding(bound, _creds())


def test_a_bound_stack_refuses_another_cluster_naming_both() -> None:
    with pytest.raises(PlanError) as err:
        check_binding(["netplumb-embedded", "kind-netplumb"], _creds())
    assert err.value.path == "config.netplumb:cluster"
    text = str(err.value)
    assert "'netplumb-embedded', 'kind-netplumb'" in text
    assert "'team-prod'" in text and "prod-eu" in text and "https://203.0.113.7:6443" in text
    with pytest.raises(PlanError, match="no cluster is configured"):
        check_binding("netplumb-embedded", None)
    with pytest.raises(PlanError, match="does-not-match"):
        check_binding("does-not-match", _creds(server="https://203.0.113.7"))


@pytest.mark.parametrize("bad", [[], "", [3], {"name": "x"}])
def test_a_binding_of_the_wrong_shape_is_a_plan_error(bad: object) -> None:
    doc = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    doc["config"]["netplumb:cluster"] = bad
    with pytest.raises(PlanError) as err:
        load_stack_document(doc, REPO)
    assert err.value.path == "config.netplumb:cluster"


def test_the_embedded_stacks_are_bound_to_the_embedded_cluster() -> None:
    for name in ("dev", "platform"):
        doc = yaml.safe_load((REPO / "stacks" / f"Pulumi.{name}.yaml").read_text())
        assert "netplumb-embedded" in doc["config"]["netplumb:cluster"], name
        load_stack_file(REPO / "stacks" / f"Pulumi.{name}.yaml")
