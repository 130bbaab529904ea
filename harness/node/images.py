"""Container images for the embedded node, built without a Docker engine.

Declarations live in ``images.toml`` next to this module (its header documents the format).
:func:`build` turns each declaration into a spec for ``imagetool`` (``tools/imagetool``, on
go-containerregistry) and keeps the resulting image tarball in the tool cache::

    <tools_cache_root>/images/<name>-<key>.tar    the image (docker-archive layout)
    <tools_cache_root>/images/<name>-<key>.json   its config digest, manifest digest, refs

``<key>`` hashes the resolved spec: the tool builds it uses (their paths carry the tool
hash), the host files' paths, sizes and mtimes with their Debian package versions, the Go
sources of this repository's own binaries, and the imagetool build. A warm call costs a few
``stat`` calls per file (and reading the Go module it builds). :func:`import_into` loads the
images into the node's containerd (namespace ``k8s.io``, where the CRI plugin looks) unless
each reference already names the same image.

An image whose tools are unavailable here (a third-party source snapshot is missing:
``harness.tools.unavailable``) is skipped by a build of everything; :func:`unavailable` and
:func:`available` tell other code (tests that need such an image) whether it is built and why
not.

Usage: ``python -m harness.node.images build [names...] | list``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness import toolcache, tools
from harness.paths import REPO_ROOT, tools_cache_root

DECLARATIONS = Path(__file__).with_name("images.toml")
K8S_NAMESPACE = "k8s.io"
"""containerd namespace of the CRI plugin: images imported elsewhere are invisible to pods."""
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
"""CRI image label that keeps the kubelet's image garbage collector off an image."""
TOOLBOX_IMAGE = "netplumb.local/toolbox:1.35.0"
"""The busybox toolbox (ip, ping, sleep, sh) for test and probe pods."""
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
"""containerd's sandbox image."""


class ImageError(RuntimeError):
    """A declaration is wrong, an input is missing, or building/importing failed."""


# --------------------------------------------------------------------------- declarations


# duplicates: intended: optional fields of a record, alike in shape only to
# netplumb/kube.Credentials and to target.Target.
@dataclass(frozen=True)
class FileSource:
    """One file (or every ``glob`` match of a host directory) to put into an image."""

    to: str
    tool: str | None = None
    output: str | None = None
    host: str | None = None
    deb: str | None = None
    libs: bool = False
    mode: int | None = None
    glob: str | None = None
    """Set for a directory source: ``host`` is a directory, ``to`` its place in the image."""
    text: str | None = None
    """The file's content, given in the declaration."""
    go: str | None = None
    """A main package of this repository (``node/cmd/netplumb-node``), built here."""
    ldflags: tuple[str, ...] = ()
    """``-X`` flags of a ``go`` build (``-s -w`` are always given)."""
    sums: bool = False
    """A ``SHA256SUMS`` manifest (as ``sha256sum`` writes it) of every other file in the
    same image directory."""


@dataclass(frozen=True)
class Image:
    name: str
    refs: tuple[str, ...]
    upstream: str
    differs: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = ""
    dirs: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    files: tuple[FileSource, ...] = ()
    applets: tuple[str, tuple[str, ...]] | None = None
    """(binary in the image, host command listing its applet names)."""


@dataclass(frozen=True)
class Unbuildable:
    refs: tuple[str, ...]
    reason: str


def _strs(raw: Any, where: str) -> tuple[str, ...]:
    return toolcache.strings(raw, where, ImageError)


_FILE_KEYS = {"to", "tool", "output", "host", "deb", "libs", "mode", "glob", "text", "go",
              "ldflags", "sums"}


def _file(raw: Any, where: str, *, directory: bool) -> FileSource:
    if not isinstance(raw, dict) or set(raw) - _FILE_KEYS:
        raise ImageError(f"{where}: expected a table with keys from {sorted(_FILE_KEYS)}")
    src = FileSource(
        to=str(raw.get("to", raw.get("host", ""))), tool=raw.get("tool"),
        output=raw.get("output"), host=raw.get("host"), deb=raw.get("deb"),
        libs=bool(raw.get("libs", False)), mode=raw.get("mode"),
        glob=raw.get("glob", "*") if directory else None, text=raw.get("text"),
        go=raw.get("go"), ldflags=_strs(raw.get("ldflags"), f"{where} ldflags"),
        sums=bool(raw.get("sums", False)))
    if not src.to.startswith("/"):
        raise ImageError(f"{where}: `to` must be an absolute path in the image")
    if directory and src.host is None:
        raise ImageError(f"{where}: an [[image.dir]] needs `host`")
    kinds = sum(x is not None for x in (src.tool, src.host, src.text, src.go)) + src.sums
    if kinds != 1 or (src.tool is not None) != (src.output is not None):
        raise ImageError(f"{where}: give exactly one of tool + output, host, text, go, sums")
    if src.ldflags and src.go is None:
        raise ImageError(f"{where}: ldflags belong to a `go` build")
    return src


def load(path: Path = DECLARATIONS) -> tuple[dict[str, Image], list[Unbuildable]]:
    """The image declarations by name, and the images declared unbuildable."""
    where = path.name
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImageError(f"{where}: {exc}") from exc
    images: dict[str, Image] = {}
    for i, raw in enumerate(data.get("image", [])):
        at = f"{where} image[{i}]"
        name = raw.get("name")
        if not isinstance(name, str) or not name or name in images:
            raise ImageError(f"{at}: missing or repeated name {name!r}")
        applets = None
        if "applets" in raw:
            a = raw["applets"]
            applets = (str(a["binary"]), _strs(a.get("list"), f"{at} applets.list"))
        links = raw.get("links", {})
        if not isinstance(links, dict) or not all(isinstance(v, str) for v in links.values()):
            raise ImageError(f"{at}: links must map paths to link targets")
        images[name] = Image(
            name=name, refs=_strs(raw.get("refs"), f"{at} refs"),
            upstream=str(raw.get("upstream", "")), differs=str(raw.get("differs", "")),
            entrypoint=_strs(raw.get("entrypoint"), f"{at} entrypoint"),
            cmd=_strs(raw.get("cmd"), f"{at} cmd"), env=_strs(raw.get("env"), f"{at} env"),
            workdir=str(raw.get("workdir", "")), dirs=_strs(raw.get("dirs"), f"{at} dirs"),
            links=dict(links),
            files=tuple(
                [_file(f, f"{at} file[{j}]", directory=False)
                 for j, f in enumerate(raw.get("file", []))]
                + [_file(d, f"{at} dir[{j}]", directory=True)
                   for j, d in enumerate(raw.get("dir", []))]),
            applets=applets)
        if not images[name].refs:
            raise ImageError(f"{at}: no refs")
    unbuildable = [Unbuildable(_strs(u.get("refs"), f"{where} unbuildable"), str(u["reason"]))
                   for u in data.get("unbuildable", [])]
    return images, unbuildable


def all_refs() -> dict[str, str]:
    """Every reference the node has an image for, mapped to the image's name."""
    images, _ = load()
    return {ref: img.name for img in images.values() for ref in img.refs}


def _normalise(ref: str) -> str:
    """A reference as containerd names it (``busybox:1.36`` -> ``docker.io/library/...``)."""
    first = ref.split("/")[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{ref}"
    return ref


def _unbuilt_reason(img: Image, all_tools: Mapping[str, tools.Tool]) -> str | None:
    for name in sorted({f.tool for f in img.files if f.tool is not None}):
        if name in all_tools:  # an unknown tool is resolve()'s error
            reason = tools.unavailable(name, all_tools)
            if reason is not None:
                return f"image {img.name} needs tool {reason}"
    return None


def unavailable(image: str) -> str | None:
    """Why ``image`` (a declared name or one of its references) is not built on this machine,
    in one line, or None when it is built here. A reference declared ``[[unbuildable]]`` gives
    that declaration's reason; a reference declared nowhere is an :class:`ImageError`."""
    declared, unbuildable = load()
    img = declared.get(image)
    if img is None:
        by_ref = {_normalise(r): i for i in declared.values() for r in i.refs}
        img = by_ref.get(_normalise(image))
    if img is None:
        for u in unbuildable:
            if _normalise(image) in {_normalise(r) for r in u.refs}:
                return u.reason
        raise ImageError(f"no image is declared as {image!r} (harness/node/images.toml)")
    return _unbuilt_reason(img, tools.discover())


def available(image: str) -> bool:
    """Whether ``image`` (a name or a reference) is built on this machine."""
    return unavailable(image) is None


# --------------------------------------------------------------------------- resolving


@cache
def _deb_files(package: str) -> frozenset[str]:
    proc = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise ImageError(f"Debian package {package} is not installed (apt-get install "
                         f"{package}; .ci/run does it)")
    return frozenset(line.strip() for line in proc.stdout.splitlines() if line.strip())


@cache
def _deb_version(package: str) -> str:
    _deb_files(package)
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                          text=True, check=True).stdout.strip()


def _owned(package: str, path: str) -> bool:
    """dpkg lists paths as the package ships them; /bin and /usr/bin are one on merged-/usr."""
    files = _deb_files(package)
    real = os.path.realpath(path)
    candidates = {path, real}
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.add(p[4:])
        else:
            candidates.add("/usr" + p)
    return any(c in files for c in candidates)


def _shared_libraries(path: str) -> list[str]:
    """Paths (as the loader asks for them) of the shared libraries ``path`` needs."""
    proc = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if "not a dynamic executable" in proc.stdout + proc.stderr:
            return []
        raise ImageError(f"ldd {path}: {proc.stderr.strip() or proc.stdout.strip()}")
    libs = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                libs.append(target)
            elif target == "not":
                raise ImageError(f"{path}: shared library {parts[0]} not found")
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def _text_file(text: str, digest: str) -> Path:
    """A cache file holding ``text`` (named by its digest), for entries given as content."""
    return toolcache.write_once(images_dir() / "texts" / f"{digest}.txt", text)


def _sha256sums(entries: Iterable[Mapping[str, Any]], directory: str, manifest: str) -> str:
    """``sha256sum``'s output for the image's files directly in ``directory``, sorted."""
    lines = []
    for e in entries:
        path = str(e["path"])
        if e["type"] == "file" and os.path.dirname(path) == directory and path != manifest:
            lines.append(f"{toolcache.file_sha256(e['source'])}  {os.path.basename(path)}\n")
    if not lines:
        raise ImageError(f"{manifest}: no files in {directory} to list")
    return "".join(sorted(lines, key=lambda line: line[66:]))


def _go_module(package_dir: Path) -> Path:
    for d in (package_dir, *package_dir.parents):
        if (d / "go.mod").is_file():
            return d
        if d == REPO_ROOT:
            break
    raise ImageError(f"{package_dir}: not inside a Go module of this repository")


def build_go(package: str, ldflags: Sequence[str] = ()) -> tuple[Path, str]:
    """Build a main package of this repository (``CGO_ENABLED=0``, ``-trimpath``, ``-s -w``
    plus ``ldflags``) into the image cache; return the binary and its cache key.

    The key hashes the Go version, the package, the flags and every ``go.mod``, ``go.sum`` and
    non-test ``.go`` file of its module, so a change to the sources builds it again.
    """
    package_dir = (REPO_ROOT / package).resolve()
    if not package_dir.is_dir() or not package_dir.is_relative_to(REPO_ROOT):
        raise ImageError(f"go = {package!r}: no such package directory in this repository")
    module = _go_module(package_dir)
    h = hashlib.sha256()
    h.update(f"{tools.go_version()}\0{package}\0{' '.join(ldflags)}\0".encode())
    sources = sorted(p for p in module.rglob("*") if p.is_file() and (
        p.name in ("go.mod", "go.sum")
        or (p.suffix == ".go" and not p.name.endswith("_test.go"))))
    for p in sources:
        h.update(str(p.relative_to(module)).encode() + b"\0" + p.read_bytes() + b"\0")
    key = toolcache.key(h)
    name = package_dir.name
    dest = images_dir() / "go" / f"{name}-{key}"
    binary = dest / name
    with toolcache.locked(images_dir() / "locks" / f"go-{name}.lock"):
        if binary.is_file():
            return binary, key
        env = dict(os.environ, CGO_ENABLED="0")
        goflags = env.get("GOFLAGS", "").split()
        env["GOFLAGS"] = " ".join([*goflags, *(f for f in ("-trimpath", "-mod=readonly")
                                              if f not in goflags)])
        with toolcache.building(dest, prefix=f".{name}-") as (_, out):
            proc = subprocess.run(
                ["go", "build", "-o", str(out / name),
                 "-ldflags=" + " ".join(["-s", "-w", *ldflags]),
                 "./" + str(package_dir.relative_to(module))],
                cwd=module, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise ImageError(f"go build {package}: {(proc.stdout + proc.stderr).strip()}")
    return binary, key


@dataclass
class _Resolved:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    identity: list[Any] = field(default_factory=list)

    def add_file(self, to: str, source: str, mode: int | None, ident: Any) -> None:
        st = os.stat(source)
        entry = {"path": to, "type": "file", "source": source,
                 "mode": mode if mode is not None else st.st_mode & 0o7777}
        prev = self.entries.get(to)
        if prev is not None and prev != entry:
            raise ImageError(f"{to}: two different sources ({prev.get('source')}, {source})")
        self.entries[to] = entry
        self.identity.append([to, source, st.st_size, st.st_mtime_ns, ident])


def resolve(image: Image) -> tuple[dict[str, Any], str]:
    """The imagetool spec of ``image`` and its cache key."""
    out = _Resolved()
    all_tools = tools.discover()

    def host_file(to: str, host: str, src: FileSource) -> None:
        if not os.path.isfile(host):
            raise ImageError(f"{image.name}: host file {host} is missing")
        ident: Any = None
        if src.deb is not None:
            if not _owned(src.deb, host):
                raise ImageError(f"{image.name}: {host} is not a file of Debian package "
                                 f"{src.deb}")
            ident = f"{src.deb}={_deb_version(src.deb)}"
        out.add_file(to, os.path.realpath(host), src.mode, ident)
        if src.libs:
            for lib in _shared_libraries(host):
                out.add_file(lib, os.path.realpath(lib), None, "lib")

    for src in image.files:
        if src.text is not None:
            digest = toolcache.text_key(src.text)
            out.add_file(src.to, str(_text_file(src.text, digest)),
                         src.mode if src.mode is not None else 0o644, digest)
        elif src.tool is not None:
            assert src.output is not None
            if src.tool not in all_tools:
                raise ImageError(f"{image.name}: unknown tool {src.tool!r}")
            tool = all_tools[src.tool]
            if src.output not in tool.outputs:
                raise ImageError(f"{image.name}: tool {src.tool} has no output {src.output!r}")
            path = tools.build_dir(tool) / src.output
            if not path.is_file():
                raise ImageError(f"{image.name}: {path} is not built (make tools)")
            out.add_file(src.to, str(path), src.mode if src.mode is not None else 0o755,
                         tools.tool_hash(tool))
        elif src.go is not None:
            built, key = build_go(src.go, src.ldflags)
            out.add_file(src.to, str(built), src.mode if src.mode is not None else 0o755, key)
        elif src.sums:
            continue
        elif src.glob is not None:
            assert src.host is not None
            names = sorted(n for n in os.listdir(src.host) if fnmatch.fnmatch(n, src.glob))
            if not names:
                raise ImageError(f"{image.name}: nothing matches {src.host}/{src.glob}")
            for n in names:
                host_file(f"{src.to.rstrip('/')}/{n}", f"{src.host}/{n}", src)
        else:
            assert src.host is not None
            host_file(src.to, src.host, src)
    for src in image.files:
        if src.sums:
            text = _sha256sums(out.entries.values(), os.path.dirname(src.to), src.to)
            digest = toolcache.text_key(text)
            out.add_file(src.to, str(_text_file(text, digest)),
                         src.mode if src.mode is not None else 0o644, digest)
    entries = list(out.entries.values())
    for d in image.dirs:
        entries.append({"path": d, "type": "dir", "mode": 0o1777 if d == "/tmp" else 0o755})
    links = dict(image.links)
    if image.applets is not None:
        binary, argv = image.applets
        listed = subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout
        base = os.path.dirname(binary)
        for applet in listed.split():
            links.setdefault(f"{base}/{applet}", os.path.basename(binary))
        out.identity.append(["applets", sorted(listed.split())])
    taken = {e["path"] for e in entries}
    for link_path, target in sorted(links.items()):
        if link_path not in taken:
            entries.append({"path": link_path, "type": "symlink", "target": target})
    spec: dict[str, Any] = {
        "refs": list(image.refs), "entrypoint": list(image.entrypoint), "cmd": list(image.cmd),
        "env": list(image.env), "workingDir": image.workdir,
        "labels": {"org.opencontainers.image.description": image.differs,
                   "dev.netplumb.upstream": image.upstream},
        "entries": sorted(entries, key=lambda e: str(e["path"])),
    }
    imagetool = all_tools["imagetool"]
    key_src = json.dumps({"spec": spec, "inputs": out.identity,
                          "imagetool": tools.tool_hash(imagetool)}, sort_keys=True, default=str)
    return spec, toolcache.text_key(key_src)


# --------------------------------------------------------------------------- building


# duplicates: intended: a frozen record, alike in shape only to netplumb's checks/quotas._Hard.
@dataclass(frozen=True)
class Built:
    name: str
    tarball: Path
    config: str
    """Config digest (``sha256:…``): the image ID containerd and the CRI report."""
    refs: tuple[str, ...]


def images_dir() -> Path:
    return tools_cache_root() / "images"


def _tools_needed(images: Sequence[Image]) -> list[str]:
    names = {"imagetool"}
    for img in images:
        names |= {f.tool for f in img.files if f.tool is not None}
    return sorted(names)


def build(names: Sequence[str] | None = None, *, say: Any = None) -> dict[str, Built]:
    """Build (or find in the cache) the named images, default all; return them by name.

    Without ``names``, images that are :func:`unavailable` here are skipped (``say`` tells
    why); a named one is an error."""
    declared, _ = load()
    wanted = list(names) if names else sorted(declared)
    unknown = [n for n in wanted if n not in declared]
    if unknown:
        raise ImageError(f"unknown images {unknown} (declared: {sorted(declared)})")
    all_tools = tools.discover()
    skipped = {n: r for n in wanted if (r := _unbuilt_reason(declared[n], all_tools))}
    if skipped and names:
        raise ImageError("; ".join(skipped.values()))
    for reason in skipped.values():
        if say:
            say(f"skipping {reason}")
    images = [declared[n] for n in wanted if n not in skipped]
    tools.ensure(_tools_needed(images))
    imagetool = tools.build_dir(tools.discover()["imagetool"]) / "imagetool"
    result: dict[str, Built] = {}
    for img in images:
        spec, key = resolve(img)
        tar = images_dir() / f"{img.name}-{key}.tar"
        meta = tar.with_suffix(".json")
        with toolcache.locked(images_dir() / "locks" / f"{img.name}.lock"):
            if not (tar.is_file() and meta.is_file()):
                if say:
                    say(f"building image {img.name} ({', '.join(img.refs)})")
                with tempfile.NamedTemporaryFile("w", suffix=".json", dir=images_dir(),
                                                 delete=False) as fh:
                    json.dump(spec, fh)
                try:
                    proc = subprocess.run(
                        [str(imagetool), "build", "-spec", fh.name, "-out", str(tar)],
                        capture_output=True, text=True, check=False)
                finally:
                    os.unlink(fh.name)
                if proc.returncode != 0:
                    raise ImageError(f"imagetool {img.name}: {proc.stderr.strip()}")
                meta.write_text(proc.stdout)
        info = json.loads(meta.read_text())
        result[img.name] = Built(img.name, tar, str(info["config"]), img.refs)
    return result


# --------------------------------------------------------------------------- importing


def import_into(ctr: Sequence[str], built: Mapping[str, Built], *,
                say: Any = None) -> list[str]:
    """Import every image whose references are not all there yet; return their names.
    ``ctr``: the command line of ``ctr`` against the node's containerd (entering the node's
    namespaces).

    ``ctr images list`` shows the manifest digest, which containerd computes itself when it
    imports a docker archive, so the check is by reference; a rebuilt image (new cache key)
    is imported again because its tarball's name is recorded in a label.
    """
    present = _labelled(ctr)
    done = []
    for img in built.values():
        if all(present.get(ref) == img.tarball.name for ref in img.refs):
            continue
        if say:
            say(f"importing image {img.name}")
        _ctr(ctr, "images", "import", str(img.tarball))
        for ref in img.refs:
            _ctr(ctr, "images", "label", ref, PINNED_LABEL,
                 f"dev.netplumb.tarball={img.tarball.name}")
        done.append(img.name)
    return done


def _labelled(ctr: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in _ctr(ctr, "images", "list", timeout=60).splitlines()[1:]:
        parts = line.split()
        if not parts:
            continue
        for label in parts[-1].split(","):
            key, _, value = label.partition("=")
            if key == "dev.netplumb.tarball":
                out[parts[0]] = value
    return out


def _ctr(ctr: Sequence[str], *args: str, timeout: float = 300) -> str:
    proc = subprocess.run([*ctr, "--namespace", K8S_NAMESPACE, *args],
                          capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise ImageError(f"ctr {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------- CLI


# duplicates: intended: alike in shape to tools.main, the tool cache's other command line.
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.node.images", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build missing images (default: all)")
    b.add_argument("names", nargs="*")
    sub.add_parser("list", help="declared images, their references and cache state")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "build":
            say = lambda m: print(f"[images] {m}", file=sys.stderr)  # noqa: E731
            for built in build(args.names or None, say=say).values():
                print(f"{built.name:<20} {built.config[:19]}  {built.tarball}")
        else:
            images, unbuildable = load()
            all_tools = tools.discover()
            for img in images.values():
                reason = _unbuilt_reason(img, all_tools)
                note = f" (not built here: {reason})" if reason else ""
                print(f"{img.name:<28} {', '.join(img.refs)}{note}")
            for u in unbuildable:
                print(f"{'(not built)':<28} {', '.join(u.refs)}: {u.reason}")
    except (ImageError, tools.ToolError) as exc:
        print(f"[images] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
