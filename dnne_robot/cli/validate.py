"""``dnne-robot validate``: every problem in a workflow, at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .errors import say, user_errors


def _memory_size(value: str | None) -> str | None:
    from ..exporters.limits import LIMITS

    if value is not None:
        try:
            LIMITS.parse_memory(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


#: ``--max-param-memory`` of validate and export.
MaxParamMemory = Annotated[str | None, typer.Option(
    callback=_memory_size, metavar="SIZE",
    help="Refuse networks whose parameters need more than SIZE while training (16GiB, "
         "500MB, none); default: $DNNE_ROBOT_MAX_PARAM_MEMORY, else 4GiB. An export keeps "
         "it for its runs.")]


def validate(
    workflow: Annotated[Path, typer.Argument(help="ComfyUI/DNNE workflow (UI or API JSON).")],
    sim: Annotated[str, typer.Option(help="Simulator the graph will run on.")] = "gymnasium",
    ui_workflow: Annotated[
        Path | None, typer.Option(help="UI file an API prompt came from.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
    allow_custom_code: Annotated[Path | None, typer.Option(
        help="Folder the workflow's user scripts come from (as for export).")] = None,
    max_param_memory: MaxParamMemory = None,
) -> None:
    """Check WORKFLOW; exit 1 when it has errors."""
    from ..pipeline import check
    from ..workflow import WorkflowError

    with user_errors():
        try:
            checked = check(workflow, ui_workflow=ui_workflow, sim=sim,
                            allow_custom_code=allow_custom_code,
                            max_param_memory=max_param_memory)
        except WorkflowError as exc:
            if not as_json:
                raise
            errors = getattr(exc, "errors", None) or [exc]
            typer.echo(json.dumps([{"severity": "error", "message": str(e), "path": str(workflow),
                                    "node_id": getattr(e, "node_id", None),
                                    "field": getattr(e, "field", None)} for e in errors],
                                  indent=2))
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps([p.__dict__ for p in checked.problems], indent=2))
        else:
            for problem in checked.problems:
                say(str(problem), "red" if problem.severity == "error" else "yellow")
        if checked.errors:
            if not as_json:
                say(f"{len(checked.errors)} error(s) in {workflow}")
            raise typer.Exit(1)
        if not as_json:
            say(f"{workflow}: {len(checked.workflow.nodes)} nodes, no errors", "green")
