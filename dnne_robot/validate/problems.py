"""Typed validation problems and the error that carries them all at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) with a workflow, pinned to a node and field."""

    message: str
    node_id: str | None = None
    title: str | None = None
    class_type: str | None = None
    field: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = ""
        if self.node_id is not None:
            title = (self.title or "")[:60].replace("\n", " ")
            where = f"node #{self.node_id} {title!r} ({self.class_type})"
            if self.field:
                where += f", field {self.field!r}"
            where += ": "
        return one_line(f"{self.severity}: {where}{self.message}")


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped: a node id or type from the file
    cannot start a new line or send a terminal escape sequence."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ValidationError(Exception):
    """Raised with every error found, so the user can fix them in one pass."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} problem(s) in the workflow")
