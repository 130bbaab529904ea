"""``make run [STACK=dev]``: bootstrap, start the embedded cluster (unless KUBECONFIG is set),
``pulumi up`` the platform stack (cluster-wide objects) and then the chosen stack, verify its
attachments with ``netplumb verify`` (Kubernetes API only), print a summary.

A stack that installs cluster-wide objects itself (``multus:`` or ``install_nad_crd``, like
``prod``) is its cluster's platform: the ``platform`` stack is not brought up before it. Where
the nodes run no containers (the embedded node agent), verify's probe pods cannot ping; there
the data path is checked from the node's pod namespaces instead (:mod:`harness.verify`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from netplumb.args.stack import load_stack_file
from netplumb.kube import Kube
from netplumb.ops.verify import VerifyReport, format_text, verify
from netplumb.plan import build_plan

from . import engine, tools
from . import verify as netns_verify
from .paths import REPO_ROOT, pulumi_backend_dir

PLATFORM = "platform"
"""The stack that owns the cluster-wide objects; brought up before any team stack."""


def _say(t0: float, msg: str) -> None:
    print(f"[run +{time.monotonic() - t0:5.1f}s] {msg}", flush=True)


def main(argv: list[str] | None = None, *, work_dir: Path = REPO_ROOT) -> int:
    """``work_dir``: the Pulumi project (tests pass a copy, so the checkout stays as it is)."""
    args = list(sys.argv[1:] if argv is None else argv)
    stack_name = args[0] if args else "dev"
    t0 = time.monotonic()
    _say(t0, "toolchain")
    tools.ensure()
    external = os.environ.get("KUBECONFIG")
    kubeconfig: Path
    if external:
        kubeconfig = Path(external)
        _say(t0, f"using the cluster of KUBECONFIG={kubeconfig}")
    else:
        from . import cluster

        _say(t0, "starting the embedded cluster")
        podnet = os.environ.get("NETPLUMB_PODNET", "multus")
        info = cluster.up(podnet=podnet, progress=lambda m: _say(t0, f"  {m}"))
        kubeconfig = info.kubeconfig
        _say(t0, f"cluster ready; kubeconfig: {kubeconfig}")
    stack_path = work_dir / "stacks" / f"Pulumi.{stack_name}.yaml"
    spec = load_stack_file(stack_path)
    own_platform = spec.multus is not None or spec.install_nad_crd
    order = [PLATFORM, stack_name] if stack_name != PLATFORM else [PLATFORM]
    if (external or own_platform) and PLATFORM in order and stack_name != PLATFORM:
        order.remove(PLATFORM)  # a real cluster's platform is its owners' business
    for name in order:
        _say(t0, f"pulumi up --stack {name} (backend {pulumi_backend_dir()})")
        st = engine.stack(name, work_dir=work_dir, kubeconfig=kubeconfig)
        result = st.up(on_output=engine.printer("    "))
        changes = result.summary.resource_changes or {}
        _say(t0, "deployed: " + ", ".join(f"{k} {v}" for k, v in sorted(changes.items())))
        for key, out in result.outputs.items():
            _say(t0, f"  output {key} = {out.value}")
    verified = _verify(kubeconfig, stack_name, stack_path, t0)
    print(f"\nnetplumb: stack {stack_name} is up ({time.monotonic() - t0:.1f}s)")
    print(f"  kubeconfig   {kubeconfig}")
    print(f"  state        {pulumi_backend_dir()} (passphrase: {engine.DEV_PASSPHRASE})")
    print("  tear down    make cluster-down")
    return 0 if verified else 1


def _verify(kubeconfig: Path, stack_name: str, stack_path: Path, t0: float) -> bool:
    """``netplumb verify`` of the stack; where its nodes are the embedded node agent (which
    runs no containers for probe pods, and whose pod namespaces are on this host), also the
    data path from the pods' namespaces (interfaces, addresses, default routes, pings)."""
    _say(t0, f"netplumb verify {stack_name}")
    report = verify(Kube.from_kubeconfig(str(kubeconfig)), stack_name,
                    build_plan(load_stack_file(stack_path)))
    print(format_text(report), end="", flush=True)
    ok = report.ok
    if _probes_cannot_run(report) and os.environ.get("NETPLUMB_PODNET", "multus") == "multus":
        _say(t0, "probes cannot run on the embedded node agent: pinging from the pods' "
                 "network namespaces instead")
        good, total = netns_verify.verify_attachments(kubeconfig)
        print(f"netplumb: verified {good}/{total} attachments")
        ok = ok and good == total
    return ok


def _probes_cannot_run(report: VerifyReport) -> bool:
    return any(n.probe is not None and n.probe.state == "skipped"
               and n.probe.reason.startswith("no node runs containers")
               for n in report.networks)


if __name__ == "__main__":
    raise SystemExit(main())
