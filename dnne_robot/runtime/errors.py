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


class RunComplete(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a node to end the whole run as complete, not failed: a tracker reached its
    goal, or a user script says the work is done. The runner's exit code is ``exit_code``."""

    def __init__(self, message: str = "", exit_code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class CauseExitException(RunComplete):
    """DNNE's name for :class:`RunComplete`, with its signature: user scripts written for
    DNNE raise ``CauseExitException(node_id, message, exit_code=0)``."""

    def __init__(self, node_id: object = "", message: str = "", exit_code: int = 0) -> None:
        super().__init__(message, exit_code)
        self.node_id = str(node_id)
