"""netplumb's own API client (:mod:`netplumb.kube`) against the official ``kubernetes`` Python
client, side by side in one run, on what netplumb's object sets do with NADs: server-side
apply of each (create, then the same again: a no-op), one list of them all, a delete of
each.

Both clients get the same rendered NADs (bridge, one address each, as ``engine_scale``'s), the
same number of parallel requests (the object sets' ``NETPLUMB_APPLY_WORKERS``, 8) and a
namespace each, made and removed by this script; the official client's connection pool is
raised to the worker count, so that neither waits on its own pool. The order alternates per
size (ours first at the first size, theirs at the next), so that neither always meets a
warmer apiserver.

Run (the tool cache built; the embedded cluster is started when needed, or ``KUBECONFIG``):

    .venv/bin/python bench/kube_client.py [--sizes 1000 5000]

It prints one table: seconds per operation for each client and the ratio ours/theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import harness.node  # noqa: F401 (cluster.up runs the nodes through it)
from harness import cluster, engine
from netplumb.kube import Kube
from netplumb.objectset import WORKERS

OPS = ("apply", "apply again", "list", "delete")
GROUP, VERSION, PLURAL = "k8s.cni.cncf.io", "v1", "network-attachment-definitions"
MANAGER = "netplumb-bench"


def nads(count: int, namespace: str) -> list[dict[str, Any]]:
    """``count`` bridge NADs in ``namespace``, one address each, in 198.18.0.0/15."""
    out = []
    for i in range(count):
        third, fourth = divmod(i, 250)
        net = f"198.{18 + third // 256}.{third % 256}"
        config = json.dumps({"cniVersion": "1.0.0", "name": f"kc-{i:05d}", "type": "bridge",
                             "bridge": "np-kc0", "ipam": {
                                 "type": "host-local", "subnet": f"{net}.0/24",
                                 "rangeStart": f"{net}.{fourth + 2}",
                                 "rangeEnd": f"{net}.{fourth + 2}"}})
        out.append({"apiVersion": f"{GROUP}/{VERSION}", "kind": "NetworkAttachmentDefinition",
                    "metadata": {"name": f"kc-{i:05d}", "namespace": namespace},
                    "spec": {"config": config}})
    return out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def each(items: list[dict[str, Any]], fn: Callable[[dict[str, Any]], object]) -> None:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in pool.map(fn, items):
            pass


def run_ours(kube: Kube, manifests: list[dict[str, Any]], namespace: str) -> dict[str, float]:
    def apply(m: Mapping[str, Any]) -> object:
        return kube.apply(m, field_manager=MANAGER)

    def delete(m: Mapping[str, Any]) -> object:
        return kube.delete(m["apiVersion"], m["kind"], m["metadata"]["name"], namespace)

    out = {"apply": timed(lambda: each(manifests, apply)),
           "apply again": timed(lambda: each(manifests, apply))}
    listed: list[Any] = []
    out["list"] = timed(lambda: listed.extend(
        kube.list(f"{GROUP}/{VERSION}", "NetworkAttachmentDefinition", namespace=namespace)))
    assert len(listed) == len(manifests), (len(listed), len(manifests))
    out["delete"] = timed(lambda: each(manifests, delete))
    return out


def run_theirs(kubeconfig: Path, manifests: list[dict[str, Any]], namespace: str
               ) -> dict[str, float]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig))
    api_client.configuration.connection_pool_maxsize = WORKERS
    api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = WORKERS
    custom = client.CustomObjectsApi(api_client)

    def apply(m: dict[str, Any]) -> object:
        return custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, m["metadata"]["name"], m,
            field_manager=MANAGER, force=True, _content_type="application/apply-patch+yaml")

    def delete(m: dict[str, Any]) -> object:
        return custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                      m["metadata"]["name"])

    out = {"apply": timed(lambda: each(manifests, apply)),
           "apply again": timed(lambda: each(manifests, apply))}
    listed: list[Any] = []
    out["list"] = timed(lambda: listed.append(
        custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)))
    items = listed[0]["items"]
    assert len(items) == len(manifests), (len(items), len(manifests))
    out["delete"] = timed(lambda: each(manifests, delete))
    api_client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = ap.parse_args(argv)
    kubeconfig = Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else (
        cluster.up(progress=lambda m: print(f"[cluster] {m}", flush=True)).kubeconfig)
    engine.stack("platform", kubeconfig=kubeconfig).up()  # the NAD CRD
    kube = Kube.from_kubeconfig(str(kubeconfig))
    spaces = {"netplumb.kube": "np-bench-ours", "kubernetes": "np-bench-theirs"}
    for ns in spaces.values():
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                   field_manager=MANAGER)
    results: dict[int, dict[str, dict[str, float]]] = {}
    try:
        for k, n in enumerate(args.sizes):
            order = list(spaces) if k % 2 == 0 else list(reversed(spaces))
            results[n] = {}
            for who in order:
                ns = spaces[who]
                print(f"[{n} NADs] {who} ...", flush=True)
                manifests = nads(n, ns)
                results[n][who] = (run_ours(kube, manifests, ns) if who == "netplumb.kube"
                                   else run_theirs(kubeconfig, manifests, ns))
    finally:
        for ns in spaces.values():
            kube.delete("v1", "Namespace", ns)
    print(f"\n{WORKERS} parallel requests each; seconds, and netplumb.kube / kubernetes")
    print("NADs   | " + " | ".join(f"{op:>24}" for op in OPS))
    print("       | " + " | ".join(f"{'netplumb  kubernetes  x':>24}" for _ in OPS))
    for n, r in results.items():
        cells = []
        for op in OPS:
            ours, theirs = r["netplumb.kube"][op], r["kubernetes"][op]
            cells.append(f"{ours:8.2f} {theirs:10.2f} {ours / theirs:4.2f}")
        print(f"{n:6d} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
