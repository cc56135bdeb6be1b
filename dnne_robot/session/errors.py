"""Errors the runner's commands report as one line (exit code 1)."""

from __future__ import annotations


class RunnerError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def one_line(exc: BaseException) -> str:
    """An error for the terminal: one line, control characters from workflow text escaped."""
    text = str(exc)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
