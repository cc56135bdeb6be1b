"""``dnne-robot nodes``: the node catalog."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def nodes(
    as_json: Annotated[bool, typer.Option("--json", help="ComfyUI object_info shape.")] = False,
) -> None:
    """List every node type dnne-robot can export."""
    from ..catalog import all_specs, object_info

    if as_json:
        typer.echo(json.dumps(object_info(), indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("type", "category", "inputs", "outputs", "aliases")
    for spec in sorted(all_specs(), key=lambda s: (s.category, s.class_type)):
        table.add_row(
            spec.class_type, spec.category,
            ", ".join(f"{i.name}:{i.type}" + ("" if i.required else "?") for i in spec.inputs),
            ", ".join(f"{o.name}:{o.type}" for o in spec.outputs),
            ", ".join(spec.aliases),
        )
    Console().print(table)
