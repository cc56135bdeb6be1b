"""Errors raised while a generated graph runs."""

from __future__ import annotations


class GraphError(Exception):
    """Base class for runtime errors in a generated graph."""


class WiringError(GraphError):
    """The graph was wired wrongly (unknown port, input fed twice, ...)."""


class NodeError(GraphError):
    """A node raised while running; names the node so the user knows where to look."""

    def __init__(self, node_id: str, class_name: str, title: str, cause: BaseException) -> None:
        self.node_id = node_id
        self.class_name = class_name
        self.title = title
        self.cause = cause
        super().__init__(
            f"node #{node_id} {title!r} ({class_name}) failed: {type(cause).__name__}: {cause}"
        )
