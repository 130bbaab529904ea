"""The host the nodes run on: what it looked like before, and putting it back.

Each node lives in namespaces of its own (:mod:`harness.nodens`), so most of what a node
changes (its mounts, links, iptables rules, per-namespace sysctls, files under its own
paths) goes with its namespaces. What the nodes still change on the host, and what a crashed
run may leave, is recorded here: :func:`snapshot` before the nodes start; :func:`restore`
undoes the changes after they stopped; :func:`differences` compares two snapshots
(``cluster down`` reports what it could not undo, and a test checks that nothing is left).
What is recorded and how it is restored:

* mounts (``/proc/self/mountinfo``: mount point, type, source, propagation): new mounts under
  :data:`NODE_PATHS` and the prefixes ``restore`` is given (the nodes' namespace files) are
  unmounted, deepest first;
* links: the cluster bridge, the nodes' host-side veths and the underlay segments the
  harness made (recorded by :func:`record_links`), and anything matching
  :data:`NODE_LINK_RE` that appeared;
* network namespaces ``cni-*`` containerd made;
* iptables/ip6tables rules and chains the cluster added (kube-proxy, Flannel, the portmap
  plugin) are deleted; nftables tables that appeared (iptables-nft makes ``ip filter``,
  ``ip nat``, …) are deleted;
* sysctls the kubelet and the plugins change (``kernel.panic``, ``kernel.panic_on_oops``,
  ``vm.overcommit_memory``, ``net.ipv4.ip_forward``, …): every writable key under
  ``kernel``, ``vm``, ``net.core``, ``net.ipv4`` (not per-interface), ``net.ipv6.conf.{all,
  default}``, ``net.bridge``, ``net.netfilter`` is recorded and written back if changed. Keys
  that only appear when a module loads (``net.netfilter.*`` with conntrack) are not compared:
  kernel modules stay loaded;
* files: ``/etc/cni/net.d`` and ``/opt/cni/bin`` get back exactly what they held (copied
  aside first); the node's other paths (:data:`NODE_PATHS`) are removed if they did not exist;
* cgroups: new top-level cgroups (``kubepods``) of every v1 controller are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from netplumb import hostpaths as hp
from netplumb.waiting import wait_for

RESTORED_DIRS = (hp.CNI_CONF_DIR, hp.CNI_BIN_DIR)
"""Directories whose exact content is put back (they may hold the host's own CNI setup)."""
NODE_PATHS = (
    "/etc/cni", "/opt/cni", hp.KUBELET_DIR, "/var/lib/cni", "/run/containerd",
    "/var/log/containers", "/var/log/pods", hp.FLANNEL_RUN_DIR, hp.MULTUS_SOCKET_DIR,
    hp.NETWORK_STATUS_DIR, "/etc/cni/multus", hp.XTABLES_LOCK, hp.NETNS_DIR,
    "/opt/containerd", "/var/lib/containerd", "/run/nri", hp.NETPLUMB_STATE_DIR, hp.CNI_RUN_DIR,
)
"""Paths a node (kubelet, containerd, Flannel, Multus, the node plugin's state dir and the
dhcp daemon's socket dir) creates, inside the node now (the host gets at most the empty
directories the nodes' own paths are mounted on); removed at down if new (new entries only,
where the path existed)."""
SYSCTL_ROOTS = ("kernel", "vm", "net/core", "net/ipv4", "net/ipv6/conf/all",
                "net/ipv6/conf/default", "net/bridge", "net/netfilter")
SYSCTL_VOLATILE = ("kernel/ns_last_pid", "kernel/perf_event_max_sample_rate",
                   "vm/drop_caches", "vm/compact_memory", "kernel/random/")
NODE_LINK_RE = re.compile(r"^(cni0|flannel\.\d+|veth[0-9a-f]+|np-.+)$")
"""Host links the node's network makes (Flannel's bridge and VXLAN device, pod veths) and
the ``np-`` links of the harness (underlay links; bridges the bridge plugin made for NADs)."""
CNI_NETNS_RE = re.compile(r"^cni-[0-9a-f-]+$")
CGROUP_ROOT = Path("/sys/fs/cgroup")
BUILTIN = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})
"""iptables' built-in chains: never created or deleted, only their rules and policies."""


class HostError(RuntimeError):
    """The host cannot run the node, or could not be restored."""


def _run(*argv: str, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input,
                          check=False, timeout=120)
    if check and proc.returncode != 0:
        raise HostError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------- reading


def mounts() -> list[dict[str, str]]:
    """Mounts of this mount namespace: point, type, source, propagation."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        optional = fields[6:]
        prop = "private"
        for opt in optional:
            if opt.startswith("shared:"):
                prop = "shared"
            elif opt.startswith("master:") and prop == "private":
                prop = "slave"
        fstype, source = right.split()[:2]
        out.append({"point": _unescape(fields[4]), "type": fstype, "source": source,
                    "propagation": prop})
    return out


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for root in SYSCTL_ROOTS:
        base = Path("/proc/sys") / root
        if not base.is_dir():
            continue
        for d, dirs, files in os.walk(base):
            rel = d[len("/proc/sys/"):]
            parts = rel.split("/")
            if parts[:3] in (["net", "ipv4", "conf"], ["net", "ipv4", "neigh"]) and (
                    len(parts) > 3 and parts[3] not in ("all", "default")):
                dirs[:] = []
                continue
            for f in files:
                key = f"{rel}/{f}"
                if key.startswith(SYSCTL_VOLATILE):
                    continue
                path = Path(d) / f
                try:
                    if not path.stat().st_mode & 0o200:
                        continue
                    values[key] = path.read_text().strip()
                except OSError:
                    continue
    return values


def iptables_save(family: str) -> str:
    tool = "iptables-save" if family == "ipv4" else "ip6tables-save"
    if shutil.which(tool) is None:
        return ""
    return _run(tool)


def parse_iptables(text: str) -> dict[str, dict[str, Any]]:
    """``iptables-save`` output as {table: {chains: {name: policy}, rules: [(chain, spec)]}},
    counters and comments dropped, and tables that hold nothing (built-in chains with policy
    ACCEPT, no rules) left out: such a table is the same as none."""
    tables: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], {"chains": {}, "rules": []})
        elif line.startswith(":") and current is not None:
            name, policy = line[1:].split()[:2]
            current["chains"][name] = policy
        elif line.startswith("-A ") and current is not None:
            chain, _, spec = line[3:].partition(" ")
            current["rules"].append([chain, spec])
    return {t: v for t, v in tables.items()
            if v["rules"] or any(c not in BUILTIN or p != "ACCEPT"
                                 for c, p in v["chains"].items())}


def nft_tables() -> list[str]:
    if shutil.which("nft") is None:
        return []
    return sorted(" ".join(line.split()[1:3]) for line in _run("nft", "list", "tables",
                                                                 check=False).splitlines()
                  if line.startswith("table "))


def links() -> list[str]:
    data = json.loads(_run("ip", "-j", "link", "show") or "[]")
    return sorted(str(li["ifname"]) for li in data)


def netns() -> list[str]:
    data = json.loads(_run("ip", "-j", "netns", "list") or "[]")
    return sorted(str(n["name"]) for n in data)


def _listing(path: str) -> list[str] | None:
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return None
    if not p.is_dir():
        return ["<file>"]
    out = []
    for d, dirs, files in os.walk(p):
        rel = os.path.relpath(d, p)
        out += [os.path.normpath(os.path.join(rel, n)) + "/" for n in dirs]
        out += [os.path.normpath(os.path.join(rel, n)) for n in files]
    return sorted(out)


def cgroups() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not CGROUP_ROOT.is_dir():
        return out
    for controller in sorted(CGROUP_ROOT.iterdir()):
        if controller.is_dir() and not controller.is_symlink():
            with contextlib.suppress(OSError):
                out[controller.name] = sorted(p.name for p in controller.iterdir() if p.is_dir())
    return out


def snapshot() -> dict[str, Any]:
    """Everything :func:`restore` puts back and :func:`differences` compares."""
    return {
        "mounts": mounts(),
        "sysctls": sysctls(),
        "iptables": {f: parse_iptables(iptables_save(f)) for f in ("ipv4", "ipv6")},
        "nft_tables": nft_tables(),
        "links": links(),
        "netns": netns(),
        "paths": {p: _listing(p) for p in (*RESTORED_DIRS, *NODE_PATHS)},
        "cgroups": cgroups(),
    }


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What differs between two snapshots, one line each (empty: the same host)."""
    out: list[str] = []

    def key(m: Mapping[str, str]) -> tuple[str, str, str, str]:
        return (m["point"], m["type"], m["source"], m["propagation"])

    b_m = {key(m) for m in before["mounts"]}
    a_m = {key(m) for m in after["mounts"]}
    out += [f"mount added: {m}" for m in sorted(a_m - b_m)]
    out += [f"mount gone or changed: {m}" for m in sorted(b_m - a_m)]
    for k, v in sorted(before["sysctls"].items()):
        if k in after["sysctls"] and after["sysctls"][k] != v:
            out.append(f"sysctl {k}: {v!r} -> {after['sysctls'][k]!r}")
    for fam in ("ipv4", "ipv6"):
        if before["iptables"][fam] != after["iptables"][fam]:
            out.append(f"{fam} iptables differ: {json.dumps(after['iptables'][fam])[:400]}")
    if before["nft_tables"] != after["nft_tables"]:
        out.append(f"nftables tables: {before['nft_tables']} -> {after['nft_tables']}")
    for what in ("links", "netns"):
        added = sorted(set(after[what]) - set(before[what]))
        gone = sorted(set(before[what]) - set(after[what]))
        if added or gone:
            out.append(f"{what}: added {added}, gone {gone}")
    for p, listing in before["paths"].items():
        if after["paths"].get(p) != listing:
            out.append(f"{p}: {_brief(listing)} -> {_brief(after['paths'].get(p))}")
    for controller, dirs in before["cgroups"].items():
        added = sorted(set(after["cgroups"].get(controller, [])) - set(dirs))
        if added:
            out.append(f"cgroup {controller}: added {added}")
    return out


def _brief(listing: list[str] | None) -> str:
    if listing is None:
        return "absent"
    return f"{len(listing)} entries {listing[:6]}"


# --------------------------------------------------------------------------- preparing


def backup_dir(state: Path) -> Path:
    return state / "backup"


def prepare(state: Path) -> dict[str, Any]:
    """Record the host (``state/before.json``) and copy the CNI directories aside. Returns
    the snapshot."""
    state.mkdir(parents=True, exist_ok=True)
    before = snapshot()
    for d in RESTORED_DIRS:
        if os.path.isdir(d):
            dest = backup_dir(state) / d.strip("/").replace("/", "_")
            shutil.copytree(d, dest, symlinks=True)
    (state / "before.json").write_text(json.dumps(before))
    return before


def record_links(state: Path, names: Iterable[str]) -> None:
    """Remember host links the harness made for this cluster (deleted by :func:`restore`)."""
    path = state / "links.json"
    known = set(json.loads(path.read_text())) if path.exists() else set()
    state.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sorted(known | set(names))))


def recorded_links(state: Path) -> list[str]:
    path = state / "links.json"
    return sorted(json.loads(path.read_text())) if path.exists() else []


# --------------------------------------------------------------------------- restoring


def restore(state: Path, say: Any = None, mount_prefixes: Iterable[str] = ()) -> list[str]:
    """Undo the node's changes to the host (processes must be stopped already); return what
    still differs from the recorded snapshot. New mounts are unmounted under
    :data:`NODE_PATHS` and ``mount_prefixes`` (containerd's root directory) only."""
    def note(msg: str) -> None:
        if say:
            say(msg)

    path = state / "before.json"
    if not path.exists():
        return []
    before = json.loads(path.read_text())
    _kill_cgroup_processes(before)
    _unmount_new(before, (*NODE_PATHS, *mount_prefixes), note)
    _delete_new_netns(before, note)
    _delete_new_links(before, recorded_links(state), note)
    _restore_iptables(before, note)
    _restore_sysctls(before, note)
    _restore_paths(before, state, note)
    _remove_new_cgroups(before, note)
    _restore_root_propagation(before)
    return differences(before, snapshot())


def _kill_cgroup_processes(before: Mapping[str, Any]) -> None:
    """SIGKILL whatever still runs in a cgroup the node created (container processes)."""
    pids: set[int] = set()
    for controller, dirs in cgroups().items():
        for name in set(dirs) - set(before["cgroups"].get(controller, [])):
            for procs in (CGROUP_ROOT / controller / name).rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids |= {int(p) for p in procs.read_text().split()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):  # as before: what outlives 10 s is left
        wait_for("the killed processes to end",
                 lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 10, 0.05)


def _unmount_new(before: Mapping[str, Any], prefixes: Iterable[str], note: Any) -> None:
    known = {m["point"] for m in before["mounts"]}
    roots = tuple(p.rstrip("/") for p in prefixes)

    def ours(point: str) -> bool:
        return any(point == r or point.startswith(r + "/") for r in roots)

    for _attempt in range(3):
        new = [m["point"] for m in mounts() if m["point"] not in known and ours(m["point"])]
        if not new:
            return
        for point in sorted(set(new), key=lambda p: (-p.count("/"), p)):
            proc = subprocess.run(["umount", point], capture_output=True, text=True,
                                  check=False)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        note(f"unmounted {len(set(new))} mount(s) the node made")


def _delete_new_netns(before: Mapping[str, Any], note: Any) -> None:
    gone = []
    for name in set(netns()) - set(before["netns"]):
        if CNI_NETNS_RE.match(name):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
            gone.append(name)
    if gone:
        note(f"removed {len(gone)} leftover pod network namespace(s)")


def _delete_new_links(before: Mapping[str, Any], underlay: list[str], note: Any) -> None:
    current = set(links())
    new = current - set(before["links"])
    doomed = sorted({n for n in new if NODE_LINK_RE.match(n)} | {
        n for n in underlay if n in current})
    for name in doomed:
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    if doomed:
        note(f"deleted links {', '.join(doomed[:8])}{' ...' if len(doomed) > 8 else ''}")


def _restore_iptables(before: Mapping[str, Any], note: Any) -> None:
    old_tables = set(before["nft_tables"])
    for table in nft_tables():
        if table not in old_tables:
            _run("nft", "delete", "table", *table.split(), check=False)
    for fam, restore_tool in (("ipv4", "iptables-restore"), ("ipv6", "ip6tables-restore")):
        if shutil.which(restore_tool) is None:
            continue
        now = parse_iptables(iptables_save(fam))
        script = _undo_script(before["iptables"][fam], now)
        if script:
            _run(restore_tool, "--noflush", input=script)
            note(f"removed the cluster's {fam} iptables rules")


def _undo_script(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """``iptables-restore --noflush`` input deleting rules and chains not in ``before``."""
    lines: list[str] = []
    for table, cur in now.items():
        old = before.get(table, {"chains": {}, "rules": []})
        remaining = [tuple(r) for r in old["rules"]]
        new_chains = [c for c in cur["chains"] if c not in old["chains"] and c not in BUILTIN]
        deletes = []
        for chain, spec in cur["rules"]:
            if (chain, spec) in remaining:
                remaining.remove((chain, spec))
            elif chain not in new_chains:  # a new chain's rules go with its flush
                deletes.append(f"-D {chain} {spec}")
        policies = [f"-P {c} {p}" for c, p in old["chains"].items()
                    if c in cur["chains"] and cur["chains"][c] != p and p != "-"]
        policies += [f"-P {c} ACCEPT" for c, p in cur["chains"].items()
                     if c in BUILTIN and c not in old["chains"] and p not in ("ACCEPT", "-")]
        if not (deletes or new_chains or policies):
            continue
        lines.append(f"*{table}")
        lines += deletes
        lines += [f"-F {c}" for c in new_chains]
        lines += [f"-X {c}" for c in new_chains]
        lines += policies
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""


def _restore_sysctls(before: Mapping[str, Any], note: Any) -> None:
    changed = []
    now = sysctls()
    for key, value in before["sysctls"].items():
        if key in now and now[key] != value:
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / key).write_text(value + "\n")
                changed.append(key.replace("/", "."))
    if changed:
        note(f"restored sysctls {', '.join(sorted(changed)[:8])}"
             f"{' ...' if len(changed) > 8 else ''}")


def _restore_paths(before: Mapping[str, Any], state: Path, note: Any) -> None:
    existed = {p: listing is not None for p, listing in before["paths"].items()}
    # deepest first, so /etc/cni/net.d is settled before /etc/cni is considered
    for p in sorted(existed, key=lambda x: -x.count("/")):
        path = Path(p)
        if p in RESTORED_DIRS and existed[p]:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            backup = backup_dir(state) / p.strip("/").replace("/", "_")
            shutil.copytree(backup, path, symlinks=True)
            continue
        if existed[p]:
            _remove_new_entries(path, before["paths"][p])
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
    note("host paths restored")


def _remove_new_entries(path: Path, listing: list[str]) -> None:
    """Remove what appeared inside a directory that existed before (deepest first)."""
    now = _listing(str(path))
    if not now or listing == ["<file>"]:
        return
    keep = set(listing)
    for entry in sorted(set(now) - keep, key=lambda e: -e.count("/")):
        target = path / entry.rstrip("/")
        if entry.endswith("/"):
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()


def _remove_new_cgroups(before: Mapping[str, Any], note: Any) -> None:
    removed = 0
    for controller, dirs in cgroups().items():
        for name in set(dirs) - set(before["cgroups"].get(controller, [])):
            top = CGROUP_ROOT / controller / name
            for d in sorted((p for p in top.rglob("*") if p.is_dir()),
                            key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
                removed += 1
    if removed:
        note(f"removed {removed} cgroup(s)")


def _restore_root_propagation(before: Mapping[str, Any]) -> None:
    was = next((m for m in reversed(before["mounts"]) if m["point"] == "/"), None)
    now = next((m for m in reversed(mounts()) if m["point"] == "/"), None)
    if was is None or now is None or was["propagation"] == now["propagation"]:
        return
    flag = {"private": "--make-private", "shared": "--make-shared",
            "slave": "--make-slave"}[was["propagation"]]
    _run("mount", flag, "/", check=False)
