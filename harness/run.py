"""``make run``: bootstrap, start the embedded cluster (unless KUBECONFIG is set),
``pulumi up`` the platform stack (cluster-wide objects) and then the dev stack, verify the
attachments, print a summary."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from . import engine, tools, verify
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
    order = [PLATFORM, stack_name] if stack_name != PLATFORM else [PLATFORM]
    if external and PLATFORM in order and stack_name != PLATFORM:
        order.remove(PLATFORM)  # a real cluster's platform is its owners' business
    for name in order:
        _say(t0, f"pulumi up --stack {name} (backend {pulumi_backend_dir()})")
        st = engine.stack(name, work_dir=work_dir, kubeconfig=kubeconfig)
        result = st.up(on_output=engine.printer("    "))
        changes = result.summary.resource_changes or {}
        _say(t0, "deployed: " + ", ".join(f"{k} {v}" for k, v in sorted(changes.items())))
        for key, out in result.outputs.items():
            _say(t0, f"  output {key} = {out.value}")
    verified = _verify(kubeconfig, t0)
    print(f"\nnetplumb: stack {stack_name} is up ({time.monotonic() - t0:.1f}s)")
    print(f"  kubeconfig   {kubeconfig}")
    print(f"  state        {pulumi_backend_dir()} (passphrase: {engine.DEV_PASSPHRASE})")
    print("  tear down    .venv/bin/netplumb cluster down")
    return 0 if verified else 1


def _verify(kubeconfig: Path, t0: float) -> bool:
    """Data-path check of every attachment: interfaces, addresses, default routes, pings."""
    ok, total = verify.verify_attachments(kubeconfig)
    print(f"netplumb: verified {ok}/{total} attachments")
    return bool(ok == total)


if __name__ == "__main__":
    raise SystemExit(main())
