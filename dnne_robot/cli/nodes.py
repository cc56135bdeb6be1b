"""``dnne-robot nodes [TYPE]``: the node catalog, or one node type in full."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..catalog.spec import InputSpec, NodeSpec


def nodes(
    class_type: Annotated[
        str | None, typer.Argument(metavar="TYPE", help="One node type, described in full.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="ComfyUI object_info shape.")] = False,
) -> None:
    """List every node type dnne-robot can export, or describe one."""
    from ..catalog import all_specs, get_spec, object_info, suggest

    if class_type is not None:
        spec = get_spec(class_type)
        if spec is None:
            hint = suggest(class_type)
            typer.echo(f"error: no node type {class_type!r}"
                       + (f"; did you mean {hint!r}?" if hint else "; `dnne-robot nodes` lists "
                          "them"), err=True)
            raise typer.Exit(1)
        if as_json:
            info = object_info()[spec.class_type]
            typer.echo(json.dumps({spec.class_type: info}, indent=2, sort_keys=True))
        else:
            typer.echo(describe(spec))
        return
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


def _input_line(inp: InputSpec) -> str:
    parts = [f"  {inp.name}: {inp.type}" + ("" if inp.required else " (optional)")]
    if inp.choices:
        parts.append("one of " + ", ".join(map(repr, inp.choices)))
    if inp.default is not None:
        parts.append(f"default {inp.default!r}")
    if inp.min is not None or inp.max is not None:
        parts.append(f"range {inp.min}..{inp.max}")
    if inp.mode != "each" and not inp.is_widget:
        parts.append(f"fed {inp.mode}")
    if inp.virtual:
        parts.append("structure only: read at export, never carries data")
    if inp.legacy_values:
        parts.append("also reads " + ", ".join(f"{old!r} as {new!r}"
                                               for old, new in inp.legacy_values))
    line = "; ".join(parts)
    if inp.tooltip:
        line += f"\n      {inp.tooltip}"
    if inp.unused:
        line += f"\n      no effect here: {inp.unused}"
    return line


def describe(spec: NodeSpec) -> str:
    """A node type in full: where it comes from, how it runs, every input and output."""
    origin = "DNNE's node" if spec.source == "dnne" else "dnne-robot's node"
    lines = [f"{spec.class_type} ({spec.display_name}), {spec.category}, {origin}"]
    if spec.description:
        lines.append(spec.description)
    if spec.aliases:
        lines.append("also read as: " + ", ".join(spec.aliases))
    if spec.virtual:
        lines.append("virtual: its values are read into the node it feeds; it does not run "
                     "on its own")
    lines.append("inputs (widgets_values in the order of the widgets listed here):")
    lines += [_input_line(i) for i in (*[i for i in spec.inputs if not i.is_widget],
                                       *spec.widgets)] or ["  (none)"]
    lines.append("outputs:")
    lines += [f"  {o.name}: {o.type}" for o in spec.outputs] or ["  (none)"]
    lines += [f"{key}: {text}" for key, text in spec.notes.items()]
    return "\n".join(lines)
