"""The documented lines for deploying an environment (``docs/operations.md``, "##
Environments"), run against the embedded cluster: they put the built ``pulumi`` on PATH,
keep the state in a file backend under ``$HOME`` and preview the ``prod`` stack.

The shell block is run line by line by bash in a copy of the project (the checkout's stack
files and Pulumi state stay untouched) with ``HOME`` in a temp directory, where
``$HOME/.kube/prod.yaml`` is the embedded cluster's kubeconfig and
``$HOME/.config/netplumb/prod.passphrase`` the stack's passphrase. Two lines are not run:
``make engine-tools`` (``make test`` has built the tools) and ``pulumi up --stack prod`` (it
would install Multus and the rest cluster-wide on the shared test cluster, and keep them:
prod retains its cluster-wide objects on destroy).

prod installs Multus and with it the NAD CRD. When that CRD already belongs to another stack
(the embedded cluster's ``platform``, once any test or ``make run`` brought it up; there it
also owns the nodes' Multus, which prod's install names the same way), the preview must stop
naming the owner and both ways out; the test then takes the second way out the message gives
(adopting what it names, which a preview does not act on) and previews again. prod's
``multus.default_network`` is ``auto``: the cluster runs the platform's Flannel, so prod
delegates to it and plans no Flannel of its own.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import engine, tools
from harness.paths import REPO_ROOT, tools_cache_root
from harness.pytest_fixtures import NAD_CRD, ClusterHandle
from netplumb.kube import Kube
from netplumb.ownership import owner_of

pytestmark = pytest.mark.e2e

NOT_RUN = {"make engine-tools": "tools.ensure() instead",
           "pulumi up --stack prod": "shared cluster"}
DOC = REPO_ROOT / "docs" / "operations.md"


def readme_block(heading: str = "## Environments") -> list[str]:
    """The command lines of the first ``sh`` block after ``heading`` (comments dropped)."""
    text = DOC.read_text()
    after = text.split(f"\n{heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, flags=re.S)
    assert block is not None, f"no sh block under {heading}"
    lines = [raw.split("  #", 1)[0].strip() for raw in block.group(1).splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _run(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # `eval "$(...)"` succeeds even when the command inside fails: check what it gave
    checked = [f"{ln}\ncommand -v pulumi >/dev/null" if ln.startswith("eval ") else ln
               for ln in lines]
    script = "set -e\n" + "\n".join(checked) + "\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_readme_lines_preview_prod(cluster: ClusterHandle, tmp_path: Path) -> None:
    lines = readme_block()
    assert [ln for ln in lines if ln in NOT_RUN] == list(NOT_RUN)
    assert lines[-1] == "pulumi up --stack prod" and "pulumi preview --stack prod" in lines
    assert lines[1] == 'eval "$(.venv/bin/python -m harness.tools env)"'
    run = [ln for ln in lines if ln not in NOT_RUN]
    tools.ensure()  # what `make tools` does (a no-op after `make test`'s own)

    project = engine.project_copy(tmp_path / "project")
    (project / ".venv").symlink_to(REPO_ROOT / ".venv")
    (project / "Pulumi.yaml").write_text((project / "Pulumi.yaml").read_text().replace(
        f"virtualenv: {REPO_ROOT / '.venv'}", "virtualenv: .venv"))
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "prod.yaml").write_text(cluster.kubeconfig.read_text())
    (home / ".config" / "netplumb").mkdir(parents=True)
    (home / ".config" / "netplumb" / "prod.passphrase").write_text("not-the-dev-passphrase\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PULUMI_", "KUBECONFIG", "NETPLUMB_STATE"))}
    env["HOME"] = str(home)
    env["NETPLUMB_TOOLS_CACHE"] = str(tools_cache_root())  # it defaults to one under $HOME

    kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", NAD_CRD)
    other = owner_of(crd) if crd is not None else None
    taken = crd is not None and other != "netplumb/prod"
    print(f"NAD CRD: {'owned by ' + str(other) if crd is not None else 'absent'}")

    proc = _run(run, project, env)
    out = proc.stdout + proc.stderr
    # the lines ran with the built pulumi, the temp backend and the stack's own passphrase
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    assert "encryptionsalt" in yaml.safe_load(stack_file.read_text()), out[-2000:]
    assert (home / ".local" / "state" / "netplumb" / "pulumi" / ".pulumi").is_dir()
    assert not (project / ".netplumb" / "pulumi").exists()
    assert "not reachable" not in out and "cluster not read" not in out
    if taken:
        assert proc.returncode != 0, out[-3000:]
        ref = "CustomResourceDefinition/network-attachment-definitions.k8s.cni.cncf.io"
        assert f"managed by netplumb stack {other!r}" in out or \
               "managed by field manager" in out, out[-3000:]
        assert "install_nad_crd: false under it" in out and "cluster_objects.adopt" in out
        # on the embedded cluster the platform stack also owns the nodes' Multus (prod's
        # Multus install has the same names): each is named with the same way out
        # (the adopt hint spells each reference whole; `got "…"` may cut a long one short)
        refs = sorted(set(re.findall(r"cluster_objects\.adopt: \['([^']+)'\]", out))
                      | set(re.findall(r'\(got "([^"]+)"\)', out)) | {ref})
        text = stack_file.read_text().replace(
            "  netplumb:spec:\n",
            f"  netplumb:spec:\n    cluster_objects: {{adopt: [{', '.join(refs)}]}}\n", 1)
        stack_file.write_text(text)
        proc = _run([ln for ln in run if ln != "pulumi stack select --create prod"],
                    project, env)
        out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    created = re.search(r"\+ (\d+) to create", out)
    assert created is not None, out[-3000:]
    print(f"pulumi preview --stack prod: {created.group(1)} resources to create")
    planned = set(re.findall(r"^ \+\s+(\S+) (\S+) create", out, flags=re.M))
    assert {("kubernetes:apps/v1:DaemonSet", "prod-multus-daemonset"),
            ("kubernetes:apps/v1:DaemonSet", "prod-sriov-daemonset"),
            ("kubernetes:apps/v1:StatefulSet", "storage-db-statefulset"),
            ("kubernetes:apps/v1:Deployment", "default-dpdk-app-deployment"),
            ("pulumi-python:dynamic/netplumb:ObjectSet", "prod-networks-storage"),
            } <= planned, sorted(planned)
    # default_network auto: the cluster runs the platform's Flannel, which prod uses
    assert not [r for r in planned if "flannel" in r[1]], sorted(planned)
    assert "default_network auto: the cluster runs Flannel" in out, out[-3000:]
