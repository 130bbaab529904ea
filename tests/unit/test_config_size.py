"""A stack's config must fit in one environment string: Pulumi hands the program all of it
in ``PULUMI_CONFIG``, and Linux refuses an environment string over 128 KiB, so the engine
fails before any netplumb code runs. ``netplumb check`` (and ``make run``, before the engine)
say so, with the fix: the spec in a file named by ``netplumb:specFile``.

The estimate is checked against an oracle written here with the standard library (for text
where Go's JSON and Python's agree) and against literal ``PULUMI_CONFIG`` values for what
Go escapes differently (``<``, ``>``, ``&``) and how it writes numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netplumb.args.stack import (
    CONFIG_KEY,
    ENV_STRING_MAX,
    FILE_KEY,
    config_env_bytes,
    config_env_finding,
    load_stack_file,
)
from netplumb.cli.main import main

REPO = Path(__file__).parents[2]


def networks(n: int) -> list[dict[str, Any]]:
    """``n`` host-local macvlan networks on distinct /24s, as a stack declares them."""
    return [{"name": f"tenant-{i:04d}", "type": "macvlan", "master": "eth1", "mode": "bridge",
             "ipam": {"type": "host-local", "subnet": f"10.{i // 256}.{i % 256}.0/24",
                      "rangeStart": f"10.{i // 256}.{i % 256}.10",
                      "rangeEnd": f"10.{i // 256}.{i % 256}.200"}}
            for i in range(n)]


def oracle_bytes(config: dict[str, Any]) -> int:
    """PULUMI_CONFIG=<json of key -> string> plus NUL, structured values as compact JSON
    with sorted keys: what Go writes for ASCII text without ``<``, ``>``, ``&`` and floats."""
    def as_string(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"),
                                                       sort_keys=True)
    env = json.dumps({k: as_string(v) for k, v in config.items()}, separators=(",", ":"),
                     sort_keys=True)
    return len(f"PULUMI_CONFIG={env}".encode()) + 1


def test_a_thousand_networks_inline_are_reported_with_size_limit_and_fix() -> None:
    config = {"netplumb:cluster": ["kind-netplumb"], CONFIG_KEY: {"networks": networks(1000)}}
    size = oracle_bytes(config)
    assert size > ENV_STRING_MAX
    assert config_env_bytes(config) == size
    finding = config_env_finding({"config": config})
    assert finding is not None
    assert finding.path == "config.netplumb:spec"
    assert finding.severity == "error"
    assert finding.value == size
    text = str(finding)
    assert f"about {size} bytes" in text
    assert f"{ENV_STRING_MAX} bytes (128 KiB)" in text
    assert "PULUMI_CONFIG" in text
    assert f"name it with {FILE_KEY} instead of {CONFIG_KEY}" in text


def test_the_same_spec_in_a_file_is_not_reported(tmp_path: Path) -> None:
    spec = {"networks": networks(1000)}
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "big.yaml").write_text(yaml.safe_dump(spec))
    doc = {"config": {"netplumb:cluster": ["kind-netplumb"], FILE_KEY: "specs/big.yaml"}}
    assert config_env_finding(doc) is None
    assert config_env_bytes(doc["config"]) == oracle_bytes(doc["config"])
    # and the file holds the very spec that was too large inline
    (tmp_path / "Pulumi.yaml").write_text("name: netplumb\n")
    stack = tmp_path / "Pulumi.big.yaml"
    stack.write_text(yaml.safe_dump(doc))
    assert len(load_stack_file(stack).networks) == 1000


@pytest.mark.parametrize("count", [0, 1, 50])
def test_a_small_stack_is_not_reported(count: int) -> None:
    config = {"netplumb:cluster": "kind-netplumb", CONFIG_KEY: {"networks": networks(count)}}
    assert config_env_bytes(config) == oracle_bytes(config) <= ENV_STRING_MAX
    assert config_env_finding({"config": config}) is None


@pytest.mark.parametrize("name", ["dev", "platform", "prod"])
def test_the_projects_stacks_fit(name: str) -> None:
    doc = yaml.safe_load((REPO / "stacks" / f"Pulumi.{name}.yaml").read_text())
    assert config_env_finding(doc) is None


def test_the_limit_is_inclusive() -> None:
    """One environment string may be exactly 131072 bytes with its NUL, not one more."""
    base = {"netplumb:pad": "", CONFIG_KEY: {"networks": []}}
    empty = oracle_bytes(base)
    fits = {**base, "netplumb:pad": "x" * (ENV_STRING_MAX - empty)}
    over = {**base, "netplumb:pad": "x" * (ENV_STRING_MAX - empty + 1)}
    assert config_env_bytes(fits) == ENV_STRING_MAX
    assert config_env_finding({"config": fits}) is None
    finding = config_env_finding({"config": over})
    assert finding is not None and finding.value == ENV_STRING_MAX + 1
    # the spec is not what is large here: the largest value is named, without the spec fix
    assert finding.path == "config.netplumb:pad"
    assert FILE_KEY not in finding.message


@pytest.mark.parametrize(("spec", "env"), [
    # Go escapes <, > and & in the spec's JSON; the second encoding doubles the backslash
    ({"a": "x<y>&"}, r'{"netplumb:spec":"{\"a\":\"x\\u003cy\\u003e\\u0026\"}"}'),
    # map keys sorted, integral floats without a fraction, exponents from 1e21 on
    ({"b": 1.0, "a": [0.5, 1e16, 2.5e21]},
     r'{"netplumb:spec":"{\"a\":[0.5,10000000000000000,2.5e+21],\"b\":1}"}'),
    # UTF-8 stays as it is (é is two bytes), quotes and backslashes are escaped twice
    ({"n": 'é "q" \\'}, r'{"netplumb:spec":"{\"n\":\"é \\\"q\\\" \\\\\"}"}'),
])
def test_go_encoding(spec: dict[str, Any], env: str) -> None:
    assert config_env_bytes({CONFIG_KEY: spec}) == len(f"PULUMI_CONFIG={env}".encode()) + 1


def test_a_secret_counts_with_its_ciphertext() -> None:
    secret = "v1:" + "A" * 40
    config = {"netplumb:token": {"secure": secret}}
    assert config_env_bytes(config) == oracle_bytes({"netplumb:token": secret})


def _stack_files(tmp_path: Path, n: int) -> tuple[Path, Path]:
    (tmp_path / "Pulumi.yaml").write_text("name: netplumb\n")
    (tmp_path / "specs").mkdir()
    spec = {"networks": networks(n)}
    (tmp_path / "specs" / "big.yaml").write_text(yaml.safe_dump(spec))
    inline = tmp_path / "Pulumi.inline.yaml"
    inline.write_text(yaml.safe_dump({"config": {CONFIG_KEY: spec}}))
    in_file = tmp_path / "Pulumi.file.yaml"
    in_file.write_text(yaml.safe_dump({"config": {FILE_KEY: "specs/big.yaml"}}))
    return inline, in_file


def test_check_reports_the_inline_spec_as_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inline, in_file = _stack_files(tmp_path, 1000)
    assert main(["check", str(inline)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{inline}: error\n  error: config.netplumb:spec: ")
    assert f"{ENV_STRING_MAX} bytes (128 KiB)" in err and FILE_KEY in err
    assert main(["check", str(in_file)]) == 0
    out = capsys.readouterr()
    assert "1000 networks" in out.out and "PULUMI_CONFIG" not in out.err


def test_check_reports_the_size_with_the_plan_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inline, _ = _stack_files(tmp_path, 1000)
    doc = yaml.safe_load(inline.read_text())
    doc["config"][CONFIG_KEY]["networks"][0]["mtu"] = 1
    inline.write_text(yaml.safe_dump(doc))
    assert main(["check", str(inline)]) == 1
    err = capsys.readouterr().err
    assert "config.netplumb:spec: the engine hands" in err
    assert "networks[0].mtu" in err
