"""The cluster a Pulumi program deploys to, as the program sees it.

The ownership check (:mod:`netplumb.ownership`) reads live objects before anything
registers. It resolves the cluster the way the default kubernetes provider does
(``kubernetes:kubeconfig`` and ``kubernetes:context`` in the stack config, else
``$KUBECONFIG``, else ``~/.kube/config``). Under Pulumi mocks, or when no cluster can be
reached (an offline preview), nothing is read and a warning says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.runtime import mocks, settings

from ..args.multus import MultusInstallArgs
from ..args.stack import CLUSTER_KEY, cluster_binding
from ..errors import PlanError
from ..kube import Credentials, Kube, KubeConfigError, KubeError, load_credentials
from ..ownership import ObjectRef, Reader
from ..primary import Primary, find

_override: list[Reader | None] = []


def use_reader(reader: Reader | None) -> None:
    """Make :func:`program_reader` return ``reader`` (tests; ``None``: offline)."""
    _override.clear()
    _override.append(reader)


def reset_reader() -> None:
    _override.clear()


def program_kube() -> Kube | None:
    """A client for the program's cluster, or ``None`` (mocks, no kubeconfig, unreachable)."""
    if isinstance(settings.SETTINGS.monitor, mocks.MockMonitor):
        return None
    cfg = pulumi.Config("kubernetes")
    try:
        kube = Kube.from_kubeconfig(cfg.get("kubeconfig"), cfg.get("context"), timeout=10.0)
    except KubeConfigError as exc:
        pulumi.log.warn(f"netplumb: cluster not read ({exc}); ownership of cluster-wide "
                        "objects is not checked")
        return None
    if not kube.reachable():
        pulumi.log.warn(f"netplumb: cluster {kube.creds.server} not reachable; ownership of "
                        "cluster-wide objects is not checked")
        return None
    return kube


def reader_for(kube: Kube) -> Reader:
    """A caching :data:`Reader` on ``kube`` (each object is read once per program run)."""
    cache: dict[ObjectRef, Mapping[str, Any] | None] = {}

    def read(ref: ObjectRef) -> Mapping[str, Any] | None:
        if ref not in cache:
            try:
                cache[ref] = kube.get(ref.api_version, ref.kind, ref.name, ref.namespace)
            except KubeError as exc:
                raise KubeError(exc.status, exc.reason,
                                f"reading {ref.key} to check its owner: {exc.message}") from None
        return cache[ref]

    return read


_program_reader: list[Reader | None] = []


def program_reader() -> Reader | None:
    """The reader the ownership check uses in this program (resolved once)."""
    if _override:
        return _override[0]
    if not _program_reader:
        kube = _kube_once()
        _program_reader.append(reader_for(kube) if kube is not None else None)
    return _program_reader[0]


_live: dict[tuple[str, str, str], dict[str, dict[str, Any]] | None] = {}


def program_live(api_version: str, kind: str, selector: str
                 ) -> dict[str, dict[str, Any]] | None:
    """Live objects of a kind matching ``selector`` by ``ObjectRef.key`` (one list per kind
    and program run), or ``None`` when the cluster is not read (mocks, offline)."""
    if _override:
        return None
    key = (api_version, kind, selector)
    if key not in _live:
        kube = _kube_once()
        if kube is None:
            _live[key] = None
        else:
            from ..objectset import object_key

            _live[key] = {object_key(o): o for o in kube.iter_list(api_version, kind,
                                                                   label_selector=selector)}
    return _live[key]


_kube: list[Kube | None] = []


def _kube_once() -> Kube | None:
    if not _kube:
        _kube.append(program_kube())
    return _kube[0]


def _same_server(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url.strip().rstrip("/").lower()
        return url if url.count(":") >= 2 or not url.startswith("https://") else f"{url}:443"
    return norm(a) == norm(b)


def check_binding(bound: Any, creds: Credentials | None) -> None:
    """Refuse a cluster the stack is not for. ``bound``: the ``netplumb:cluster`` config value;
    ``creds``: the program's cluster (``None``: no kubeconfig resolves)."""
    names = cluster_binding(bound)
    if not names:
        return
    want = ", ".join(repr(n) for n in names)
    if creds is None:
        raise PlanError.one(f"config.{CLUSTER_KEY}", bound,
                            f"this stack is for {want}, but no cluster is configured "
                            "(kubernetes:kubeconfig, KUBECONFIG or ~/.kube/config)")
    for name in names:
        if name in (creds.context, creds.cluster_name) or _same_server(name, creds.server):
            return
    raise PlanError.one(
        f"config.{CLUSTER_KEY}", bound,
        f"this stack is for {want}, but the program's cluster is context {creds.context!r} "
        f"(cluster {creds.cluster_name!r}, server {creds.server}, kubeconfig {creds.source}); "
        "refusing to deploy there. Point kubernetes:kubeconfig/kubernetes:context (or "
        f"KUBECONFIG) at the stack's cluster, or add this one to {CLUSTER_KEY}")


def require_cluster(bound: Any) -> None:
    """:func:`check_binding` against the cluster this Pulumi program deploys to, resolved as
    the default kubernetes provider does. Nothing is checked under Pulumi mocks beyond the
    value's shape; the kubeconfig is only read, the cluster is not contacted."""
    if isinstance(settings.SETTINGS.monitor, mocks.MockMonitor):
        cluster_binding(bound)
        return
    cfg = pulumi.Config("kubernetes")
    try:
        creds: Credentials | None = load_credentials(cfg.get("kubeconfig"), cfg.get("context"))
    except KubeConfigError:
        creds = None
    check_binding(bound, creds)


_daemonsets: list[list[dict[str, Any]] | None] = []


def use_daemonsets(items: list[dict[str, Any]] | None) -> None:
    """Make :func:`program_daemonsets` return ``items`` (tests; ``None``: unreadable)."""
    _daemonsets.clear()
    _daemonsets.append(items)


def reset_daemonsets() -> None:
    _daemonsets.clear()


def program_daemonsets() -> list[dict[str, Any]] | None:
    """Every DaemonSet of the program's cluster (one list per program run); under Pulumi
    mocks a new, empty cluster's (none); ``None`` when the cluster cannot be read."""
    if _daemonsets:
        return _daemonsets[0]
    if isinstance(settings.SETTINGS.monitor, mocks.MockMonitor):
        return []
    kube = _kube_once()
    if kube is None:
        _daemonsets.append(None)
    else:
        try:
            _daemonsets.append(list(kube.iter_list("apps/v1", "DaemonSet")))
        except (KubeError, OSError):
            _daemonsets.append(None)
    return _daemonsets[0]


def resolve_default_network(args: MultusInstallArgs, at: str,
                            owner: str) -> MultusInstallArgs:
    """``multus.default_network: auto`` decided against the cluster: the default network it
    already runs (no Flannel then), else Flannel. A cluster that cannot be read is a plan
    error naming the two explicit choices."""
    if args.default_network != "auto":
        return args
    found = program_daemonsets()
    if found is None:
        raise PlanError.one(
            f"{at}.default_network", "auto",
            "cannot tell which default network the cluster runs (it could not be read: see "
            "the warning above); expected default_network: flannel (install Flannel) or "
            "none (the cluster has its own)")
    running: list[Primary] = find(found)
    others = [p for p in running if p.owner != owner]
    resolved = args.resolved(bool(others))
    if others:
        unused = " (the flannel options are not used)" if "flannel" in args.model_fields_set \
            else ""
        pulumi.log.info(f"netplumb: {at}.default_network auto: the cluster runs "
                        f"{', '.join(p.describe() for p in others)}; Multus delegates to it "
                        f"and no Flannel is installed{unused}")
    else:
        pulumi.log.info(f"netplumb: {at}.default_network auto: "
                        + ("this stack's Flannel runs; it stays" if running else
                           "the cluster runs no default network; Flannel is installed"))
    return resolved
