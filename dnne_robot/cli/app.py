"""The ``dnne-robot`` command: one module per command, composed here."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .comfyui_pack import comfyui_pack
from .convert import convert
from .errors import DEBUG
from .export import export
from .nodes import nodes
from .validate import validate

app = typer.Typer(
    name="dnne-robot",
    help="Turn ComfyUI / DNNE node graphs into standalone robot-learning packages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnne-robot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    DEBUG["on"] = debug


app.command()(export)
app.command()(validate)
app.command()(nodes)
app.command()(convert)
app.command("comfyui-pack")(comfyui_pack)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
