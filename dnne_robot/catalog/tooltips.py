"""One-line tooltips for every input and output, as ComfyUI shows them on hover.

A catalog entry's own ``tooltip`` wins; otherwise the line says what the catalog knows: the
kind of value, its range or choices and its default, or the type a socket carries. A setting
that has no effect here says so and why.
"""

from __future__ import annotations

import math
from typing import Any

from .spec import InputSpec, OutputSpec

MAX_CHOICES = 8


def humanize(name: str) -> str:
    """``learning_rate`` -> ``Learning rate``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def input_tooltip(inp: InputSpec) -> str:
    text = inp.tooltip or _generated(inp)
    if inp.unused:
        text = f"{text.rstrip('.')}. No effect here: {inp.unused}."
    return text


def output_tooltip(out: OutputSpec) -> str:
    return out.tooltip or f"{humanize(out.name)} ({out.type})."


def _generated(inp: InputSpec) -> str:
    name = humanize(inp.name)
    if not inp.is_widget:
        how = {"all": ", every link into it", "any": ", the first of its links to send"}
        return f"{name}: a {inp.type} link{how.get(inp.mode, '')}."
    if inp.choices is not None:
        shown = ", ".join(_value(c) for c in inp.choices[:MAX_CHOICES])
        more = ", ..." if len(inp.choices) > MAX_CHOICES else ""
        return f"{name}: one of {shown}{more} (default {_value(inp.default)})."
    if inp.type in ("INT", "FLOAT"):
        kind = "a whole number" if inp.type == "INT" else "a number"
        return f"{name}: {kind}{_range(inp)}, default {_value(inp.default)}."
    if inp.type == "BOOLEAN":
        return f"{name}: on or off (default {'on' if inp.default else 'off'})."
    return f"{name}: text (default {_value(inp.default)})."


def _range(inp: InputSpec) -> str:
    lo = inp.min if inp.min is not None and math.isfinite(inp.min) else None
    hi = inp.max if inp.max is not None and math.isfinite(inp.max) else None
    if lo is not None and hi is not None:
        return f" from {_value(lo)} to {_value(hi)}"
    if lo is not None:
        return f" of at least {_value(lo)}"
    if hi is not None:
        return f" of at most {_value(hi)}"
    return ""


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, str):
        return repr(value) if value else "empty"
    return str(value)
