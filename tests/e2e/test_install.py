"""netplumb installed as a user installs it, into a clean virtualenv with its runtime
dependencies only, and used from there through the real engine.

Two installs, which between them cover both sources and both ends of the Pulumi SDK ranges
in ``pyproject.toml``: the built wheel with the lowest allowed SDKs, and ``git+file://`` of
this repository with the highest. Each venv gets nothing else (no harness, no test or dev
dependency); the wheel ships ``netplumb`` with its ``py.typed`` and nothing of the harness or
the tests. From each venv, the SR-IOV example program is previewed on the embedded cluster
(the engine and the kubernetes provider plugin are the ones built here: the project names
the plugin's path, so an SDK of another 4.x version than the plugin's works offline).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from pulumi import automation as auto

from harness import engine, tools
from harness.paths import REPO_ROOT
from harness.pytest_fixtures import ClusterHandle

pytestmark = pytest.mark.e2e

LOWEST = {"pulumi": "3.238.0", "pulumi-kubernetes": "4.18.0"}
HIGHEST = {"pulumi": "3.272.0", "pulumi-kubernetes": "4.34.2"}


def _ranges() -> dict[str, str]:
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[<>=!~ ]", d, maxsplit=1)[0]: d for d in deps}


def test_the_tested_pins_are_the_ends_of_the_declared_ranges() -> None:
    ranges = _ranges()
    for name in ("pulumi", "pulumi-kubernetes"):
        spec = ranges[name]
        assert f">={LOWEST[name]}" in spec, spec
        major = HIGHEST[name].split(".")[0]
        assert f"<{int(major) + 1}" in spec, spec


def _pip(python: Path, *args: str) -> str:
    proc = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip(Path(sys.executable), "wheel", "--no-deps", "-q",
         "-w", str(out), str(REPO_ROOT))
    [built] = list(out.glob("netplumb-*.whl"))
    return built


def test_the_wheel_is_the_public_surface(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "netplumb/py.typed" in names
    assert "netplumb/__init__.py" in names and "netplumb/components/stack.py" in names
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"netplumb"} | {t for t in tops if t.endswith((".dist-info", ".data"))}, tops
    assert not [n for n in names if n.startswith(("harness/", "tests/", "bench/"))]


def _venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return where / "bin" / "python"


def _installed(python: Path) -> dict[str, str]:
    frozen = _pip(python, "list", "--format=freeze")
    pairs = (line.split("==", 1) for line in frozen.splitlines() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def _preview_sriov_example(python: Path, cluster: ClusterHandle, tmp: Path) -> str:
    project = tmp / "project"
    project.mkdir()
    shutil.copy2(REPO_ROOT / "examples" / "sriov_pool" / "__main__.py", project)
    home = Path(tools.env_with_tools()["PULUMI_HOME"])
    [provider] = [d / "pulumi-resource-kubernetes"
                  for d in sorted((home / "plugins").glob("resource-kubernetes-v*"))
                  if d.is_dir()]
    assert provider.is_file(), provider
    text = (REPO_ROOT / "examples" / "sriov_pool" / "Pulumi.yaml").read_text()
    text = text.replace("virtualenv: ../../.venv", f"virtualenv: {python.parent.parent}")
    text += ("plugins:\n  providers:\n    - name: kubernetes\n"
             f"      path: {provider.parent}\n")
    (project / "Pulumi.yaml").write_text(text)
    st = engine.stack("install", work_dir=project, kubeconfig=cluster.kubeconfig,
                      backend=tmp / "backend")
    st.set_all_config({"pf": auto.ConfigValue("ens1f0"), "replicas": auto.ConfigValue("1")})
    try:
        result = st.preview(on_output=engine.printer(), diff=True)
        assert result.change_summary.get(auto.OpType.CREATE, 0) >= 8, result.change_summary
        return result.stdout
    finally:
        st.workspace.remove_stack(st.name)


@pytest.mark.parametrize(("source", "pins"), [("wheel", LOWEST), ("git", HIGHEST)])
def test_a_clean_venv_installs_netplumb_and_previews_an_example(
        source: str, pins: dict[str, str], wheel: Path, cluster: ClusterHandle,
        platform: str, tmp_path: Path) -> None:
    python = _venv(tmp_path / "venv")
    what = str(wheel) if source == "wheel" else (
        f"git+file://{REPO_ROOT}@"
        + subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip())
    _pip(python, "install", "-q", what, *(f"{k}=={v}" for k, v in pins.items()))
    have = _installed(python)
    assert have["netplumb"] and {k: have[k] for k in pins} == pins, have
    # runtime dependencies only: none of the harness' or the tests'
    assert not {"pytest", "hypothesis", "mypy", "ruff", "kubernetes"} & set(have), have
    probe = subprocess.run([str(python), "-c", "import netplumb, netplumb.components; "
                            "import importlib.util as u; "
                            "print(u.find_spec('harness') is None, netplumb.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("True ") and str(tmp_path / "venv") in probe.stdout
    out = _preview_sriov_example(python, cluster, tmp_path)
    assert "intel.com/sriov_storage" in out
