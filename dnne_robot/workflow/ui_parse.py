"""Checking the structure of a UI save file (v0.4 and v1) into plain records.

Nothing is resolved here: this module only turns JSON into typed records and raises
:class:`WorkflowFormatErrors` listing, each naming its node and field, everything
structurally wrong (a bad node or link is left out, and reading goes on to find the rest).
Link resolution happens in :mod:`dnne_robot.workflow.ui_links`.

DNNE's extensions are kept: an input's ``links`` list (several links into one input), a
node's ``properties`` (Label pairing), and link rows that name their slots
(``[id, origin, "out", target, 0, "in", type]``) instead of numbering them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dnne_robot.workflow.describe import json_type, node_ref, short
from dnne_robot.workflow.errors import WorkflowFormatError, WorkflowFormatErrors


@dataclass
class RawInput:
    """One entry of a node's ``inputs`` list."""

    name: str
    type: str | None
    link: int | None
    widget: str | None = None
    """The widget name when the entry is a widget socket (it has a ``"widget"`` key)."""
    links: list[int] = field(default_factory=list)
    """DNNE: every link id the input says it holds (it may hold several; some are stale)."""


@dataclass
class RawOutput:
    """One entry of a node's ``outputs`` list."""

    name: str
    type: str | None
    links: list[int] = field(default_factory=list)


@dataclass
class RawNode:
    """One entry of the ``nodes`` list, checked but not interpreted."""

    id: str
    class_type: str
    title: str
    mode: int
    inputs: list[RawInput]
    outputs: list[RawOutput]
    widgets_values: list[Any] | dict[str, Any] | None
    properties: dict[str, Any] = field(default_factory=dict)
    ports_listed: bool = True
    """False when the file gives neither ``inputs`` nor ``outputs`` (a hand-written DNNE
    file); the reader then takes the ports from the node type."""

    def ref(self) -> str:
        return node_ref(self.id, self.title, self.class_type)


@dataclass(frozen=True)
class RawLink:
    """One entry of ``links[]``: a tuple (v0.4) or an object (v1, subgraphs).

    DNNE's hand-written files name the origin slot (and add the target slot's name):
    ``origin_slot`` is then a string, resolved against the node's outputs later.
    """

    id: int
    origin: str
    origin_slot: int | str
    target: str
    target_slot: int
    type: str | None
    target_name: str | None = None


@dataclass
class RawGraph:
    """A checked UI graph: nodes by id (first of duplicates kept), links by id."""

    nodes: dict[str, RawNode] = field(default_factory=dict)
    links: dict[int, RawLink] = field(default_factory=dict)
    duplicate_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[WorkflowFormatError] = field(default_factory=list)
    """Structural problems found so far (the bad node or link is left out)."""

    def raise_errors(self) -> None:
        """Raise every structural problem found, at once (nothing when there is none)."""
        if self.errors:
            raise WorkflowFormatErrors(self.errors)


def node_id_of(value: Any, *, where: str, node_id: str | None = None) -> str:
    """A node id as a string: integers (and integral floats) or non-empty strings."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    elif isinstance(value, str) and value:
        return value
    raise WorkflowFormatError(
        f"{where} must be an integer or a non-empty string, got {short(repr(value), 40)}",
        node_id=node_id,
        field=where,
    )


def int_of(value: Any, *, where: str, node_id: str | None = None) -> int:
    """An integer field (integral floats such as ``2.0`` are accepted)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise WorkflowFormatError(
        f"{where} must be an integer, got {json_type(value)}", node_id=node_id, field=where
    )


def _optional_link(value: Any, *, where: str, node_id: str) -> int | None:
    return None if value is None else int_of(value, where=where, node_id=node_id)


def _type_name(value: Any) -> str | None:
    """Slot types are strings; litegraph event slots use numbers (-1, -2)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _list_field(node: dict[str, Any], key: str, node_id: str) -> list[Any]:
    value = node.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise WorkflowFormatError(
            f"'{key}' must be a list, got {json_type(value)}", node_id=node_id, field=key
        )
    return value


def parse_input(entry: Any, index: int, node_id: str) -> RawInput:
    where = f"inputs[{index}]"
    if not isinstance(entry, dict):
        raise WorkflowFormatError(
            f"{where} must be an object, got {json_type(entry)}", node_id=node_id, field=where
        )
    widget = entry.get("widget")
    widget_name: str | None = None
    if isinstance(widget, dict) and isinstance(widget.get("name"), str):
        widget_name = widget["name"]
    name = entry.get("name")
    if not isinstance(name, str):
        if widget_name is None:
            raise WorkflowFormatError(
                f"{where} has no 'name'", node_id=node_id, field=f"{where}.name"
            )
        name = widget_name
    if widget is not None and widget is not False and widget_name is None:
        widget_name = name
    link = _optional_link(entry.get("link"), where=f"{where}.link", node_id=node_id)
    held = entry.get("links")
    links = [int_of(v, where=f"{where}.links[{j}]", node_id=node_id)
             for j, v in enumerate(held)] if isinstance(held, list) else []
    return RawInput(name=name, type=_type_name(entry.get("type")), link=link, widget=widget_name,
                    links=links)


def parse_output(entry: Any, index: int, node_id: str) -> RawOutput:
    where = f"outputs[{index}]"
    if not isinstance(entry, dict):
        raise WorkflowFormatError(
            f"{where} must be an object, got {json_type(entry)}", node_id=node_id, field=where
        )
    name = entry.get("name")
    if not isinstance(name, str):
        name = str(index)
    links_value = entry.get("links")
    if links_value is None:
        links: list[int] = []
    elif isinstance(links_value, list):
        links = [
            int_of(v, where=f"{where}.links[{j}]", node_id=node_id)
            for j, v in enumerate(links_value)
        ]
    else:
        raise WorkflowFormatError(
            f"{where}.links must be a list or null, got {json_type(links_value)}",
            node_id=node_id,
            field=f"{where}.links",
        )
    return RawOutput(name=name, type=_type_name(entry.get("type")), links=links)


def parse_node(entry: Any, index: int) -> RawNode:
    """Check one element of ``nodes``."""
    if not isinstance(entry, dict):
        raise WorkflowFormatError(
            f"nodes[{index}] must be an object, got {json_type(entry)}", field=f"nodes[{index}]"
        )
    if "id" not in entry:
        raise WorkflowFormatError(f"nodes[{index}] has no 'id'", field=f"nodes[{index}].id")
    nid = node_id_of(entry["id"], where=f"nodes[{index}].id")
    class_type = entry.get("type", entry.get("class_type"))
    if class_type is None:
        raise WorkflowFormatError("node has no 'type'", node_id=nid, field="type")
    if not isinstance(class_type, str) or not class_type:
        raise WorkflowFormatError(
            f"'type' must be a non-empty string, got {short(repr(class_type), 40)}",
            node_id=nid,
            field="type",
        )
    title = entry.get("title")
    if isinstance(title, bool) or not isinstance(title, str | int | float):
        title = class_type
    elif not isinstance(title, str):
        title = str(title)
    mode_value = entry.get("mode")
    mode = 0 if mode_value is None else int_of(mode_value, where="mode", node_id=nid)
    inputs = [parse_input(e, i, nid) for i, e in enumerate(_list_field(entry, "inputs", nid))]
    outputs = [parse_output(e, i, nid) for i, e in enumerate(_list_field(entry, "outputs", nid))]
    widgets = entry.get("widgets_values")
    if widgets is not None and not isinstance(widgets, list | dict):
        raise WorkflowFormatError(
            f"'widgets_values' must be a list or an object, got {json_type(widgets)}",
            node_id=nid,
            field="widgets_values",
        )
    properties = entry.get("properties")
    listed = "inputs" in entry or "outputs" in entry
    return RawNode(nid, class_type, title, mode, inputs, outputs, widgets,
                   properties if isinstance(properties, dict) else {}, listed)


def parse_link(entry: Any, index: int, *, where: str = "links") -> RawLink | None:
    """Check one element of ``links`` (``None`` for a ``null`` entry, which is skipped)."""
    here = f"{where}[{index}]"
    if entry is None:
        return None
    target_name = None
    if isinstance(entry, list):
        if len(entry) < 5:
            raise WorkflowFormatError(
                f"{here} must be [id, origin_id, origin_slot, target_id, target_slot, type], "
                f"got {len(entry)} items",
                field=here,
            )
        lid, origin, origin_slot, target, target_slot = entry[:5]
        link_type = entry[5] if len(entry) > 5 else None
        if len(entry) >= 7 and isinstance(origin_slot, str) and isinstance(entry[5], str):
            # DNNE, hand-written: [id, origin, "out", target, slot, "in", type]
            target_name, link_type = entry[5], entry[6]
    elif isinstance(entry, dict):
        missing = [
            k
            for k in ("id", "origin_id", "origin_slot", "target_id", "target_slot")
            if k not in entry
        ]
        if missing:
            raise WorkflowFormatError(f"{here} has no {missing[0]!r}", field=f"{here}.{missing[0]}")
        lid, origin, origin_slot = entry["id"], entry["origin_id"], entry["origin_slot"]
        target, target_slot = entry["target_id"], entry["target_slot"]
        link_type = entry.get("type")
    else:
        raise WorkflowFormatError(
            f"{here} must be an array or an object, got {json_type(entry)}", field=here
        )
    named = isinstance(origin_slot, str) and bool(origin_slot) and target_name is not None
    return RawLink(
        id=int_of(lid, where=f"{here} id"),
        origin=node_id_of(origin, where=f"{here} origin_id"),
        origin_slot=origin_slot if named else int_of(origin_slot, where=f"{here} origin_slot"),
        target=node_id_of(target, where=f"{here} target_id"),
        target_slot=int_of(target_slot, where=f"{here} target_slot"),
        type=_type_name(link_type),
        target_name=target_name,
    )


def parse_graph(nodes: Any, links: Any, *, where: str = "") -> RawGraph:
    """Check a ``nodes`` list and a ``links`` list (top level or a subgraph definition).

    A list that is no list raises at once; problems in single nodes and links are collected
    in :attr:`RawGraph.errors` (see :meth:`RawGraph.raise_errors`).
    """
    prefix = f"{where}." if where else ""
    if not isinstance(nodes, list):
        raise WorkflowFormatError(
            f"'{prefix}nodes' must be a list, got {json_type(nodes)}", field=f"{prefix}nodes"
        )
    if links is None:
        links = []
    if not isinstance(links, list):
        raise WorkflowFormatError(
            f"'{prefix}links' must be a list, got {json_type(links)}", field=f"{prefix}links"
        )
    graph = RawGraph()
    errors = graph.errors
    for index, entry in enumerate(nodes):
        try:
            node = parse_node(entry, index)
        except WorkflowFormatError as exc:
            if where and exc.field is not None:
                exc.field = f"{prefix}{exc.field}"
                exc.message = f"in {where}: {exc.message}"
            errors.append(exc)
            continue
        if node.id in graph.nodes:
            if node.id not in graph.duplicate_ids:
                graph.duplicate_ids.append(node.id)
            graph.notes.append(
                f"duplicate node id {node.ref()}: nodes[{index}] ignored, the first node with "
                "this id is kept"
            )
            continue
        graph.nodes[node.id] = node
    for index, entry in enumerate(links):
        try:
            link = parse_link(entry, index, where=f"{prefix}links")
        except WorkflowFormatError as exc:
            errors.append(exc)
            continue
        if link is None:
            graph.notes.append(f"{prefix}links[{index}] is null; ignored")
            continue
        if link.id in graph.links:
            graph.notes.append(
                f"{prefix}links[{index}] repeats link id {link.id}; the first entry is kept"
            )
            continue
        graph.links[link.id] = link
    return graph
