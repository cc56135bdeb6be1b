"""A ComfyUI custom-node pack generated from the catalog.

The pack declares every catalog node type to ComfyUI (inputs straight from
:func:`dnne_robot.catalog.object_info`, so the editor and the exporter can never disagree) and
adds one output node that saves the graph as a ``/prompt`` payload for ``dnne-robot export``.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError

from .. import __version__
from ..catalog import get_spec, object_info
from ..plan.names import NameAllocator, camel
from ..render.jinja import environment
from ..render.layout import py_block
from ..render.literals import UnsafeLiteralError, comment_text
from ..render.output import check_output, write_tree
from ..workflow.virtual_nodes import PACK_NODE_TYPES

#: Words the pack's ``__init__.py`` starts with: how ``--force`` knows a previous pack.
PACK_MARK = "dnne-robot nodes for ComfyUI."

#: The output node's type name (the reader leaves it out of a graph), display name and
#: default file name.
(EXPORT_NODE,) = PACK_NODE_TYPES
EXPORT_DISPLAY_NAME = "Export Workflow (dnne-robot)"
DEFAULT_FILENAME = "dnne_robot_workflow.json"

#: Pack file -> the template that renders it.
TEMPLATES = {
    "README.md": "comfyui/README.md.jinja",
    "__init__.py": "comfyui/__init__.py.jinja",
    "export_node.py": "comfyui/export_node.py.jinja",
    "nodes.py": "comfyui/nodes.py.jinja",
}


class PackError(Exception):
    """A template failed or produced invalid Python; names the template and the file."""


@dataclass(frozen=True)
class PackNode:
    """One catalog node type as the pack declares it.

    Attributes:
        class_type: the canonical type name (the ``NODE_CLASS_MAPPINGS`` key).
        class_name: the sanitised Python class name in ``nodes.py``.
        input_types: what ``INPUT_TYPES()`` returns: ``{"required": {name: (type, opts)},
            "optional": {...}}``, converted from the catalog's ``object_info()`` entry.
        aliases: other names that resolve to this type and so map to the same class.
    """

    class_type: str
    class_name: str
    display_name: str
    category: str
    description: str
    summary: str
    doc_lines: tuple[str, ...]
    input_types: dict[str, dict[str, tuple[Any, dict[str, Any]]]]
    return_types: tuple[str, ...]
    return_names: tuple[str, ...]
    output_tooltips: tuple[str, ...]
    aliases: tuple[str, ...]


def pack_nodes() -> list[PackNode]:
    """Every catalog node type, in catalog order, with unique class names.

    Canonical names always get their own class; an alias is registered when the catalog
    resolves it to this type and no other type uses the name.
    """
    info = object_info()
    if EXPORT_NODE in info:
        raise PackError(f"the catalog defines {EXPORT_NODE!r}, the pack's own output node")
    names = NameAllocator()
    names.take(EXPORT_NODE)
    taken = {*info, EXPORT_NODE}
    nodes = []
    for class_type, entry in info.items():
        aliases = []
        for alias in entry.get("aliases", ()):
            spec = get_spec(alias)
            if alias not in taken and spec is not None and spec.class_type == class_type:
                aliases.append(alias)
                taken.add(alias)
        nodes.append(PackNode(
            class_type=class_type,
            class_name=names.take(camel(class_type)),
            display_name=entry["display_name"],
            category=entry["category"],
            description=entry["description"] or entry["display_name"],
            summary=comment_text(f"{entry['display_name']} ({class_type}).", 88),
            doc_lines=tuple(textwrap.wrap(comment_text(entry["description"], 400), 88)),
            input_types=_input_types(entry["input"]),
            return_types=tuple(entry["output"]),
            return_names=tuple(entry["output_name"]),
            output_tooltips=tuple(entry["output_tooltips"]),
            aliases=tuple(aliases),
        ))
    return nodes


def _input_types(inputs: dict[str, dict[str, list]]) -> dict[str, dict[str, tuple]]:
    """An ``object_info`` input entry as ``INPUT_TYPES`` returns it: ``(type, opts)`` tuples."""
    return {
        section: {name: (type_, dict(opts)) for name, (type_, opts) in inputs[section].items()}
        for section in ("required", "optional")
    }


def _md_cell(text: str) -> str:
    return comment_text(text, 120).replace("|", "\\|")


def _context(nodes: list[PackNode]) -> dict[str, Any]:
    aliases = [
        {"name": alias, "class_name": node.class_name, "display_name": node.display_name}
        for node in nodes
        for alias in node.aliases
    ]
    display_names = {node.class_type: node.display_name for node in nodes}
    display_names[EXPORT_NODE] = EXPORT_DISPLAY_NAME
    display_names.update({a["name"]: f"{a['display_name']} (alias {a['name']})" for a in aliases})
    categories: dict[str, list[dict[str, str]]] = {}
    for node in nodes:
        categories.setdefault(node.category, []).append({
            "display_name": _md_cell(node.display_name),
            "class_type": _md_cell(node.class_type).replace("`", "'"),
            "aliases": ", ".join(f"`{_md_cell(a).replace('`', '')}`" for a in node.aliases),
        })
    return {
        "version": __version__,
        "nodes": nodes,
        "aliases": aliases,
        "display_names": display_names,
        "categories": [{"name": _md_cell(name), "rows": rows} for name, rows in categories.items()],
        "default_filename": DEFAULT_FILENAME,
        "export": {
            "class_type": EXPORT_NODE,
            "class_name": EXPORT_NODE,
            "display_name": EXPORT_DISPLAY_NAME,
            "types": frozenset({EXPORT_NODE}),
            "category": "dnne-robot/export",
            "description": "Saves the API prompt and the UI graph as one JSON file (a ComfyUI "
                           "/prompt payload) in the output directory, for `dnne-robot export`.",
            "filename_tip": "File name in ComfyUI's output directory; characters other than "
                            "letters, digits, '.', '_' and '-' become '_', and it ends in .json.",
            "after_tip": "Optional: wire the graph's last node here to save only after it has "
                         "run. Leave it unconnected when the graph has a feedback loop.",
        },
    }


def _env() -> Environment:
    env = environment()
    env.filters["py_block"] = py_block
    return env


def render_pack() -> dict[str, bytes]:
    """Every file of the pack, by path relative to the pack folder, sorted by path.

    The output depends only on the catalog (plugins included) and the templates: no
    timestamps or absolute paths, so two renders are byte-identical.

    Raises:
        PackError: a template failed, or a rendered Python file does not parse.
    """
    env = _env()
    context = _context(pack_nodes())
    files: dict[str, bytes] = {}
    for rel, template in sorted(TEMPLATES.items()):
        try:
            text = env.get_template(template).render(**context)
        except (TemplateError, UnsafeLiteralError) as exc:
            raise PackError(f"template {template} failed for {rel}: {exc}") from exc
        if rel.endswith(".py"):
            try:
                ast.parse(text, filename=rel)
            except SyntaxError as exc:
                raise PackError(f"template {template} produced invalid Python in {rel}, "
                                f"line {exc.lineno}: {exc.msg}") from exc
        files[rel] = text.encode("utf-8")
    return files


def is_pack(folder: Path) -> bool:
    """Whether ``folder`` holds a node pack this tool wrote."""
    try:
        head = (folder / "__init__.py").read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return PACK_MARK in head


def write_pack(out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write the pack into ``out_dir`` atomically and return the written files, sorted.

    The files go to a temporary folder beside ``out_dir`` that then replaces it in one
    rename, so a failure leaves ``out_dir`` as it was and no temporary folder behind.
    ``force`` replaces only a previous pack; files it did not write are kept.

    Raises:
        OutputError: ``out_dir`` is a file, a folder above the working directory, or a
            non-empty folder that is not a previous pack (or ``force`` is off).
        PackError: rendering failed (nothing is written).
    """
    out_dir = Path(out_dir)
    check_output(out_dir, force=force, is_ours=is_pack, what="a node pack")
    files = render_pack()
    write_tree(files, out_dir, mode=0o755)  # ComfyUI may run as another user
    return sorted(out_dir / rel for rel in files)
