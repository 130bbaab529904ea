"""``make run``: bootstrap, start the embedded cluster and its node (unless KUBECONFIG is set),
make the underlay links the stack's NADs name, ``pulumi up`` the dev stack (which installs
Flannel and Multus thick on the node), verify every attachment, print a summary.

An interrupted earlier ``pulumi up`` (killed half way, say) is cleared first
(:func:`harness.engine.clear_interrupted`), so ``make run`` converges with no manual step.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from . import engine, platform, tools, verify
from .paths import REPO_ROOT, pulumi_backend_dir


def _say(t0: float, msg: str) -> None:
    print(f"[run +{time.monotonic() - t0:5.1f}s] {msg}", flush=True)


def main(argv: list[str] | None = None, *, work_dir: Path = REPO_ROOT,
         backend: Path | None = None, cluster_dir: Path | None = None) -> int:
    """``work_dir``: the Pulumi project; ``backend``: its Pulumi file backend (default
    ``.netplumb/pulumi``); ``cluster_dir``: the embedded cluster's directory (tests pass
    their own backend and the session's cluster)."""
    args = list(sys.argv[1:] if argv is None else argv)
    stack_name = args[0] if args else "dev"
    t0 = time.monotonic()
    _say(t0, "toolchain")
    tools.ensure()
    stack_file = work_dir / "stacks" / f"Pulumi.{stack_name}.yaml"
    external = os.environ.get("KUBECONFIG")
    kubeconfig: Path
    if external:
        kubeconfig = Path(external)
        _say(t0, f"using the cluster of KUBECONFIG={kubeconfig}")
    else:
        from . import cluster, node

        _say(t0, "starting the embedded cluster")
        info = cluster.up(cluster_dir, progress=lambda m: _say(t0, f"  {m}"))
        kubeconfig = info.kubeconfig
        _say(t0, f"cluster ready; kubeconfig: {kubeconfig}")
        if info.node:
            links = platform.stack_links(stack_file)
            made = node.ensure_underlay(cluster.layout(cluster_dir), links)
            _say(t0, f"underlay links for the stack's NADs: "
                     f"{', '.join(li.name for li in links) or 'none'}"
                     + (f" (made {', '.join(made)})" if made else ""))
    backend = backend or pulumi_backend_dir()
    _say(t0, f"pulumi up --stack {stack_name} (backend {backend})")
    st = engine.stack(stack_name, work_dir=work_dir, kubeconfig=kubeconfig, backend=backend)
    result = engine.up(st, backend, on_output=engine.printer("    "),
                       say=lambda m: _say(t0, m))
    changes = result.summary.resource_changes or {}
    _say(t0, "deployed: " + ", ".join(f"{k} {v}" for k, v in sorted(changes.items())))
    for key, out in result.outputs.items():
        _say(t0, f"  output {key} = {out.value}")
    verified = _verify(kubeconfig, t0)
    print(f"\nnetplumb: stack {stack_name} is up ({time.monotonic() - t0:.1f}s)")
    print(f"  kubeconfig   {kubeconfig}")
    print(f"  state        {backend} (passphrase: {engine.DEV_PASSPHRASE})")
    print("  tear down    .venv/bin/netplumb cluster down")
    return 0 if verified else 1


def _verify(kubeconfig: Path, t0: float) -> bool:
    """Data-path check of every attachment: interfaces, addresses, default routes, pings."""
    ok, total = verify.verify_attachments(kubeconfig)
    print(f"netplumb: verified {ok}/{total} attachments")
    return bool(ok == total)


if __name__ == "__main__":
    raise SystemExit(main())
