"""Durations as DNNE's widgets write them."""

from __future__ import annotations

import re


def parse_duration(text: str) -> float | None:
    """``"90"``, ``"30s"``, ``"5m"``, ``"1h30m"`` -> seconds; None when it is none of these."""
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not parts or not any(parts.groups()):
        return None
    h, m, s = parts.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)
