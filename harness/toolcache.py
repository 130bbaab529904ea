"""The tool cache's small parts, shared by :mod:`harness.tools` and :mod:`harness.node.images`:
content keys, locks between processes, entries built beside their place and renamed into it,
and the string lists their declarations (``tool.toml``, ``images.toml``) hold.

A key is the first :data:`KEY_LEN` hex digits of a sha256; every name in the cache carries
one, so a key computed here must stay the same for the same content.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KEY_LEN = 16
"""Hex digits of a cache key."""


def key(h: hashlib._Hash) -> str:
    """The cache key of what ``h`` has hashed."""
    return h.hexdigest()[:KEY_LEN]


def text_key(text: str) -> str:
    """The cache key of ``text``."""
    return key(hashlib.sha256(text.encode()))


def file_sha256(path: Path | str) -> str:
    """The full sha256 of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (made, with its directory, if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def building(dest: Path, *, prefix: str) -> Iterator[tuple[Path, Path]]:
    """``(scratch, out)``: a temporary directory beside ``dest`` (a dot-name starting with
    ``prefix``, on the same file system) and the empty directory ``out`` inside it.

    When the block ends without an error, ``out`` replaces ``dest`` (whatever was there is
    removed) by one rename, so a reader sees either no entry or a whole one; the scratch
    directory is removed either way."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=dest.parent) as tmp:
        scratch = Path(tmp)
        out = scratch / "out"
        out.mkdir()
        yield scratch, out
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)


def write_once(path: Path, text: str) -> Path:
    """``path`` holding ``text``: written to a file of this process and renamed into place,
    unless it exists (its name is a key of its content)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return path


def strings(raw: Any, where: str, error: type[Exception]) -> tuple[str, ...]:
    """A declaration's list of strings (absent: empty); anything else raises ``error``."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise error(f"{where}: expected a list of strings, got {raw!r}")
    return tuple(raw)
