"""The Jinja environment every template renders in."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..catalog.plugins import plugin_template_dirs
from .layout import py_assignment, py_block
from .literals import comment_text, docstring_block, docstring_text, py_literal


def builtin_templates_dir() -> Path:
    """``templates/`` next to the package (a checkout) or inside it (an installed wheel)."""
    inside = Path(__file__).resolve().parent.parent / "templates"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parents[2] / "templates"


def environment(overrides: list[Path] | None = None) -> Environment:
    """Templates are searched in ``--templates`` dirs, then plugins, then the built-ins."""
    dirs = [*(overrides or []), *plugin_template_dirs(), builtin_templates_dir()]
    env = Environment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = py_literal
    env.filters["pyblock"] = py_block
    env.globals["assign"] = py_assignment
    env.filters["comment"] = comment_text
    env.filters["doc"] = docstring_text
    env.filters["docstring"] = docstring_block
    return env
