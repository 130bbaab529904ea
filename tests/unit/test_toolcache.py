"""The tool cache's small parts: keys that do not change, entries that appear whole or not at
all, and the declarations' string lists."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness import toolcache


def test_keys_are_the_first_16_hex_digits_of_a_sha256() -> None:
    # every name in the cache carries such a key: a changed key would orphan the cache
    assert toolcache.KEY_LEN == 16
    assert toolcache.text_key("abc") == hashlib.sha256(b"abc").hexdigest()[:16]
    h = hashlib.sha256(b"x")
    assert toolcache.key(h.copy()) == h.hexdigest()[:16]


def test_file_sha256(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"y" * (3 << 20))
    assert toolcache.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_an_entry_is_renamed_in_whole_and_replaces_the_old(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "tool-0123"
    dest.mkdir(parents=True)
    (dest / "stale").write_text("old")
    with toolcache.building(dest, prefix=".tool-") as (scratch, out):
        assert out.parent == scratch and scratch.parent == dest.parent
        (out / "bin").write_text("new")
    assert sorted(p.name for p in dest.iterdir()) == ["bin"]
    assert [p.name for p in dest.parent.iterdir()] == ["tool-0123"]


def test_a_failed_build_leaves_no_entry_and_no_scratch(tmp_path: Path) -> None:
    dest = tmp_path / "tool-0123"
    with pytest.raises(RuntimeError), toolcache.building(dest, prefix=".tool-") as (_, out):
        (out / "half").write_text("")
        raise RuntimeError("build failed")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_write_once_keeps_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "texts" / "k.txt"
    assert toolcache.write_once(path, "one").read_text() == "one"
    assert toolcache.write_once(path, "two").read_text() == "one"
    assert [p.name for p in path.parent.iterdir()] == ["k.txt"]


def test_locked_makes_its_file(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "a.lock"
    with toolcache.locked(lock), toolcache.locked(tmp_path / "locks" / "b.lock"):
        assert lock.exists()


def test_string_lists() -> None:
    assert toolcache.strings(None, "x", ValueError) == ()
    assert toolcache.strings(["a", "b"], "x", ValueError) == ("a", "b")
    with pytest.raises(KeyError, match=r"tool\.toml requires: expected a list of strings"):
        toolcache.strings(["a", 1], "tool.toml requires", KeyError)
