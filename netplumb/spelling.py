"""The nearest valid word: what a misspelt key or type most likely meant, and the names a
mistyped name most likely meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _fold(word: str) -> str:
    """Case and separators folded: ``range_start``, ``rangeStart`` and ``Range-Start`` meet."""
    return word.lower().replace("_", "").replace("-", "")


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring characters (``macvlna`` is one step from ``macvlan``)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def nearest(word: str, candidates: Iterable[str], *, strict: bool = False) -> str | None:
    """The candidate ``word`` most likely misspells, or None if none is close.

    Case and ``_``/``-`` differences always match. Otherwise a keyword may be up to a
    third of its length away (at most 3 edits); ``strict`` (plugin types, where a short
    unknown name is often a real third-party plugin) allows one edit, two from 9 characters.
    """
    folded = _fold(word)
    best: tuple[int, str] | None = None
    for cand in candidates:
        if cand == word:
            return None
        if _fold(cand) == folded:
            return cand
        limit = (1 if len(word) < 9 else 2) if strict else min(3, max(1, len(word) // 3))
        if strict and len(word) < 4:
            continue
        d = edit_distance(folded, _fold(cand))
        if d <= limit and (best is None or d < best[0]):
            best = (d, cand)
    return best[1] if best else None


def similar_names(word: str, candidates: Iterable[str], n: int = 2) -> list[str]:
    """Up to ``n`` of ``candidates`` that look like ``word``, best first (difflib's ratio of
    at least 0.6): for names a user chose, such as a NAD's, where a longer or shorter variant
    (``storage`` for ``storage-net``) counts as much as a misspelling. :func:`nearest` is for
    a fixed vocabulary of keys and types."""
    return difflib.get_close_matches(word, list(candidates), n=n)


def unknown_key_message(key: object, known: Iterable[str]) -> str:
    """``unknown field 'mastr'; did you mean 'master'?`` (or the valid keys, when none is
    close)."""
    names = sorted(set(known))
    hint = nearest(key, names) if isinstance(key, str) else None
    if hint is not None:
        return f"unknown field {key!r}; did you mean {hint!r}?"
    return f"unknown field {key!r}; expected one of: {', '.join(names)}"
