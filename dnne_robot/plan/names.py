"""Identifiers and file names made from hostile workflow text (titles, ids)."""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata

_RESERVED = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))


def _ascii_words(text: str) -> list[str]:
    normalized = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return [w for w in re.split(r"[^0-9A-Za-z]+", normalized) if w]


def snake(text: str, fallback: str = "node", limit: int = 40) -> str:
    """A lowercase snake_case identifier (no keyword or builtin, never empty)."""
    name = "_".join(w.lower() for w in _ascii_words(text))[:limit].strip("_") or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in _RESERVED:
        name += "_"
    return name


def camel(text: str, fallback: str = "Node", limit: int = 40) -> str:
    """A CamelCase class name (ASCII letters and digits)."""
    name = "".join(w[:1].upper() + w[1:] for w in _ascii_words(text))[:limit] or fallback
    if name[0].isdigit():
        name = f"{fallback}{name}"
    if name in _RESERVED:
        name += "_"
    return name


class NameAllocator:
    """Hands out unique names: a clash gets ``_2``, ``_3``, ... in allocation order."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, name: str) -> str:
        candidate, n = name, 2
        while candidate.lower() in self._used:
            candidate = f"{name}_{n}"
            n += 1
        self._used.add(candidate.lower())
        return candidate
