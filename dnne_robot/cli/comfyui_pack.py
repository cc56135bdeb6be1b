"""``dnne-robot comfyui-pack``: a ComfyUI custom-node pack for drawing dnne-robot graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import say, user_errors


def comfyui_pack(
    output: Annotated[Path, typer.Argument(help="Folder to create (put it in custom_nodes/).")],
    force: Annotated[bool, typer.Option(help="Replace a non-empty folder.")] = False,
) -> None:
    """Write a ComfyUI custom-node pack generated from the catalog."""
    from ..comfyui.pack import write_pack

    with user_errors():
        write_pack(output, force=force)
        say(f"wrote ComfyUI node pack to {output}", "green")
