"""How every command reports failure: one red line per problem, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

DEBUG = {"on": False}


def say(message: str, style: str = "red") -> None:
    """Print one line to stderr. Every non-printable character is escaped, so a file name or
    a value from a workflow cannot clear the terminal or forge a line of its own."""
    from rich.console import Console

    from ..validate.problems import one_line

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        one_line(message), style=style, markup=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn known failures into one-line messages and exit codes; ``--debug`` re-raises."""
    from ..render.output import OutputError
    from ..render.package import RenderError
    from ..validate import ValidationError
    from ..workflow import WorkflowError

    try:
        yield
    except typer.Exit:
        raise
    except ValidationError as exc:
        if DEBUG["on"]:
            raise
        for problem in exc.problems:
            say(str(problem), "red" if problem.severity == "error" else "yellow")
        errors = sum(p.severity == "error" for p in exc.problems)
        say(f"{errors} error(s); nothing was written")
        raise typer.Exit(1) from None
    except (WorkflowError, RenderError, OutputError, FileExistsError, OSError) as exc:
        if DEBUG["on"]:
            raise
        for error in getattr(exc, "errors", None) or [exc]:
            say(f"error: {error}")
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - never a traceback without --debug
        if DEBUG["on"]:
            raise
        say(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(2) from None
