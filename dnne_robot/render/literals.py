"""The one place a workflow value becomes Python source.

Every value that reaches generated code goes through :func:`py_literal`. It produces source
that evaluates back to the same value and can never run code: strings are ``repr``-ed (which
escapes quotes, backslashes, newlines and Jinja syntax alike), non-finite floats become
``float("inf")`` / ``float("nan")``, containers recurse, and anything else is refused.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any


class UnsafeLiteralError(ValueError):
    """A value that cannot be written as a safe Python literal."""


MAX_DEPTH = 32


def py_literal(value: Any, _depth: int = 0) -> str:
    """Python source for ``value``.

    Raises:
        UnsafeLiteralError: for types other than None, bool, int, float, str, list, tuple,
            dict (with literal keys) and set/frozenset, or nesting deeper than MAX_DEPTH.
    """
    if _depth > MAX_DEPTH:
        raise UnsafeLiteralError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(float(value))
    if isinstance(value, str):
        text = repr(str(value))
        if text.startswith("'") and '"' not in text:
            text = '"' + text[1:-1] + '"'  # house style: double quotes when nothing changes
        return text
    if isinstance(value, (list, tuple)):
        items = [py_literal(v, _depth + 1) for v in value]
        if isinstance(value, tuple):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise UnsafeLiteralError(f"dict key of type {type(key).__name__}")
            parts.append(f"{py_literal(key, _depth + 1)}: {py_literal(item, _depth + 1)}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, (set, frozenset)):
        items = sorted(py_literal(v, _depth + 1) for v in value)
        if not items:
            return "set()" if isinstance(value, set) else "frozenset()"
        body = "{" + ", ".join(items) + "}"
        return body if isinstance(value, set) else f"frozenset({body})"
    raise UnsafeLiteralError(f"cannot write a {type(value).__name__} as a Python literal")


def comment_text(text: str, limit: int = 80) -> str:
    """Text safe inside a ``#`` comment: one line, printable, bounded."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def docstring_text(text: str, limit: int = 200) -> str:
    """Text safe inside a triple-quoted docstring: one line, no quotes or backslashes."""
    cleaned = comment_text(text, limit)
    return cleaned.replace("\\", "/").replace('"', "'")


def docstring_block(text: str, indent: int = 0, width: int = 96) -> str:
    """A whole docstring (quotes included), wrapped to ``width`` at ``indent``."""
    pad = " " * indent
    body = docstring_text(text, 400)
    lines = textwrap.wrap(body, width=width - indent - 3) or [""]
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    return '"""' + f"\n{pad}".join(lines) + f'\n{pad}"""'
