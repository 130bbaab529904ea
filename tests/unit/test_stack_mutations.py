"""Property test: the dev and prod stacks, mutated anywhere, are checked without a crash.

Mutations: drop a key or list item, rename a key (a typo, another word, a key YAML reads
as a number or bool), put a value of another type in any place (the top level included,
or another part of the stack), duplicate a list item. Whatever comes
out, ``netplumb check`` only ever reports :class:`PlanError` findings (exit 1) or passes
(exit 0), and every finding's path exists in the input or names one missing key of a
mapping that exists.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netplumb import Finding, PlanError
from netplumb.args.stack import load_stack_document
from netplumb.cli.main import main
from netplumb.plan import build_plan, render_plan

ROOT = Path(__file__).parents[2]
STACKS = {env: yaml.safe_load((ROOT / "stacks" / f"Pulumi.{env}.yaml").read_text())
          for env in ("dev", "prod")}
Loc = tuple[str | int, ...]

OTHER_VALUES: list[Any] = [
    None, True, False, 0, -1, 7, 70000, 1.5, -0.5, "", "x", "eth0", "192.0.2.1",
    "192.0.2.0/24", "2001:db8::1", "fe80::1", "02:00:5e:00:00:01", "01:00:00:00:00:00",
    "100m", "default", "Exists", "macvlan", "host_local", "../x", [], [None], [1, "a"], {},
    {"a": 1}, {"name": 5}, {"type": "bridge"}, [{"name": "x"}], {"": None},
]
NEW_KEYS: list[Any] = ["x", "", "name", "type", "ips", "mac", "interface", "namespace",
                       "networks", "config", "ipam", "gateway", "replicas", "resources",
                       "netplumb:spec", 0, 5, None, True]
"""Keys a rename may give; YAML keys need not be strings."""


def locations(node: Any, at: Loc = ()) -> list[Loc]:
    """Every place in the document: the root, each mapping value, each list item."""
    out = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            out += locations(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += locations(value, (*at, i))
    return out


def get(doc: Any, loc: Loc) -> Any:
    for part in loc:
        doc = doc[part]
    return doc


def typo(key: Any, draw: Any) -> Any:
    if not isinstance(key, str) or not key:
        return draw(st.sampled_from(NEW_KEYS))
    i = draw(st.integers(0, len(key) - 1))
    kind = draw(st.sampled_from(["drop", "swap", "add", "case", "other"]))
    if kind == "drop":
        return key[:i] + key[i + 1:]
    if kind == "swap" and i + 1 < len(key):
        return key[:i] + key[i + 1] + key[i] + key[i + 2:]
    if kind == "add":
        return key[:i] + "e" + key[i:]
    if kind == "case":
        return key.upper()
    return draw(st.sampled_from(NEW_KEYS))


@st.composite
def mutated(draw: Any) -> Any:
    doc = copy.deepcopy(STACKS[draw(st.sampled_from(sorted(STACKS)))])
    for _ in range(draw(st.integers(1, 3))):
        places = locations(doc)
        loc = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["drop", "rename", "retype", "duplicate", "transplant"]))
        if not loc:  # the whole document
            if op == "retype":
                doc = copy.deepcopy(draw(st.sampled_from(OTHER_VALUES)))
            continue
        parent, last = get(doc, loc[:-1]), loc[-1]
        if op == "drop":
            del parent[last]
        elif op == "rename" and isinstance(parent, dict):
            new = typo(last, draw)
            parent[new] = parent.pop(last)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif op == "transplant":  # another part of the stack, where it does not belong
            parent[last] = copy.deepcopy(get(doc, draw(st.sampled_from(places))))
        else:
            parent[last] = copy.deepcopy(draw(st.sampled_from(OTHER_VALUES)))
    return doc


_TOKEN = re.compile(r"\[(\d+)\]")


def path_exists(doc: Any, path: str) -> bool:
    """``path`` (netplumb's field path) leads to a node of ``doc``, or names one missing key
    of a mapping that exists. Keys may hold dots (``netplumb:spec``, label keys)."""
    if path == "<root>":
        return True
    return _resolve(doc, path)


def _resolve(node: Any, rest: str) -> bool:
    if not rest:
        return True
    m = _TOKEN.match(rest)
    if m:
        i = int(m[1])
        tail = rest[m.end():]
        if isinstance(node, list):
            return i < len(node) and _resolve(node[i], tail.removeprefix("."))
        return isinstance(node, dict) and i in node and _resolve(node[i], tail.removeprefix("."))
    if not isinstance(node, dict):
        return False
    for key in node:
        k = str(key)
        if rest == k:
            return True
        for sep in (".", "["):
            if rest.startswith(k + sep) and _resolve(node[key], rest[len(k):].removeprefix(".")):
                return True
    # one missing key, the last step
    return not any(c in rest for c in ".[")


def check(doc: Any) -> list[Finding]:
    """What ``netplumb check`` does with a decoded stack file (and what render does after)."""
    try:
        plan = build_plan(load_stack_document(doc))
        render_plan(plan)
    except PlanError as exc:
        return exc.findings
    return plan.findings


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_stacks_give_findings_with_real_paths(doc: Any) -> None:
    for finding in check(doc):
        assert path_exists(doc, finding.path), (str(finding), doc)


@settings(max_examples=40, deadline=None)
@given(mutated())
def test_check_command_exits_0_or_1(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.mutant.yaml"
        path.write_text(yaml.safe_dump(doc))
        assert main(["check", str(path)]) in (0, 1)


def test_the_unmutated_stacks_pass() -> None:
    for doc in STACKS.values():
        assert [f for f in check(doc) if f.severity == "error"] == []


def test_path_exists_oracle() -> None:
    doc = {"config": {"netplumb:spec": {"networks": [{"name": "a", "ipam": {}}],
                                        "labels": {"example.com/role": "x"}}}}
    assert path_exists(doc, "config.netplumb:spec.networks[0].name")
    assert path_exists(doc, "config.netplumb:spec.networks[0].ipam.type")  # missing key
    assert path_exists(doc, "config.netplumb:spec.labels.example.com/role")
    assert not path_exists(doc, "config.netplumb:spec.networks[1]")
    assert not path_exists(doc, "config.netplumb:spec.networks[0].ipam.ranges[0]")
    assert not path_exists(doc, "config.netplumb:spec.pods[0].name")
