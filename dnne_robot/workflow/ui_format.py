"""Reading a ComfyUI UI save file (v0.4 or v1) into a :class:`Workflow`.

The steps, each in its own module: check the structure (:mod:`.ui_parse`), resolve links by
input name and name the widget values (:mod:`.ui_graph`, :mod:`.ui_links`, :mod:`.widgets`),
expand subgraphs (:mod:`.subgraphs`), fold away reroutes, primitives and notes
(:mod:`.virtual_nodes`), then apply bypass and mute (:mod:`.modes`). DNNE's Label nodes become
the links they stand for first (:mod:`.labels`), and nodes a file lists without ports take
their type's (:mod:`.ports`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from dnne_robot.workflow.errors import WorkflowFormatError
from dnne_robot.workflow.labels import resolve_labels
from dnne_robot.workflow.model import Workflow
from dnne_robot.workflow.modes import apply_bypass, apply_mute
from dnne_robot.workflow.ports import PortLookup, fill_ports
from dnne_robot.workflow.subgraphs import expand_subgraphs, parse_subgraph_definitions
from dnne_robot.workflow.ui_graph import build_graph
from dnne_robot.workflow.ui_parse import parse_graph
from dnne_robot.workflow.virtual_nodes import fold_virtual_nodes
from dnne_robot.workflow.widgets import WidgetLookup


def ui_version(data: dict[str, Any]) -> str:
    """``"ui-1"`` for schema version 1 (or object-shaped links), else ``"ui-0.4"``."""
    version = data.get("version")
    if version == 1 and not isinstance(version, bool):
        return "ui-1"
    links = data.get("links")
    if isinstance(links, list) and links and isinstance(links[0], dict):
        return "ui-1"
    return "ui-0.4"


def read_ui_workflow(data: dict[str, Any], widgets: WidgetLookup | None = None,
                     ports: PortLookup | None = None) -> Workflow:
    """Read a parsed UI save file (a dict with a ``nodes`` list)."""
    raw = parse_graph(data.get("nodes"), data.get("links"))
    resolve_labels(raw)
    fill_ports(raw, ports)
    raw.raise_errors()
    defs = parse_subgraph_definitions(data.get("definitions"))
    check_subgraph_types({n.id: n.class_type for n in raw.nodes.values()}, defs.keys())
    for sub in defs.values():
        check_subgraph_types(
            {f"{sub.name}/{n.id}": n.class_type for n in sub.raw.nodes.values()}, defs.keys()
        )
    graph = build_graph(raw, widgets, unnamed_ok=defs.keys())
    expand_subgraphs(graph, defs, widgets)
    fold_virtual_nodes(graph)
    apply_bypass(graph)
    apply_mute(graph)
    graph.prune_dangling()
    return graph.to_workflow(ui_version(data))


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_subgraph_types(raw_types: dict[str, str], defined: Collection[str]) -> None:
    """A node typed with a subgraph id whose definition is missing cannot be read."""
    for nid, class_type in raw_types.items():
        if _UUID.match(class_type) and class_type not in defined:
            raise WorkflowFormatError(
                f"type {class_type} is a subgraph id, but 'definitions.subgraphs' has no "
                "subgraph with that id",
                node_id=nid,
                field="type",
            )
