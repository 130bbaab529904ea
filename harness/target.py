"""Which cluster ``make run`` and ``make test`` act on: the embedded one unless the command
itself says otherwise.

``NETPLUMB_TARGET`` (``make run TARGET=...``, ``make test-cluster``):

* unset or ``embedded``: the harness' embedded cluster (or kind with ``NETPLUMB_CLUSTER=kind``).
  An exported ``KUBECONFIG`` is ignored, and one line says so: most people have it exported,
  often at a production cluster, and nothing here acts on it by surprise.
* ``current-context``: the current context of ``KUBECONFIG`` (else ``~/.kube/config``), named
  with its server before anything acts on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# duplicates: intended: constants, an error type and a record, alike in shape only to
# node/images.py's.
ENV = "NETPLUMB_TARGET"
EMBEDDED = "embedded"
CURRENT = "current-context"


class TargetError(ValueError):
    """``NETPLUMB_TARGET`` names no usable cluster."""


@dataclass(frozen=True)
class Target:
    kind: Literal["embedded", "kind", "external"]
    kubeconfig: Path | None = None
    """The kubeconfig file of an external target."""
    context: str = ""
    server: str = ""

    @property
    def external(self) -> bool:
        return self.kind == "external"

    def describe(self) -> str:
        if self.kind == "external":
            return (f"context {self.context!r}, server {self.server} "
                    f"(kubeconfig {self.kubeconfig})")
        return "the kind cluster" if self.kind == "kind" else "the embedded cluster"


def resolve(env: MutableMapping[str, str] | None = None) -> Target:
    """The target ``env`` (default ``os.environ``) asks for."""
    env = os.environ if env is None else env
    value = env.get(ENV, "").strip() or EMBEDDED
    if value == EMBEDDED:
        return Target("kind" if env.get("NETPLUMB_CLUSTER") == "kind" else "embedded")
    if value != CURRENT:
        raise TargetError(f"{ENV}={value!r}: expected {EMBEDDED!r} (the default) or "
                          f"{CURRENT!r} (the current context of KUBECONFIG)")
    from netplumb.kube import KubeConfigError, load_credentials

    paths = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if len(paths) > 1:
        raise TargetError(f"{ENV}={CURRENT} takes a KUBECONFIG of one file (got "
                          f"{len(paths)}: {env['KUBECONFIG']}); `kubectl config view --flatten` "
                          "merges them into one")
    kubeconfig = Path(paths[0]).expanduser() if paths else Path.home() / ".kube" / "config"
    try:
        creds = load_credentials(str(kubeconfig))
    except KubeConfigError as exc:
        raise TargetError(f"{ENV}={CURRENT}: {exc}") from None
    return Target("external", kubeconfig=kubeconfig, context=creds.context, server=creds.server)


def ignore_exported_kubeconfig(target: Target, say: Callable[[str], None],
                               env: MutableMapping[str, str] | None = None) -> None:
    """For the embedded (or kind) target, drop an exported ``KUBECONFIG`` from ``env`` (so
    nothing started from here reads it), saying so in one line."""
    env = os.environ if env is None else env
    if target.external or not env.get("KUBECONFIG"):
        return
    say(f"ignoring the exported KUBECONFIG={env['KUBECONFIG']}: this uses "
        f"{target.describe()} (TARGET=current-context to act on that cluster instead)")
    del env["KUBECONFIG"]
