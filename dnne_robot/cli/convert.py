"""``dnne-robot convert``: a UI workflow to an API prompt, as ComfyUI's frontend does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .errors import say, user_errors


def convert(
    workflow: Annotated[Path, typer.Argument(help="UI workflow JSON.")],
    to: Annotated[str, typer.Option(help="Target format (api).")] = "api",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Default: stdout.")] = None,
) -> None:
    """Convert WORKFLOW to another format."""
    from ..pipeline import port_lookup, widget_lookup
    from ..workflow import load_workflow, to_api_prompt

    with user_errors():
        if to != "api":
            say(f"error: --to {to!r}: only 'api' is supported")
            raise typer.Exit(2)
        prompt = to_api_prompt(load_workflow(workflow, widgets=widget_lookup, ports=port_lookup))
        text = json.dumps(prompt, indent=2, ensure_ascii=False) + "\n"
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape: keep it one
                text = json.dumps(prompt, indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
