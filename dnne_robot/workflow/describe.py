"""Short, one-line renderings of hostile file text (titles, ids) for messages.

Titles and ids are stored untouched in the model; only the reader's own messages go through
here, so a newline or a 100k-character title cannot break a one-line warning.
"""

from __future__ import annotations

from typing import Any


def short(text: str, limit: int = 60, *, quote_always: bool = True) -> str:
    """``text`` on one line, at most about ``limit`` characters.

    Printable text without quotes or backslashes is returned bare when ``quote_always`` is
    false; anything else is ``repr``-escaped so control characters cannot reach the output.
    """
    clipped = text if len(text) <= limit else text[:limit]
    plain = clipped.isprintable() and not any(c in clipped for c in "'\"\\")
    body = clipped if plain and not quote_always else repr(clipped)
    if len(text) > limit:
        body += f"...(+{len(text) - limit} chars)"
    return body


def node_ref(node_id: str, title: str | None = None, class_type: str | None = None) -> str:
    """How reader notes name a node: ``#12 'PPO Agent' (PPOAgent)``."""
    ref = f"#{short_id(node_id)}"
    if title is not None and title != class_type:
        ref += f" {short(title)}"
    if class_type is not None:
        ref += f" ({short(class_type, 60, quote_always=False)})"
    return ref


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def short_id(node_id: str) -> str:
    """A node id for messages: bare when printable, escaped otherwise, clipped to 40 chars."""
    return short(node_id, 40, quote_always=False)
