"""Running CNI plugins directly, the way a container runtime does (no libcni, no Multus).

The one CNI invoker of the project: the data-plane tests and the benchmarks use it; its one
error type, :class:`CniError`, carries the plugin's CNI error (code, msg, details).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netplumb import hostpaths

NETNS_DIR = Path(hostpaths.NETNS_DIR)
HOST_LOCAL_DIR = Path(hostpaths.HOST_LOCAL_DIR)
"""host-local's state directory when a config names no ``dataDir``."""


class CniError(RuntimeError):
    """A plugin failed: ``code``/``msg``/``details`` as its CNI error result gave them."""

    def __init__(self, plugin: str, command: str, code: int, msg: str, details: str) -> None:
        self.plugin, self.command, self.code, self.msg, self.details = (
            plugin, command, code, msg, details)
        super().__init__(f"{plugin} {command}: code {code}: {msg} {details}".strip())


@dataclass
class Cni:
    """Plugins from ``bin_dir`` (also their ``CNI_PATH``, for delegated IPAM)."""

    bin_dir: Path

    def run(self, command: str, conf: Mapping[str, Any], container_id: str,
            netns: str | None, ifname: str = "net1", args: str = "",
            timeout: float = 60.0) -> dict[str, Any]:
        """``command`` (ADD, DEL, CHECK, VERSION) for ``conf`` in the named ``netns``; the
        decoded result (empty for DEL). :class:`CniError` when the plugin fails."""
        plugin = str(conf["type"])
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": str(NETNS_DIR / netns) if netns else "",
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(self.bin_dir),
        }
        if args:
            env["CNI_ARGS"] = args
        proc = subprocess.run([str(self.bin_dir / plugin)], input=json.dumps(conf).encode(),
                              env=env, capture_output=True, timeout=timeout, check=False)
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0:
            try:
                err = json.loads(out)
            except ValueError:
                err = {"code": proc.returncode,
                       "msg": out or proc.stderr.decode(errors="replace")}
            raise CniError(plugin, command, int(err.get("code") or 0), str(err.get("msg", "")),
                           str(err.get("details", "")))
        return json.loads(out) if out else {}

    def add(self, conf: Mapping[str, Any], cid: str, netns: str, ifname: str = "net1",
            args: str = "") -> dict[str, Any]:
        return self.run("ADD", conf, cid, netns, ifname, args)

    def delete(self, conf: Mapping[str, Any], cid: str, netns: str | None,
               ifname: str = "net1", args: str = "") -> None:
        self.run("DEL", conf, cid, netns, ifname, args)


def result_ips(result: Mapping[str, Any], ifname: str | None = None) -> list[str]:
    """``address/prefix`` of every IP in a CNI result (only ``ifname``'s when given)."""
    interfaces = result.get("interfaces") or []
    out = []
    for ip in result.get("ips") or []:
        idx = ip.get("interface")
        if ifname is not None and (idx is None or idx >= len(interfaces)
                                   or interfaces[idx].get("name") != ifname):
            continue
        out.append(str(ip["address"]))
    return out


def host_local_dirs(config: Mapping[str, Any]) -> list[Path]:
    """host-local state directories of a CNI config (single plugin or conflist)."""
    listed = config.get("plugins")
    plugins: list[Any] = listed if isinstance(listed, list) else [config]
    out: list[Path] = []
    name = config.get("name")
    for plugin in plugins:
        ipam = plugin.get("ipam") if isinstance(plugin, Mapping) else None
        if isinstance(ipam, Mapping) and ipam.get("type") == "host-local" and name:
            base = Path(str(ipam.get("dataDir") or HOST_LOCAL_DIR))
            out.append(base / str(name))
    return out


def reservations(directory: Path) -> set[str]:
    """host-local's reservations in one network's state directory (files named by address)."""
    import ipaddress

    out = set()
    with contextlib.suppress(OSError):
        for f in directory.iterdir():
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(f.name)
                out.add(f.name)
    return out


def remove_idle_ipam_dirs(dirs: Iterable[Path]) -> list[Path]:
    """Remove host-local directories that hold no reservation, only its ``lock`` and
    ``last_reserved_ip`` files. Returns those removed."""
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
