"""Python literals laid out to fit a line length, built on :func:`py_literal`.

:func:`py_literal` writes a value on one line. Catalog values (tooltips, COMBO choices, whole
``INPUT_TYPES`` dicts) can be longer than the 100 columns generated code must keep to, so
:func:`py_block` breaks a value the way a formatter would: a container that does not fit gets
one item per line, and a string that does not fit becomes implicitly concatenated pieces in
parentheses. Every piece of source it emits is still :func:`py_literal`'s, so the result
evaluates back to exactly the value it was given.
"""

from __future__ import annotations

import re
from typing import Any

from .literals import comment_text, py_literal

INDENT = 4
#: Below this many columns a string is cut character by character rather than at spaces.
MIN_PIECE = 12


def py_block(value: Any, indent: int = 0, lead: int = 0, trail: int = 1, width: int = 100) -> str:
    """Source for ``value`` that keeps every line within ``width`` columns where it can.

    Args:
        value: any value :func:`py_literal` accepts.
        indent: the column of the line the value starts on (continuation lines are indented
            relative to it).
        lead: characters on that line before the value, beyond ``indent`` (``"key": `` ...).
        trail: characters after the value's last line (a trailing comma, a closing bracket).
        width: the line length to keep to.

    Returns:
        Source text; its first line goes after the ``lead`` text, its last line ends with
        the closing bracket at column ``indent``.
    """
    flat = py_literal(value)
    if indent + lead + len(flat) + trail <= width:
        return flat
    inner = indent + INDENT
    pad = " " * inner
    if isinstance(value, str):
        pieces = split_string(value, max(width - inner, MIN_PIECE))
        if len(pieces) < 2 and inner + len(flat) > width:
            return flat  # one unbreakable piece that does not fit anywhere
        body = "".join(f"{pad}{py_literal(piece)}\n" for piece in pieces)
        return f"(\n{body}{' ' * indent})"
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            key_src = py_literal(key)
            lines.append(f"{pad}{key_src}: {py_block(item, inner, len(key_src) + 2, 1, width)},")
        return "{\n" + "\n".join(lines) + f"\n{' ' * indent}}}"
    if isinstance(value, (list, tuple)) and value:
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        lines = [f"{pad}{py_block(item, inner, 0, 1, width)}," for item in value]
        return opening + "\n" + "\n".join(lines) + f"\n{' ' * indent}{closing}"
    return flat  # a number, set or empty container: nothing to break


def split_string(text: str, budget: int) -> list[str]:
    """Cut ``text`` into pieces whose literals are at most ``budget`` characters long.

    Cuts fall after whitespace where possible, so each piece ends with its space and the
    next starts with a word. ``"".join(pieces) == text``.
    """
    words = re.findall(r"\S+\s*|\s+", text)
    pieces: list[str] = []
    current = ""
    for word in words:
        if len(py_literal(current + word)) <= budget:
            current += word
            continue
        if current:
            pieces.append(current)
            current = ""
        if len(py_literal(word)) <= budget:
            current = word
            continue
        for ch in word:  # one word longer than a line: cut it anywhere
            if current and len(py_literal(current + ch)) > budget:
                pieces.append(current)
                current = ""
            current += ch
    if current or not pieces:
        pieces.append(current)
    return pieces


def py_assignment(name: str, value: Any, comment: str = "", indent: int = 4,
                  width: int = 100) -> str:
    """``NAME = value  # comment`` on one line when it fits; else the comment on a line of
    its own above, and the value spread over lines (``indent`` is the line's own)."""
    pad = " " * indent
    note = comment_text(comment) if comment else ""
    line = f"{name} = {py_literal(value)}"
    if len(pad) + len(line) + (len(note) + 4 if note else 0) <= width:
        return f"{line}  # {note}" if note else line
    above = f"# {note}\n{pad}" if note else ""
    return f"{above}{name} = {py_block(value, indent, len(name) + 3, 0, width)}"
