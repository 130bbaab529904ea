"""``make run [STACK=dev] [TARGET=current-context]``: bootstrap, start the embedded cluster
and its node (unless the command targets another cluster: :mod:`harness.target`; an exported
``KUBECONFIG`` alone is ignored, saying so), make the underlay links the stacks' NADs name,
``pulumi up`` the platform stack (cluster-wide objects; on the embedded cluster also the
node's network: Flannel and Multus thick) and then the chosen stack, verify its attachments,
print a summary.

A stack that installs cluster-wide objects itself (``multus:`` or ``install_nad_crd``, like
``prod``) is its cluster's platform: the ``platform`` stack is not brought up before it.
Verification is ``netplumb verify`` (Kubernetes API only; its probe pods ping across every
network) and, on the embedded node, also a look into each pod's network namespace
(interfaces, addresses, requested default routes, pings: :mod:`harness.datapath`).

An interrupted earlier ``pulumi up`` (killed half way, say) is cleared first
(:func:`harness.engine.clear_interrupted`), so ``make run`` converges with no manual step.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from netplumb.args.stack import config_env_finding, load_stack_file, read_stack_document
from netplumb.kube import Kube
from netplumb.ops.verify import format_text, verify
from netplumb.plan import build_plan

from . import datapath, engine, podnetwork, target, tools
from .paths import REPO_ROOT, pulumi_backend_dir

PLATFORM = "platform"
"""The stack that owns the cluster-wide objects; brought up before any team stack."""


def _say(t0: float, msg: str) -> None:
    print(f"[run +{time.monotonic() - t0:5.1f}s] {msg}", flush=True)


def main(argv: list[str] | None = None, *, work_dir: Path = REPO_ROOT,
         backend: Path | None = None, cluster_dir: Path | None = None) -> int:
    """``work_dir``: the Pulumi project; ``backend``: its Pulumi file backend (default
    ``.netplumb/pulumi``); ``cluster_dir``: the embedded cluster's directory (tests pass a
    project copy, their own backend and the session's cluster)."""
    args = list(sys.argv[1:] if argv is None else argv)
    stack_name = args[0] if args else "dev"
    backend = backend or pulumi_backend_dir()
    t0 = time.monotonic()
    try:
        where = target.resolve()
    except target.TargetError as exc:
        print(f"netplumb: {exc}", file=sys.stderr)
        return 2
    target.ignore_exported_kubeconfig(where, lambda m: _say(t0, m))
    if where.external:
        _say(t0, f"TARGET=current-context: acting on {where.describe()}")
    _say(t0, "toolchain")
    tools.ensure()
    stack_path = work_dir / "stacks" / f"Pulumi.{stack_name}.yaml"
    spec = load_stack_file(stack_path)
    too_large = config_env_finding(read_stack_document(stack_path))
    if too_large is not None:  # the engine would fail before the program starts
        print(f"netplumb: {stack_path}: {too_large}", file=sys.stderr)
        return 2
    own_platform = spec.multus is not None or spec.install_nad_crd
    external = where.kubeconfig if where.external else None
    order = [PLATFORM, stack_name] if stack_name != PLATFORM else [PLATFORM]
    if (external or own_platform) and PLATFORM in order and stack_name != PLATFORM:
        order.remove(PLATFORM)  # a real cluster's platform is its owners' business
    kubeconfig: Path
    embedded_node = False
    if external:
        kubeconfig = external
    else:
        from . import cluster, node

        _say(t0, "starting the embedded cluster")
        info = cluster.up(cluster_dir, progress=lambda m: _say(t0, f"  {m}"))
        kubeconfig = info.kubeconfig
        _say(t0, f"cluster ready; kubeconfig: {kubeconfig}")
        embedded_node = info.node
        if info.node:
            links = [li for name in order
                     for li in podnetwork.stack_links(work_dir / "stacks" / f"Pulumi.{name}.yaml")]
            made = node.ensure_underlay(cluster.layout(cluster_dir), links)
            _say(t0, "underlay links for the stacks' NADs: "
                     f"{', '.join(sorted({li.name for li in links})) or 'none'}"
                     + (f" (made {', '.join(made)})" if made else ""))
    for name in order:
        _say(t0, f"pulumi up --stack {name} (backend {backend})")
        st = engine.stack(name, work_dir=work_dir, kubeconfig=kubeconfig, backend=backend)
        result = engine.up(st, backend, on_output=engine.printer("    "),
                           say=lambda m: _say(t0, m))
        changes = result.summary.resource_changes or {}
        _say(t0, "deployed: " + ", ".join(f"{k} {v}" for k, v in sorted(changes.items())))
        for key, out in result.outputs.items():
            _say(t0, f"  output {key} = {out.value}")
    verified = _verify(kubeconfig, stack_name, stack_path, embedded_node, t0)
    print(f"\nnetplumb: stack {stack_name} is up ({time.monotonic() - t0:.1f}s)")
    print(f"  kubeconfig   {kubeconfig}")
    print(f"  state        {backend} (passphrase: {engine.DEV_PASSPHRASE})")
    print("  tear down    make cluster-down")
    return 0 if verified else 1


def _verify(kubeconfig: Path, stack_name: str, stack_path: Path, embedded_node: bool,
            t0: float) -> bool:
    """``netplumb verify`` of the stack and, on the embedded node (whose pods' network
    namespaces are on this host), the data path seen from inside each pod."""
    _say(t0, f"netplumb verify {stack_name}")
    report = verify(Kube.from_kubeconfig(str(kubeconfig)), stack_name,
                    build_plan(load_stack_file(stack_path)))
    print(format_text(report), end="", flush=True)
    ok = report.ok
    if embedded_node:
        _say(t0, "the pods' network namespaces on the node: interfaces, addresses, "
                 "default routes, pings")
        good, total = datapath.verify_attachments(kubeconfig)
        print(f"netplumb: verified {good}/{total} attachments")
        ok = ok and good == total
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
