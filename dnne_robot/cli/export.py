"""``dnne-robot export``: a workflow to a standalone package."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated

import typer

from .errors import say, user_errors
from .validate import MaxParamMemory


def default_output(workflow: Path) -> Path:
    """The folder ``export`` writes when ``-o`` is left out: the workflow's name (without
    ``.json`` and ``.api``) in the working directory, in letters, digits, ``_``, ``.``, ``-``."""
    stem = workflow.name.removesuffix(".json").removesuffix(".api")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip(".-")
    return Path(name or "export")


def export(
    workflow: Annotated[Path, typer.Argument(help="ComfyUI/DNNE workflow (UI or API JSON).")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Folder to create [default: the workflow's name, here].",
        show_default=False)] = None,
    sim: Annotated[
        str, typer.Option(help="Simulator: gymnasium, mujoco or pybullet.")
    ] = "gymnasium",
    ui_workflow: Annotated[Path | None, typer.Option(
        help="The UI file an API prompt came from, to repair its links.")] = None,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output folder.")] = False,
    optimize: Annotated[bool, typer.Option(
        help="Fuse stateless chains and drop queues that are not needed.")] = False,
    backend: Annotated[str, typer.Option(help="Training backend: local or ray.")] = "local",
    templates: Annotated[list[Path] | None, typer.Option(
        help="Folder whose templates override the built-in ones (repeatable); "
             "nodes/<type>.py.jinja overrides one node type, e.g. nodes/reward.py.jinja.")] = None,
    allow_custom_code: Annotated[Path | None, typer.Option(
        help="Folder the workflow's user scripts (DNNE Custom Computation src_path) come from; "
             "they are copied into the export and run by it. Without it such a workflow is "
             "refused: a script is code.")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No warnings.")] = False,
    max_param_memory: MaxParamMemory = None,
) -> None:
    """Export WORKFLOW to a runnable package in OUTPUT."""
    from ..envs.errors import did_you_mean
    from ..pipeline import export as run_export
    from ..plan import BACKENDS, SIMS

    with user_errors():
        for option, value, choices in (("--sim", sim, SIMS), ("--backend", backend, BACKENDS)):
            if value not in choices:
                say(f"error: {option} {value!r} is not one of: {', '.join(choices)}."
                    f"{did_you_mean(value, choices)}")
                raise typer.Exit(2)
        if output is None:
            output = default_output(workflow)
        checked = run_export(workflow, output, ui_workflow=ui_workflow, sim=sim, backend=backend,
                             optimize=optimize, force=force, templates=templates,
                             allow_custom_code=allow_custom_code,
                             max_param_memory=max_param_memory)
        if not quiet:
            for problem in checked.problems:
                say(str(problem), "yellow")
        assert checked.plan is not None
        say(f"exported {len(checked.plan.nodes)} nodes to {output} (sim: {sim})", "green")
        say(f"next: cd {shlex.quote(str(output))} && python runner.py train", "green")
        if checked.kept:
            say(f"kept from the previous export: {', '.join(checked.kept)}", "green")
