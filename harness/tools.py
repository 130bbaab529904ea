"""Build the pinned toolchain from the Go wrapper modules in ``tools/*/`` into the tool cache.

Each ``tools/<name>/`` holds a ``go.mod``/``go.sum`` (pins), optional glue ``.go`` files and a
``tool.toml`` (format: ``tools/README.md``). Outputs land in ``tools_cache_root()``::

    builds/<tool>-<toolhash>/       one tool's binaries and extra files (+ .stamp when complete)
    <sethash>/bin/                  symlinks to every tool's outputs
    <sethash>/pulumi-home/          PULUMI_HOME for everything run with env_with_tools()
    <sethash>/stamps/<tool>         post-install steps done for this set
    src/<tool>-<sha>/               a third-party source snapshot, extracted (``[snapshot]``)

A tool with a ``[snapshot]`` builds a module the Go module proxy does not serve from a source
tarball in ``third_party_dir()`` (its sha256 pinned in ``tool.toml``), with the module's own
``go.mod``; where the tarball is absent the tool is unavailable (:func:`unavailable` says why)
and a build of everything goes on without it.

Usage: ``python -m harness.tools build [names...] | path | list | env | gc``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness import toolcache
from harness.paths import REPO_ROOT, tools_cache_root

TOOLS_DIR = REPO_ROOT / "tools"
GLUE_SUFFIXES = (".go",)
THIRD_PARTY_ENV = "NETPLUMB_THIRD_PARTY"
"""A directory of third-party source snapshots (default: ``<repo>/../shared/third_party``)."""


class ToolError(RuntimeError):
    """A tool description is wrong or a build step failed."""


# --------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class Binary:
    package: str
    output: str
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cgo: bool = False
    bin: bool = True


@dataclass(frozen=True)
class Extra:
    module: str | None
    """The module holding ``path``; None: the tool's source snapshot."""
    path: str
    output: str
    mode: int = 0o755
    bin: bool = True


@dataclass(frozen=True)
class Reuse:
    binary: str
    args: tuple[str, ...]
    expect: str


@dataclass(frozen=True)
class Snapshot:
    """A source tarball of a module the Go module proxy does not serve (``[snapshot]``)."""

    file: str
    """The tarball's file name in :func:`third_party_dir`."""
    sha256: str
    dir: str = "."
    """The Go module's directory inside the tarball."""

    def path(self) -> Path:
        return third_party_dir() / self.file


@dataclass(frozen=True)
class Tool:
    name: str
    dir: Path
    description: str
    version: str
    requires: tuple[str, ...]
    env: Mapping[str, str]
    binaries: tuple[Binary, ...]
    extras: tuple[Extra, ...] = ()
    prebuild: tuple[tuple[str, ...], ...] = ()
    post_install: tuple[tuple[str, ...], ...] = ()
    reuse: Reuse | None = None
    snapshot: Snapshot | None = None
    files: tuple[Path, ...] = field(default=(), compare=False)

    @property
    def outputs(self) -> list[str]:
        return [b.output for b in self.binaries] + [e.output for e in self.extras]

    @property
    def bin_outputs(self) -> list[str]:
        """Outputs linked into the shared bin dir (``bin = true``, the default)."""
        return [b.output for b in self.binaries if b.bin] + [e.output for e in self.extras if e.bin]


def _str_list(raw: Any, where: str) -> tuple[str, ...]:
    return toolcache.strings(raw, where, ToolError)


def _table_list(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ToolError(f"{where}: expected an array of tables ([[...]])")
    return raw


def _req(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ToolError(f"{where}: missing string key {key!r}")
    return value


def _tool_files(tool_dir: Path) -> tuple[Path, ...]:
    """Files whose content defines a tool: tool.toml, go.mod, go.sum and glue sources."""
    files = [tool_dir / n for n in ("tool.toml", "go.mod", "go.sum") if (tool_dir / n).is_file()]
    files += sorted(
        p for p in tool_dir.rglob("*") if p.is_file() and p.suffix in GLUE_SUFFIXES
    )
    return tuple(files)


def load_tool(tool_dir: Path) -> Tool:
    where = str(tool_dir.relative_to(REPO_ROOT) / "tool.toml")
    try:
        data = tomllib.loads((tool_dir / "tool.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ToolError(f"{where}: {exc}") from exc
    snapshot = _snapshot(data.get("snapshot"), where)
    files = _tool_files(tool_dir)
    if snapshot is None and not (tool_dir / "go.mod").is_file():
        raise ToolError(f"{where}: the wrapper has no go.mod")
    if snapshot is not None and files != (tool_dir / "tool.toml",):
        raise ToolError(f"{where}: a [snapshot] tool builds with the snapshot's own go.mod; "
                        "its directory holds tool.toml alone")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - {"ldflags", "tags", "cgo", "bin"}:
        raise ToolError(f"{where}: [defaults] may only set ldflags, tags, cgo and bin")
    binaries = tuple(
        Binary(
            package=_req(b, "package", f"{where} [[binary]]"),
            output=_req(b, "output", f"{where} [[binary]]"),
            ldflags=_str_list(b.get("ldflags", defaults.get("ldflags")), f"{where} ldflags"),
            tags=_str_list(b.get("tags", defaults.get("tags")), f"{where} tags"),
            cgo=bool(b.get("cgo", defaults.get("cgo", False))),
            bin=bool(b.get("bin", defaults.get("bin", True))),
        )
        for b in _table_list(data.get("binary"), f"{where} binary")
    )
    if not binaries:
        raise ToolError(f"{where}: no [[binary]]")
    extras = tuple(
        Extra(
            module=(_req(e, "module", f"{where} [[extra]]") if snapshot is None or "module" in e
                    else None),
            path=_req(e, "path", f"{where} [[extra]]"),
            output=_req(e, "output", f"{where} [[extra]]"),
            mode=int(e.get("mode", 0o755)),
            bin=bool(e.get("bin", True)),
        )
        for e in _table_list(data.get("extra"), f"{where} extra")
    )
    reuse = None
    if "reuse" in data:
        r = data["reuse"]
        reuse = Reuse(
            binary=_req(r, "binary", f"{where} [reuse]"),
            args=_str_list(r.get("args"), f"{where} [reuse] args"),
            expect=_req(r, "expect", f"{where} [reuse]"),
        )
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ToolError(f"{where}: [env] values must be strings")
    tool = Tool(
        name=tool_dir.name,
        dir=tool_dir,
        description=str(data.get("description", "")),
        version=str(data.get("version", "")),
        requires=_str_list(data.get("requires"), f"{where} requires"),
        env=dict(env),
        binaries=binaries,
        extras=extras,
        prebuild=tuple(
            _str_list(_req_list(p, f"{where} [[prebuild]]"), f"{where} prebuild")
            for p in _table_list(data.get("prebuild"), f"{where} prebuild")
        ),
        post_install=tuple(
            _str_list(_req_list(p, f"{where} [[post_install]]"), f"{where} post_install")
            for p in _table_list(data.get("post_install"), f"{where} post_install")
        ),
        reuse=reuse,
        snapshot=snapshot,
        files=files,
    )
    if snapshot is not None and tool.prebuild:
        raise ToolError(f"{where}: [[prebuild]] runs in a wrapper's scratch copy; a [snapshot] "
                        "tool has none")
    outs = tool.outputs
    if len(set(outs)) != len(outs):
        raise ToolError(f"{where}: duplicate output names {outs}")
    return tool


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _snapshot(raw: Any, where: str) -> Snapshot | None:
    """``[snapshot]``: file (a name in the third-party dir), sha256, dir (the module's)."""
    if raw is None:
        return None
    at = f"{where} [snapshot]"
    if not isinstance(raw, dict) or set(raw) - {"file", "sha256", "dir"}:
        raise ToolError(f"{at}: expected a table with keys file, sha256 and dir")
    file, sha = _req(raw, "file", at), _req(raw, "sha256", at)
    sub = str(raw.get("dir", "."))
    if "/" in file or file.startswith("."):
        raise ToolError(f"{at}: file must be a file name in the third-party directory")
    if not _SHA256.fullmatch(sha):
        raise ToolError(f"{at}: sha256 must be 64 lowercase hex digits")
    if Path(sub).is_absolute() or ".." in Path(sub).parts:
        raise ToolError(f"{at}: dir must be a relative path inside the tarball")
    return Snapshot(file=file, sha256=sha, dir=sub)


def _req_list(table: dict[str, Any], where: str) -> Any:
    if "run" not in table:
        raise ToolError(f"{where}: missing key 'run'")
    return table["run"]


def discover(tools_dir: Path = TOOLS_DIR) -> dict[str, Tool]:
    """All tools described by ``tools/*/tool.toml``, by directory name."""
    tools = {p.parent.name: load_tool(p.parent) for p in sorted(tools_dir.glob("*/tool.toml"))}
    outputs: dict[str, str] = {}
    for tool in tools.values():
        for out in tool.outputs:
            if out in outputs:
                raise ToolError(f"output {out!r} produced by both {outputs[out]} and {tool.name}")
            outputs[out] = tool.name
        for req in tool.requires:
            if req not in tools:
                raise ToolError(f"{tool.name} requires unknown tool {req!r}")
    return tools


# --------------------------------------------------------------------------- hashing / paths


@cache
def go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolError("the go command is not on PATH")
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def tool_hash(tool: Tool) -> str:
    h = hashlib.sha256()
    h.update(go_version().encode())
    for path in tool.files:
        h.update(b"\0" + str(path.relative_to(tool.dir)).encode() + b"\0")
        h.update(path.read_bytes())
    return toolcache.key(h)


def set_hash(tools: Mapping[str, Tool]) -> str:
    h = hashlib.sha256()
    for name in sorted(tools):
        h.update(f"{name}={tool_hash(tools[name])}\n".encode())
    return toolcache.key(h)


def _set_dir(tools: Mapping[str, Tool]) -> Path:
    return tools_cache_root() / set_hash(tools)


def bin_dir() -> Path:
    """The bin dir for the current pins (not necessarily built yet: see :func:`ensure`)."""
    return _set_dir(discover()) / "bin"


def build_dir(tool: Tool) -> Path:
    return tools_cache_root() / "builds" / f"{tool.name}-{tool_hash(tool)}"


# --------------------------------------------------------------------------- source snapshots


def third_party_dir() -> Path:
    """Where source snapshots are looked for: ``$NETPLUMB_THIRD_PARTY``, else
    ``<repo>/../shared/third_party``."""
    env = os.environ.get(THIRD_PARTY_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "third_party"


def snapshot_dir(tool: Tool) -> Path:
    """Where ``tool``'s source snapshot is extracted: in the tool cache, never the repo."""
    if tool.snapshot is None:
        raise ToolError(f"{tool.name}: not built from a source snapshot")
    return tools_cache_root() / "src" / f"{tool.name}-{tool.snapshot.sha256[:toolcache.KEY_LEN]}"


def unavailable(name: str, tools: Mapping[str, Tool] | None = None) -> str | None:
    """Why tool ``name`` cannot be built here (one line naming what is missing), or None.

    Only a source snapshot can be missing; a tool that requires an unavailable tool is
    unavailable too. A complete build already in the cache counts as available (its hash
    covers the pinned sha256).
    """
    tools = discover() if tools is None else tools
    if name not in tools:
        raise ToolError(f"unknown tool {name!r}")
    tool = tools[name]
    for req in tool.requires:
        reason = unavailable(req, tools)
        if reason is not None:
            return f"{name} requires {reason}"
    snap = tool.snapshot
    if snap is None or snap.path().is_file() or (build_dir(tool) / ".stamp").is_file():
        return None
    return _snapshot_missing(tool.name, snap)


def _snapshot_missing(name: str, snap: Snapshot) -> str:
    return (f"{name}: source snapshot {snap.file} not found in {snap.path().parent} "
            f"(set {THIRD_PARTY_ENV} to the directory that holds it)")


def extract_snapshot(tool: Tool) -> Path:
    """Check ``tool``'s source tarball against the sha256 its ``tool.toml`` pins, extract it
    into :func:`snapshot_dir` (once) and return the Go module's directory there."""
    snap = tool.snapshot
    dest = snapshot_dir(tool)
    assert snap is not None
    module = dest / snap.dir if snap.dir != "." else dest
    if (dest / ".stamp").is_file():
        return module
    tarball = snap.path()
    if not tarball.is_file():
        raise ToolError(_snapshot_missing(tool.name, snap))
    got = toolcache.file_sha256(tarball)
    if got != snap.sha256:
        raise ToolError(f"{tool.name}: {tarball} has sha256 {got} but tool.toml pins "
                        f"{snap.sha256}: refusing it")
    with toolcache.locked(tools_cache_root() / "locks" / f"src-{tool.name}.lock"):
        if (dest / ".stamp").is_file():
            return module
        with step(f"{tool.name}: extracting {snap.file}"), \
                toolcache.building(dest, prefix=f".{dest.name}-") as (_, tree):
            try:
                with tarfile.open(tarball) as tf:
                    tf.extractall(tree, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise ToolError(f"{tool.name}: extracting {tarball}: {exc}") from exc
            if not (tree / snap.dir / "go.mod").is_file():
                raise ToolError(f"{tool.name}: {snap.file} has no {snap.dir}/go.mod")
            (tree / ".stamp").write_text(json.dumps({"file": snap.file, "sha256": got}) + "\n")
    return module


# --------------------------------------------------------------------------- running steps


def log(msg: str) -> None:
    print(f"[tools] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    log(f"{what} ...")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        log(f"{what} FAILED after {time.monotonic() - start:.1f}s")
        raise
    log(f"{what} ... {time.monotonic() - start:.1f}s")


def _run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], what: str) -> str:
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise ToolError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc.stdout


_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::([^}]+))?\}")


class _Subst:
    """Expands ``{version}``, ``{bin}``, ``{out}``, ``{src}``, ``{pulumi_home}``, ``{moddir:M}``."""

    def __init__(self, tool: Tool, values: dict[str, str], go_env: Mapping[str, str],
                 cwd: Path | None = None) -> None:
        self.tool = tool
        self.values = values
        self.go_env = go_env
        self.cwd = tool.dir if cwd is None else cwd
        self._moddirs: dict[str, str] = {}

    def moddir(self, module: str) -> str:
        if module not in self._moddirs:
            out = _run(
                ["go", "list", "-m", "-f", "{{.Dir}}", module],
                cwd=self.cwd,
                env=self.go_env,
                what=f"locating module {module}",
            ).strip()
            if not out:
                raise ToolError(f"{self.tool.name}: module {module} has no directory (download?)")
            self._moddirs[module] = out
        return self._moddirs[module]

    def __call__(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            key, arg = m.group(1), m.group(2)
            if key == "moddir" and arg:
                return self.moddir(arg)
            if key in self.values and arg is None:
                return self.values[key]
            raise ToolError(f"{self.tool.name}: unknown placeholder {m.group(0)!r}")

        return _PLACEHOLDER.sub(repl, text)


def _go_env(tool: Tool, base: Mapping[str, str] | None = None, *,
            mod: str = "readonly") -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    goflags = env.get("GOFLAGS", "").split()
    if mod != "readonly":
        goflags = [f for f in goflags if not f.startswith("-mod=")]
    for flag in ("-trimpath", f"-mod={mod}"):
        if flag not in goflags:
            goflags.append(flag)
    env["GOFLAGS"] = " ".join(goflags)
    env.update(tool.env)
    return env


def _find_reusable(tool: Tool, exclude: Path) -> Path | None:
    """A binary on PATH (outside our cache) whose version output matches ``[reuse]``."""
    if tool.reuse is None or os.environ.get("NETPLUMB_TOOLS_NO_REUSE"):
        return None
    found = shutil.which(tool.reuse.binary)
    if found is None:
        return None
    path = Path(found).resolve()
    if path.is_relative_to(tools_cache_root()) or path.parent == exclude:
        return None
    try:
        proc = subprocess.run(
            [str(path), *tool.reuse.args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 0 and tool.reuse.expect in proc.stdout + proc.stderr:
        return path
    return None


def _build_tool(tool: Tool, bin_path: Path, home: Path) -> None:
    """Build one tool into its build dir (atomic: a temp dir renamed into place)."""
    dest = build_dir(tool)
    total = time.monotonic()
    log(f"building {tool.name} {tool.version} -> {dest}")
    # a snapshot builds where it was extracted, with its own go.mod (and vendor/ tree if any)
    snapshot = extract_snapshot(tool) if tool.snapshot is not None else None
    vendored = snapshot is not None and (snapshot / "vendor" / "modules.txt").is_file()
    go_env = _go_env(tool, mod="vendor" if vendored else "readonly")
    with toolcache.building(dest, prefix=f".{tool.name}-") as (scratch, out):
        if snapshot is None:
            src = scratch / "src"
            shutil.copytree(tool.dir, src, ignore=shutil.ignore_patterns("tool.toml"))
        else:
            src = snapshot
        values = {
            "version": tool.version,
            "bin": str(bin_path),
            "out": str(dest),
            "src": str(src),
            "pulumi_home": str(home),
        }
        subst = _Subst(tool, values, go_env, cwd=src)
        if not vendored:
            with step(f"{tool.name}: go mod download"):
                _run(["go", "mod", "download"], cwd=src, env=go_env, what="go mod download")
        for argv in tool.prebuild:
            cmd = [subst(a) for a in argv]
            with step(f"{tool.name}: prebuild {_short(cmd)}"):
                _run(cmd, cwd=src, env=go_env, what=f"{tool.name} prebuild")
        for group in _build_groups(tool.binaries):
            _build_group(tool, group, src, out, go_env, subst)
        for e in tool.extras:
            source = (src if e.module is None else Path(subst.moddir(e.module))) / e.path
            if not source.is_file():
                raise ToolError(f"{tool.name}: {e.module or 'the snapshot'} has no file "
                                f"{e.path}")
            shutil.copyfile(source, out / e.output)
            (out / e.output).chmod(e.mode)
            log(f"{tool.name}: copied {e.path} from {e.module or 'the snapshot'}")
        elapsed = time.monotonic() - total
        stamp = {"tool": tool.name, "version": tool.version, "go": go_version(),
                 "seconds": round(elapsed, 1), "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (out / ".stamp").write_text(json.dumps(stamp, indent=1) + "\n")
    log(f"built {tool.name} ... {time.monotonic() - total:.1f}s")


def _build_groups(binaries: Sequence[Binary]) -> list[list[Binary]]:
    """Binaries sharing ldflags, tags and cgo, in order of first appearance: each group is
    one ``go build`` (it loads the package graph once and links in parallel)."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...], bool], list[Binary]] = {}
    for b in binaries:
        groups.setdefault((b.ldflags, b.tags, b.cgo), []).append(b)
    return list(groups.values())


_VERSION_ELEM = re.compile(r"v[2-9][0-9]*|v[1-9][0-9]+")


def _exec_name(package: str, module: str) -> str:
    """The file name ``go build -o <dir>/`` gives ``package``'s binary (cmd/go's rule: the
    last path element, or the one before a major-version suffix like ``/v3``)."""
    path = module if package == "." else (
        f"{module}/{package[2:]}" if package.startswith("./") else package)
    parts = path.rstrip("/").split("/")
    if len(parts) > 1 and _VERSION_ELEM.fullmatch(parts[-1]):
        return parts[-2]
    return parts[-1]


def _module_path(src: Path) -> str:
    for line in (src / "go.mod").read_text().splitlines():
        if line.startswith("module "):
            return line.split()[1]
    raise ToolError(f"{src / 'go.mod'}: no module line")


def _build_group(tool: Tool, group: Sequence[Binary], src: Path, out: Path,
                 go_env: Mapping[str, str], subst: _Subst) -> None:
    first = group[0]
    env = dict(go_env)
    env["CGO_ENABLED"] = "1" if first.cgo else "0"
    ldflags = " ".join(["-s", "-w", *(subst(f) for f in first.ldflags)])
    tags = ["-tags=" + ",".join(first.tags)] if first.tags else []
    names = ", ".join(b.output for b in group)
    if len(group) == 1:
        cmd = ["go", "build", "-o", str(out / first.output), f"-ldflags={ldflags}", *tags,
               first.package]
        with step(f"building {tool.name}: {names}"):
            _run(cmd, cwd=src, env=env, what=f"building {first.output}")
        return
    module = _module_path(src)
    expected = {_exec_name(b.package, module): b for b in group}
    if len(expected) != len(group):
        raise ToolError(f"{tool.name}: {names} would get the same file name from go build; "
                        "give them different ldflags or tags to build them separately")
    scratch = out.parent / "group"
    scratch.mkdir()
    cmd = ["go", "build", "-o", f"{scratch}/", f"-ldflags={ldflags}", *tags,
           *(b.package for b in group)]
    with step(f"building {tool.name}: {names}"):
        _run(cmd, cwd=src, env=env, what=f"building {names}")
    built = {p.name for p in scratch.iterdir()}
    if built != set(expected):
        raise ToolError(f"{tool.name}: go build wrote {sorted(built)}, expected "
                        f"{sorted(expected)}")
    for exec_name, b in expected.items():
        (scratch / exec_name).rename(out / b.output)
    scratch.rmdir()


def _short(cmd: Sequence[str], width: int = 90) -> str:
    """A command line for progress output: program base name, long arguments elided."""
    text = " ".join([Path(cmd[0]).name, *(Path(a).name if "/" in a else a for a in cmd[1:])])
    return text if len(text) <= width else text[: width - 3] + "..."


def gc() -> list[Path]:
    """Delete set dirs and builds that the current pins do not use; return what was removed."""
    tools = discover()
    keep = {_set_dir(tools)} | {build_dir(t) for t in tools.values()}
    keep |= {snapshot_dir(t) for t in tools.values() if t.snapshot is not None}
    root = tools_cache_root()
    removed = []
    set_name = re.compile(f"[0-9a-f]{{{toolcache.KEY_LEN}}}")
    candidates = [p for p in root.glob("*") if p.is_dir() and set_name.fullmatch(p.name)]
    # dot-dirs under builds/ and src/ are builds or extractions in progress (maybe another
    # process's): leave them
    candidates += [
        p for sub in ("builds", "src") for p in (root / sub).glob("*")
        if p.is_dir() and not p.name.startswith(".")
    ]
    for path in candidates:
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _link(target: Path, link: Path, *, hard: bool = True) -> None:
    """Put ``target`` at ``link``: a hard link inside the cache, else a symlink.

    Hard links matter for pulumi: it looks for its bundled plugins (``pulumi-language-python``)
    next to its resolved executable, and warns about ones found elsewhere on PATH.
    """
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        if not link.is_symlink() and link.exists() and os.path.samefile(link, target):
            return
        link.unlink()
    if hard:
        try:
            os.link(target, link)
            return
        except OSError:
            pass
    link.symlink_to(target)


def _closure(tools: Mapping[str, Tool], names: Sequence[str]) -> list[str]:
    """``names`` plus everything they require, dependencies first."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name not in tools:
            raise ToolError(f"unknown tool {name!r} (known: {', '.join(sorted(tools))})")
        if name in path:
            raise ToolError(f"requires cycle: {' -> '.join((*path, name))}")
        if name in seen:
            return
        for req in tools[name].requires:
            visit(req, (*path, name))
        seen.add(name)
        order.append(name)

    for n in names:
        visit(n, ())
    return order


def ensure(names: list[str] | None = None) -> Path:
    """Build whatever of ``names`` (default: all tools) is missing; return the bin dir.

    Without ``names``, tools that are :func:`unavailable` here are skipped (saying why); a
    named tool that is unavailable (or requires one that is) is an error.

    Safe to call from several processes at once: each tool is installed under its own lock, so
    a long build of one tool does not hold up callers that need only others.
    """
    start = time.monotonic()
    tools = discover()
    wanted = _closure(tools, names if names is not None else sorted(tools))
    missing = {n: r for n in wanted if (r := unavailable(n, tools)) is not None}
    if missing and names is not None:
        raise ToolError("; ".join(missing.values()))
    for reason in missing.values():
        log(f"skipping {reason}")
    wanted = [n for n in wanted if n not in missing]
    set_dir = _set_dir(tools)
    bin_path = set_dir / "bin"
    home = set_dir / "pulumi-home"
    for d in (bin_path, home, set_dir / "stamps", tools_cache_root() / "locks"):
        d.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        tool = tools[name]
        if _installed(tool, set_dir):
            continue
        with toolcache.locked(tools_cache_root() / "locks" / f"{name}.lock"):
            if not _installed(tool, set_dir):  # another process may have finished it meanwhile
                _install(tool, set_dir, bin_path, home)
    log(f"ready: {', '.join(wanted)} in {bin_path} ... {time.monotonic() - start:.1f}s")
    return bin_path


def _installed(tool: Tool, set_dir: Path) -> bool:
    """Post-install done for this set and every bin/ entry present (links can go stale)."""
    return (set_dir / "stamps" / tool.name).exists() and all(
        (set_dir / "bin" / o).exists() for o in tool.bin_outputs
    )


def _install(tool: Tool, set_dir: Path, bin_path: Path, home: Path) -> None:
    reused = _find_reusable(tool, bin_path)
    if reused is not None:
        assert tool.reuse is not None
        log(f"{tool.name}: reusing {reused} (its output has {tool.reuse.expect!r})")
        _link(reused, bin_path / tool.reuse.binary, hard=False)
        if len(tool.bin_outputs) > 1 or len(tool.outputs) > len(tool.bin_outputs):
            _build_missing_or_link(tool, bin_path, home, skip={tool.reuse.binary})
    else:
        _build_missing_or_link(tool, bin_path, home, skip=set())
    env = env_with_tools(None, bin_path=bin_path, home=home)
    env.update(tool.env)
    subst = _Subst(
        tool,
        {"version": tool.version, "bin": str(bin_path), "out": str(build_dir(tool)),
         "pulumi_home": str(home)},
        _go_env(tool),
    )
    for argv in tool.post_install:
        cmd = [subst(a) for a in argv]
        with step(f"{tool.name}: post-install {_short(cmd)}"):
            _run(cmd, cwd=set_dir, env=env, what=f"{tool.name} post-install")
    stamp = set_dir / "stamps" / tool.name
    stamp.write_text(json.dumps({"tool": tool.name, "hash": tool_hash(tool)}) + "\n")


def _build_missing_or_link(tool: Tool, bin_path: Path, home: Path, skip: set[str]) -> None:
    dest = build_dir(tool)
    if not (dest / ".stamp").is_file():
        _build_tool(tool, bin_path, home)
    else:
        log(f"{tool.name}: cached build {dest.name}")
    for out in tool.bin_outputs:
        if out not in skip:
            _link(dest / out, bin_path / out)


# --------------------------------------------------------------------------- environment


def env_with_tools(
    env: Mapping[str, str] | None = None,
    *,
    bin_path: Path | None = None,
    home: Path | None = None,
) -> dict[str, str]:
    """``env`` (default ``os.environ``) with the tool bin dir first on PATH and Pulumi settings.

    PULUMI_HOME points into the tool cache so plugins installed by post-install steps are found
    and nothing is downloaded; update checks are off.
    """
    result = dict(os.environ if env is None else env)
    if bin_path is None or home is None:
        tools = discover()
        set_dir = _set_dir(tools)
        bin_path = bin_path or set_dir / "bin"
        home = home or set_dir / "pulumi-home"
    path = result.get("PATH", os.defpath).split(os.pathsep)
    parts = [p for p in path if p and p != str(bin_path)]
    result["PATH"] = os.pathsep.join([str(bin_path), *parts])
    result["PULUMI_HOME"] = str(home)
    result["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    return result


# --------------------------------------------------------------------------- CLI


def _status(tools: Mapping[str, Tool]) -> list[str]:
    set_dir = _set_dir(tools)
    lines = []
    for name, tool in tools.items():
        installed = (set_dir / "stamps" / name).exists()
        built = (build_dir(tool) / ".stamp").is_file()
        reason = None if installed or built else unavailable(name, tools)
        state = ("installed" if installed else "built" if built
                 else f"unavailable: {reason}" if reason else "missing")
        lines.append(f"{name:<28} {tool.version:<40} {state}")
    return lines


# duplicates: intended: the tool cache's two command lines (this and node/images.main) are alike
# in shape: a build subcommand and listings.
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build missing tools (default: all)")
    b.add_argument("names", nargs="*")
    sub.add_parser("path", help="print the bin dir")
    sub.add_parser("list", help="list tools and their state")
    sub.add_parser("env", help="print export lines for a shell")
    sub.add_parser("gc", help="delete cached builds and bin dirs the current pins do not use")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            ensure(args.names or None)
        elif args.cmd == "path":
            print(bin_dir())
        elif args.cmd == "list":
            print("\n".join(_status(discover())))
        elif args.cmd == "env":
            env = env_with_tools({"PATH": os.environ.get("PATH", os.defpath)})
            for key in ("PATH", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK"):
                print(f"export {key}={_shquote(env[key])}")
        elif args.cmd == "gc":
            for path in gc():
                log(f"removed {path}")
    except ToolError as exc:
        log(f"error: {exc}")
        return 1
    return 0


def _shquote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


if __name__ == "__main__":
    sys.exit(main())
