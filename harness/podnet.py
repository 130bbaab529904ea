"""The embedded node's pod network: a network namespace per pod, CNI ADD/DEL through real Multus.

:class:`MultusPodNetwork` implements :class:`harness.node.PodNetwork` the way a kubelet with a
CRI runtime and Multus (thin plugin) does it:

* per pod a real network namespace ``np-<first 12 hex digits of the pod UID>`` with ``lo`` up;
* a stable sandbox id (``sha256("netplumb-sandbox/" + uid)``, 64 hex digits like containerd's)
  used for ADD and for DEL, so Multus finds its delegate cache on DEL;
* the real ``multus`` binary is executed with ``CNI_COMMAND``/``CNI_CONTAINERID``/``CNI_NETNS``/
  ``CNI_IFNAME=eth0``/``CNI_PATH`` and ``CNI_ARGS`` carrying the pod's namespace, name, UID and
  the sandbox id, and a Multus config with the node's kubeconfig: Multus reads the pod's
  ``k8s.v1.cni.cncf.io/networks`` annotation and the NADs from the apiserver, runs the delegates
  and writes ``k8s.v1.cni.cncf.io/network-status`` itself;
* the cluster network (Multus' ``clusterNetwork``, Flannel's part on a real node) is a host
  bridge ``np-cluster0`` with the gateway address and the bridge plugin + host-local IPAM in
  198.51.100.0/24 (a documentation range); no masquerading, ``ip_forward`` untouched;
* before ADD, the underlay links the pod's NADs name (``master``/``bridge``/``device``) are made
  by :mod:`harness.underlay`;
* the pod's IPs are the ADD result's ``eth0`` addresses (the cluster network), primary first.

Not done, on purpose: NADs with the ``k8s.v1.cni.cncf.io/resourceName`` annotation get nothing
special. Multus asks the kubelet's pod-resources socket for device ids there; there is no kubelet
here, so such a pod's ADD fails with Multus' own error (surfacing as a pod event).

State (all below ``ctx.state_dir``, i.e. ``<cluster_dir>/node/<node>/``)::

    multus.conf                the Multus config given to every ADD/DEL (for humans)
    net.d/np-cluster.conflist  the cluster network (Multus' clusterNetwork is this directory)
    multus/net.d/              Multus confDir (empty: NADs come from the apiserver)
    multus/cache/              Multus cniDir: delegate cache per sandbox, libcni result cache
    multus/multus.log          Multus' log
    ipam/                      host-local dataDir of the cluster network
    cni-bin/                   symlinks to multus and the CNI plugins (binDir, CNI_PATH)
    sandboxes/<uid>.json       one record per pod: names, sandbox id, netns, IPs (restart safety)

Restart safety: records are written before ADD; :meth:`MultusPodNetwork.gc` (called by the node
agent once at start, with the pods that still exist) DELs and removes every sandbox whose pod is
gone, every ``np-<12 hex>`` namespace without a record, every Multus cache entry without a
record and every cluster-network reservation without a record; ``setup`` of a pod already set up
returns its recorded IPs.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness import underlay
from harness.node import Api, ApiError, Pod, PodNetworkContext, PodNetworkError
from netplumb.cni.selection import NETWORKS_ANNOTATION

log = logging.getLogger("netplumb.podnet")

NETNS_PREFIX = "np-"
NETNS_RE = re.compile(r"^np-[0-9a-f]{12}$")
NETNS_DIR = Path("/run/netns")
IFNAME = "eth0"
CLUSTER_BRIDGE = "np-cluster0"
CLUSTER_SUBNET = "198.51.100.0/24"
CLUSTER_NETWORK_NAME = "np-cluster"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions/{name}"
CNI_BINARIES = (
    "multus", "macvlan", "ipvlan", "bridge", "host-device", "vlan", "ptp", "loopback",
    "host-local", "static", "dhcp", "tuning", "portmap", "bandwidth", "sbr",
)
DEL_ATTEMPTS = 3
"""After this many failed DELs of one sandbox, teardown forces the namespace away."""


def sandbox_id(uid: str) -> str:
    """The pod's stable sandbox (container) id: same for ADD and DEL, across restarts."""
    return hashlib.sha256(f"netplumb-sandbox/{uid}".encode()).hexdigest()


def netns_name(uid: str) -> str:
    """The pod's network namespace name: ``np-`` + the first 12 hex digits of its UID."""
    return NETNS_PREFIX + uid.replace("-", "").lower()[:12]


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def list_netns() -> list[str]:
    """Every named network namespace (``ip netns list``)."""
    return [str(n["name"]) for n in underlay.ip_json("netns", "list")]


def list_pod_netns() -> list[str]:
    """The pod namespaces on this host (``np-<12 hex>``), whoever made them."""
    return [n for n in list_netns() if NETNS_RE.match(n)]


def delete_netns(name: str) -> bool:
    """``ip netns del`` if it exists; True if it was deleted."""
    if not netns_path(name).exists() and name not in list_netns():
        return False
    try:
        underlay.ip("netns", "del", name)
    except underlay.IpError as e:
        if not netns_path(name).exists():
            return False
        raise PodNetworkError(f"cannot delete network namespace {name}: {e}") from e
    return True


def parse_network_selections(annotation: str, default_namespace: str) -> list[tuple[str, str]]:
    """``(namespace, name)`` of each NAD a ``k8s.v1.cni.cncf.io/networks`` value selects.

    Accepts both forms Multus does: a JSON list of selection objects, or a comma-separated
    ``[namespace/]name[@interface]`` list. Unparseable input gives ``[]`` (Multus reports it).
    """
    text = annotation.strip()
    if not text:
        return []
    out: list[tuple[str, str]] = []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            return []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                out.append((str(item.get("namespace") or default_namespace), str(item["name"])))
        return out
    for part in text.split(","):
        ref = part.strip().split("@", 1)[0]
        if not ref:
            continue
        ns, _, name = ref.rpartition("/")
        out.append((ns or default_namespace, name))
    return out


def eth0_ips(result: Mapping[str, Any], ifname: str = IFNAME) -> list[str]:
    """The addresses (without prefix length) a CNI result gives the pod's ``ifname``."""
    interfaces = result.get("interfaces") or []
    ips: list[str] = []
    for entry in result.get("ips") or []:
        idx = entry.get("interface")
        if isinstance(idx, int) and 0 <= idx < len(interfaces):
            iface = interfaces[idx]
            if iface.get("name") != ifname or not iface.get("sandbox"):
                continue
        addr = str(entry.get("address", ""))
        if addr:
            ips.append(str(ipaddress.ip_interface(addr).ip))
    return ips


class CniError(PodNetworkError):
    """A CNI plugin (here: Multus) failed; ``code``/``msg``/``details`` from its error JSON."""

    def __init__(self, command: str, code: int, msg: str, details: str = "") -> None:
        self.command, self.code, self.msg, self.details = command, code, msg, details
        text = f"CNI {command} failed (code {code}): {msg}"
        if details and details not in msg:
            text += f": {details}"
        super().__init__(text)


class MultusPodNetwork:
    """The node's pod network through real Multus (see the module docstring).

    Built by the node agent as ``MultusPodNetwork(ctx)``; the keyword arguments are for tests
    and benchmarks. ``bin_dir`` holds ``multus`` and the CNI plugins (default: the tool cache,
    built on demand by :func:`harness.tools.ensure`).
    """

    def __init__(
        self,
        ctx: PodNetworkContext,
        *,
        bin_dir: Path | None = None,
        cluster_subnet: str = CLUSTER_SUBNET,
        cluster_bridge: str = CLUSTER_BRIDGE,
        manage_underlay: bool = True,
        timeout: float = 120.0,
        log_level: str = "verbose",
    ) -> None:
        if os.geteuid() != 0:
            raise PodNetworkError("MultusPodNetwork needs root (network namespaces, links)")
        self.ctx = ctx
        self.kubeconfig = Path(ctx.kubeconfig).resolve()
        self.state = Path(ctx.state_dir).resolve()
        self.timeout = timeout
        self.manage_underlay = manage_underlay
        self.cluster_bridge = cluster_bridge
        net = ipaddress.ip_network(cluster_subnet)
        self.cluster_subnet = net
        self.gateway = next(net.hosts())
        self._lock = threading.Lock()
        self._api: Api | None = None
        self._ipam_dirs: set[str] = set()
        with contextlib.suppress(OSError, ValueError, TypeError):
            recorded = self.ctx.state_dir / IPAM_DIRS_FILE
            if recorded.is_file():
                self._ipam_dirs = {str(d) for d in json.loads(recorded.read_text())}

        self.cni_bin = self.state / "cni-bin"
        self.multus_dir = self.state / "multus"
        self.cache_dir = self.multus_dir / "cache"
        self.ipam_dir = self.state / "ipam"
        self.records_dir = self.state / "sandboxes"
        self.cluster_conflist = self.state / "net.d" / f"{CLUSTER_NETWORK_NAME}.conflist"
        for d in (self.cni_bin, self.multus_dir / "net.d", self.cache_dir, self.ipam_dir,
                  self.records_dir, self.cluster_conflist.parent):
            d.mkdir(parents=True, exist_ok=True)

        self._link_binaries(bin_dir)
        self.cluster_conf: dict[str, Any] = {
            "cniVersion": "1.0.0",
            "name": CLUSTER_NETWORK_NAME,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": cluster_bridge,
                    "isGateway": False,
                    "isDefaultGateway": False,
                    "ipMasq": False,
                    "hairpinMode": False,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.ipam_dir),
                        "ranges": [[{"subnet": str(net), "gateway": str(self.gateway)}]],
                        "routes": [{"dst": "0.0.0.0/0" if net.version == 4 else "::/0",
                                    "gw": str(self.gateway)}],
                    },
                }
            ],
        }
        _write_if_changed(self.cluster_conflist, json.dumps(self.cluster_conf, indent=2) + "\n")
        self.multus_conf: dict[str, Any] = {
            "cniVersion": "1.0.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(self.kubeconfig),
            # the directory form, not the file path: Multus v4.3.0 caches a clusterNetwork
            # given as a .conflist *file* re-marshalled through its generic NetConf type, which
            # drops plugin fields (bridge, ipam.ranges), so its DEL fails ("no IP ranges
            # specified") and leaks the address; from a directory it caches the raw bytes
            "clusterNetwork": str(self.cluster_conflist.parent),
            "multusNamespace": "kube-system",
            "confDir": str(self.multus_dir / "net.d"),
            "cniDir": str(self.cache_dir),
            "binDir": str(self.cni_bin),
            "logFile": str(self.multus_dir / "multus.log"),
            "logLevel": log_level,
            "logToStderr": False,
        }
        self._multus_bytes = json.dumps(self.multus_conf).encode()
        _write_if_changed(self.state / "multus.conf", json.dumps(self.multus_conf, indent=2) + "\n")

    # ------------------------------------------------------------------ setup

    def _link_binaries(self, bin_dir: Path | None) -> None:
        if bin_dir is None:
            from harness import tools  # deferred: building may take minutes on a cold cache

            bin_dir = tools.bin_dir()  # already built (make tools): no lock, no waiting
            if not all((bin_dir / b).is_file() for b in CNI_BINARIES):
                bin_dir = tools.ensure(["multus", "cni-plugins"])
        missing = [b for b in CNI_BINARIES if not (bin_dir / b).is_file()]
        if missing:
            raise PodNetworkError(f"{bin_dir}: missing CNI binaries {', '.join(missing)}")
        for b in CNI_BINARIES:
            link = self.cni_bin / b
            target = (bin_dir / b).resolve()
            if link.is_symlink() and link.resolve() == target:
                continue
            tmp = link.with_name(f".{b}.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            tmp.replace(link)

    def ensure_cluster_bridge(self) -> None:
        """The cluster network's host bridge, up, with the gateway address."""
        with self._lock:
            underlay.ensure_underlay([underlay.Link(self.cluster_bridge, "bridge")])
            underlay.ip("addr", "replace",
                        f"{self.gateway}/{self.cluster_subnet.prefixlen}",
                        "dev", self.cluster_bridge)

    def _api_client(self) -> Api:
        if self._api is None:
            self._api = Api(self.kubeconfig)
        return self._api

    def underlay_for_pod(self, pod: Pod) -> list[underlay.Link]:
        """The host links the NADs selected by ``pod`` need (NADs that cannot be read are
        skipped: Multus reports them when it fails to find them)."""
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        refs = parse_network_selections(str(annotations.get(NETWORKS_ANNOTATION, "")),
                                        meta["namespace"])
        refs += parse_network_selections(str(annotations.get(DEFAULT_NETWORK_ANNOTATION, "")),
                                         meta["namespace"])
        links: list[underlay.Link] = []
        for ns, name in dict.fromkeys(refs):
            try:
                nad = self._api_client().get(NAD_PATH.format(ns=ns, name=name))
                config = (nad.get("spec") or {}).get("config") or ""
                if config:
                    links += underlay.links_for_nad(str(config))
                    self._remember_ipam_dirs(str(config))
            except (ApiError, OSError, ValueError) as e:
                log.info("underlay: NAD %s/%s: %s", ns, name, e)
        return links

    def _remember_ipam_dirs(self, config: str) -> None:
        """Note the host-local state directories a NAD's config uses, so that ``purge`` can
        remove host-local's bookkeeping files (lock, last_reserved_ip) once it is idle."""
        try:
            dirs = {str(d) for d in host_local_dirs(json.loads(config))}
        except (ValueError, TypeError, AttributeError) as e:
            log.info("ipam dirs: %s", e)
            return
        with self._lock:
            if dirs <= self._ipam_dirs:
                return
            self._ipam_dirs |= dirs
            try:
                _write_if_changed(self.ctx.state_dir / IPAM_DIRS_FILE,
                                  json.dumps(sorted(self._ipam_dirs)))
            except OSError as e:
                log.info("ipam dirs: %s", e)

    def setup(self, pod: Pod) -> list[str]:
        """Give ``pod`` a namespace and its networks through Multus; return its IPs."""
        meta = pod["metadata"]
        uid, namespace, name = str(meta["uid"]), str(meta["namespace"]), str(meta["name"])
        rec = self._load(uid)
        nsname = netns_name(uid)
        if rec is not None and rec.get("ips") and netns_path(nsname).exists():
            return list(rec["ips"])
        if rec is not None or netns_path(nsname).exists():
            # half-done earlier attempt (or a crash mid-ADD): start from scratch
            self._release(uid, namespace, name, force=True)

        self.ensure_cluster_bridge()
        if self.manage_underlay:
            links = self.underlay_for_pod(pod)
            if links:
                try:
                    underlay.ensure_underlay(links)
                except underlay.UnderlayError as e:
                    raise PodNetworkError(str(e)) from e

        rec = {
            "uid": uid,
            "namespace": namespace,
            "name": name,
            "sandbox": sandbox_id(uid),
            "netns": nsname,
            "created": time.time(),
            "ips": [],
        }
        self._store(uid, rec)
        t0 = time.monotonic()
        try:
            underlay.ip("netns", "add", nsname)
            underlay.ip("link", "set", "lo", "up", netns=nsname)
            result = self.cni("ADD", uid, namespace, name)
            ips = eth0_ips(result)
            if not ips:
                raise PodNetworkError(
                    f"Multus returned no {IFNAME} address for {namespace}/{name} (pod not "
                    "found by Multus, or its UID changed)"
                )
        except Exception as e:
            with contextlib.suppress(Exception):
                self._release(uid, namespace, name, force=True)
            if isinstance(e, PodNetworkError):
                raise
            raise PodNetworkError(f"pod network setup for {namespace}/{name}: {e}") from e
        rec["ips"] = ips
        rec["result"] = result
        rec["add_seconds"] = round(time.monotonic() - t0, 3)
        self._store(uid, rec)
        return ips

    # ------------------------------------------------------------------ teardown

    def teardown(self, pod: Pod) -> None:
        """CNI DEL through Multus (same sandbox id), then the namespace and the record go."""
        meta = pod["metadata"]
        self._release(str(meta["uid"]), str(meta["namespace"]), str(meta["name"]))

    def _release(self, uid: str, namespace: str, name: str, force: bool = False) -> None:
        cid = sandbox_id(uid)
        nsname = netns_name(uid)
        rec = self._load(uid)
        if rec is not None or (self.cache_dir / cid).exists() or netns_path(nsname).exists():
            try:
                self.cni("DEL", uid, namespace, name)
            except PodNetworkError as e:
                attempts = int((rec or {}).get("del_failures", 0)) + 1
                if not force and rec is not None and attempts < DEL_ATTEMPTS:
                    rec["del_failures"] = attempts
                    self._store(uid, rec)
                    raise
                log.warning("DEL %s/%s failed (%s); removing its namespace anyway",
                            namespace, name, e)
        delete_netns(nsname)
        (self.records_dir / f"{uid}.json").unlink(missing_ok=True)

    # ------------------------------------------------------------------ restart safety

    def gc(self, live: Mapping[str, Pod]) -> None:
        """Release everything belonging to pods not in ``live`` (keyed by UID)."""
        self.adopt(live.keys())

    def adopt(self, existing_pod_uids: Iterable[str]) -> list[str]:
        """Keep the sandboxes of ``existing_pod_uids``; DEL and remove every other one
        (records, ``np-<12 hex>`` namespaces, Multus cache entries, cluster-network
        reservations). Returns the namespaces removed."""
        keep = set(existing_pod_uids)
        removed: list[str] = []
        records = self.sandboxes()
        for rec in records:
            if rec["uid"] in keep:
                continue
            try:
                self._release(rec["uid"], rec["namespace"], rec["name"], force=True)
                removed.append(rec["netns"])
            except Exception as e:  # keep collecting the others
                log.warning("gc: releasing %s/%s: %s", rec["namespace"], rec["name"], e)
        known_ns = {netns_name(u) for u in keep} | {r["netns"] for r in records}
        known_cid = {sandbox_id(u) for u in keep}
        # Multus cache entries without a record: DEL by sandbox id alone (Multus uses its cache)
        for entry in self.cache_dir.iterdir():
            if re.fullmatch(r"[0-9a-f]{64}", entry.name) and entry.name not in known_cid:
                with contextlib.suppress(PodNetworkError):
                    self._cni_raw("DEL", entry.name, "", {})
        for ns in list_pod_netns():
            if ns not in known_ns:
                try:
                    if delete_netns(ns):
                        removed.append(ns)
                except PodNetworkError as e:
                    log.warning("gc: %s", e)
        self._sweep_ipam(known_cid)
        if removed:
            log.info("gc: removed %d orphan sandbox(es): %s", len(removed), ", ".join(removed))
        return removed

    def _sweep_ipam(self, keep_cids: set[str]) -> None:
        net_dir = self.ipam_dir / CLUSTER_NETWORK_NAME
        if not net_dir.is_dir():
            return
        for f in net_dir.iterdir():
            try:
                ipaddress.ip_address(f.name)
            except ValueError:
                continue
            with contextlib.suppress(OSError):
                words = f.read_text().split()
                if (words[0] if words else "") not in keep_cids:
                    f.unlink()
                    log.info("gc: released stale cluster address %s", f.name)

    def sandboxes(self) -> list[dict[str, Any]]:
        """The sandbox records (one per pod set up and not yet torn down)."""
        out = []
        for f in sorted(self.records_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(f.read_text()))
        return out

    # ------------------------------------------------------------------ CNI

    def cni(self, command: str, uid: str, namespace: str, name: str) -> dict[str, Any]:
        """Run Multus for this pod (``ADD``/``DEL``/``CHECK``); the decoded result."""
        args = {
            "K8S_POD_NAMESPACE": namespace,
            "K8S_POD_NAME": name,
            "K8S_POD_INFRA_CONTAINER_ID": sandbox_id(uid),
            "K8S_POD_UID": uid,
        }
        ns = netns_path(netns_name(uid))
        return self._cni_raw(command, sandbox_id(uid), str(ns) if ns.exists() else "", args)

    def _cni_raw(
        self, command: str, container_id: str, netns: str, k8s_args: Mapping[str, str]
    ) -> dict[str, Any]:
        cni_args = ";".join(["IgnoreUnknown=1", *(f"{k}={v}" for k, v in k8s_args.items())])
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": IFNAME,
            "CNI_PATH": str(self.cni_bin),
            "CNI_ARGS": cni_args,
        }
        try:
            proc = subprocess.run(
                [str(self.cni_bin / "multus")], input=self._multus_bytes, env=env,
                capture_output=True, timeout=self.timeout, check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise CniError(command, 0, f"multus timed out after {self.timeout:.0f}s") from e
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0:
            try:
                err = json.loads(out)
            except ValueError:
                err = None
            if isinstance(err, dict):
                raise CniError(command, int(err.get("code") or 0), str(err.get("msg", "")),
                               str(err.get("details", "")))
            stderr = proc.stderr.decode(errors="replace").strip()
            raise CniError(command, proc.returncode, out or stderr or "multus failed")
        if not out:
            return {}
        data = json.loads(out)
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ records

    def _load(self, uid: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.records_dir / f"{uid}.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _store(self, uid: str, rec: Mapping[str, Any]) -> None:
        path = self.records_dir / f"{uid}.json"
        tmp = path.with_name(f".{uid}.tmp")
        tmp.write_text(json.dumps(rec, indent=1) + "\n")
        tmp.replace(path)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


IPAM_DIRS_FILE = "host-local-dirs.json"
HOST_LOCAL_DEFAULT_DIR = Path("/var/lib/cni/networks")


def host_local_dirs(config: Mapping[str, Any]) -> list[Path]:
    """host-local state directories of a CNI config (single plugin or conflist)."""
    listed = config.get("plugins")
    plugins: list[Any] = listed if isinstance(listed, list) else [config]
    out: list[Path] = []
    name = config.get("name")
    for plugin in plugins:
        ipam = plugin.get("ipam") if isinstance(plugin, Mapping) else None
        if isinstance(ipam, Mapping) and ipam.get("type") == "host-local" and name:
            base = Path(str(ipam.get("dataDir") or HOST_LOCAL_DEFAULT_DIR))
            out.append(base / str(name))
    return out


def remove_idle_ipam_dirs(dirs: Iterable[Path]) -> list[Path]:
    """Remove host-local directories that hold no reservation, only its lock and
    last_reserved_ip files. Returns those removed."""
    removed = []
    for d in dirs:
        try:
            entries = list(d.iterdir())
        except OSError:
            continue
        if all(e.name == "lock" or e.name.startswith("last_reserved_ip") for e in entries):
            for e in entries:
                e.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                d.rmdir()
                removed.append(d)
    return removed


def purge(state_dir: Path) -> list[str]:
    """Undo everything a :class:`MultusPodNetwork` with this ``state_dir`` made (for
    ``cluster down``, also after a crash): DEL every recorded sandbox through Multus with the
    saved config, delete every ``np-<12 hex>`` namespace and every ``np-`` host link (cluster
    bridge, underlay). Returns the namespaces removed. Works with the apiserver gone (Multus
    then DELs from its cache)."""
    state_dir = Path(state_dir)
    removed: list[str] = []
    saved = state_dir / "multus.conf"
    if saved.is_file() and os.geteuid() == 0:
        try:
            conf = json.loads(saved.read_text())
            cluster = json.loads((state_dir / "net.d" / f"{CLUSTER_NETWORK_NAME}.conflist")
                                 .read_text())["plugins"][0]
            ctx = PodNetworkContext(state_dir.name, Path(conf["kubeconfig"]), state_dir)
            bins = state_dir / "cni-bin"
            net = MultusPodNetwork(
                ctx, bin_dir=bins if all((bins / b).is_file() for b in CNI_BINARIES) else None,
                cluster_subnet=cluster["ipam"]["ranges"][0][0]["subnet"],
                cluster_bridge=cluster["bridge"],
                timeout=30.0,
            )
            removed += net.adopt(())
        except Exception as e:
            log.warning("purge %s: %s (removing namespaces without DEL)", state_dir, e)
    for ns in list_pod_netns():
        with contextlib.suppress(PodNetworkError):
            if delete_netns(ns):
                removed.append(ns)
    underlay.cleanup_all()
    with contextlib.suppress(OSError, ValueError, TypeError):
        recorded = state_dir / IPAM_DIRS_FILE
        if recorded.is_file():
            remove_idle_ipam_dirs(Path(d) for d in json.loads(recorded.read_text()))
    return removed
