"""Typed errors raised while reading a workflow file."""

from __future__ import annotations

from dnne_robot.workflow.describe import short_id


class WorkflowError(Exception):
    """Base class for every error the workflow reader raises."""


class WorkflowFormatError(WorkflowError):
    """The file cannot be read as a ComfyUI/DNNE workflow.

    ``str()`` gives one line naming where: ``wf.json:3:17: invalid JSON: Expecting ','
    delimiter`` for malformed JSON, ``wf.json: node 12: 'type' is missing`` for a bad node.

    Attributes:
        message: what is wrong, without the location.
        path: the file, when known.
        line: 1-based line of a JSON syntax error.
        column: 1-based column of a JSON syntax error.
        node_id: the node the problem is in, when there is one.
        field: the JSON field at fault (``"type"``, ``"inputs[2].link"``, ...), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        node_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.node_id = node_id
        self.field = field
        super().__init__(message)

    def location(self) -> str:
        """``path:line:column`` with whatever parts are known ("" when none)."""
        if self.path is None:
            if self.line is None:
                return ""
            column = f", column {self.column}" if self.column is not None else ""
            return f"line {self.line}{column}"
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        prefix = self.location()
        if self.node_id is not None:
            node = f"node {short_id(self.node_id)}"
            prefix = f"{prefix}: {node}" if prefix else node
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # keep the keyword attributes through pickling (multiprocessing, pytest-xdist)
        return (
            _rebuild_format_error,
            (self.message, self.path, self.line, self.column, self.node_id, self.field),
        )


class WorkflowFormatErrors(WorkflowFormatError):
    """Several structural problems in one file, all reported at once.

    ``str()`` gives one line per problem; :attr:`errors` holds them.
    """

    def __init__(self, errors: list[WorkflowFormatError], *, path: str | None = None) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, path=path, line=first.line, column=first.column,
                         node_id=first.node_id, field=first.field)

    @property  # type: ignore[override]
    def path(self) -> str | None:
        return self._path

    @path.setter
    def path(self, value: str | None) -> None:
        self._path = value
        for error in getattr(self, "errors", ()):
            if error.path is None:
                error.path = value

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)

    def __reduce__(self) -> tuple[object, ...]:
        return (WorkflowFormatErrors, (self.errors,), {"_path": self.path})


def _rebuild_format_error(
    message: str,
    path: str | None,
    line: int | None,
    column: int | None,
    node_id: str | None,
    field: str | None,
) -> WorkflowFormatError:
    return WorkflowFormatError(
        message, path=path, line=line, column=column, node_id=node_id, field=field
    )
