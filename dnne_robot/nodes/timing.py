"""Durations and checkpoint triggers as the workflows' widgets write them (no torch here:
the exporters check the same values)."""

from __future__ import annotations

import math
import re


def parse_duration(text: str) -> float | None:
    """``"90"``, ``"30s"``, ``"5m"``, ``"1h30m"`` -> seconds; None when it is none of these."""
    parts = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not parts or not any(parts.groups()):
        return None
    h, m, s = parts.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


def checkpoint_trigger_value(kind: str, text: str) -> float:
    """A PPO trainer's ``checkpoint_trigger_value`` for its ``checkpoint_trigger_type``: a
    positive number of updates (``epoch``) or seconds (``time``), any finite number for
    ``best_metric``.

    Raises:
        ValueError: saying what is wrong with ``text``.
    """
    text = str(text).strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (value <= 0 and kind != "best_metric"):
        shown = text if len(text) <= 40 else text[:40] + "..."
        unit = "updates" if kind == "epoch" else "seconds"
        raise ValueError(f"{shown!r} is not a positive number of {unit}")
    return value
