"""The pull-request comment shows a stack's topology (Mermaid, from `netplumb graph
--changed-since`) when its networks changed: graph.mmd in the stack's results."""

from __future__ import annotations

from pathlib import Path

from netplumb.ops.graph import compare, from_objects, to_mermaid
from netplumb.ops.prcomment import (
    GITHUB_LIMIT,
    MERMAID_LIMIT,
    build_comment,
    graph_section,
    read_results,
)

from .test_graph import _nad, _pod


def mermaid() -> str:
    base = from_objects([_nad("a"), _pod("a")], "stack prod")
    head = from_objects([_nad("a"), _nad("b"), _pod("a", "b")], "stack prod")
    return to_mermaid(compare(base, head))


def test_graph_section_is_a_mermaid_block_or_nothing() -> None:
    assert graph_section("prod", "") == []
    lines = graph_section("prod", mermaid())
    text = "\n".join(lines)
    assert "networks changed" in text and "<code>prod</code>" in text
    assert "```mermaid\nflowchart LR\n" in text and text.count("```") == 2
    assert lines[0] == "<details open>"


def test_a_picture_too_large_is_named_not_shown() -> None:
    big = "flowchart LR\n" + "\n".join(f"  p{i}[\"pod {i}\"]" for i in range(6000))
    assert len(big) > MERMAID_LIMIT
    [line, _] = graph_section("prod", big)
    assert "too large for the comment" in line and "graph.mmd" in line
    assert "```" not in line
    assert "too large" in graph_section("prod", mermaid(), budget=10)[0]


def _results(root: Path, graph: str | None) -> Path:
    d = root / "prod"
    d.mkdir(parents=True)
    (d / "check.out").write_text("stacks/Pulumi.prod.yaml: ok: 2 networks, 1 pods, "
                                 "0 warnings\n")
    (d / "check.exit").write_text("0")
    (d / "diff.out").write_text("#### netplumb diff: stack `prod`\n\n**0 changed, 1 added, "
                                "0 removed**\n")
    (d / "diff.exit").write_text("0")
    if graph is not None:
        (d / "graph.mmd").write_text(graph)
    return root


def test_comment_carries_the_topology_only_when_the_graph_was_written(tmp_path: Path) -> None:
    with_graph = build_comment(read_results(_results(tmp_path / "a", mermaid())))
    assert "```mermaid" in with_graph and "(added)" in with_graph
    # after the stack's diff, inside its section
    assert with_graph.index("netplumb diff: stack") < with_graph.index("```mermaid")
    without = build_comment(read_results(_results(tmp_path / "b", None)))
    assert "mermaid" not in without and "networks changed" not in without


def test_the_topology_keeps_the_comment_within_the_limit(tmp_path: Path) -> None:
    picture = mermaid()
    body = build_comment(read_results(_results(tmp_path, picture)), limit=len(picture) + 900)
    assert len(body) <= len(picture) + 900
    assert "```mermaid" not in body and "too large" in body
    assert len(build_comment(read_results(tmp_path))) <= GITHUB_LIMIT
