"""Turning a checked UI graph into a :class:`WorkGraph`: links resolved, widgets named."""

from __future__ import annotations

from collections.abc import Collection

from dnne_robot.workflow.graph import WorkGraph, WorkNode
from dnne_robot.workflow.ui_links import resolve_links
from dnne_robot.workflow.ui_parse import RawGraph, RawNode
from dnne_robot.workflow.virtual_nodes import VIRTUAL_TYPES
from dnne_robot.workflow.widgets import (
    WidgetLookup,
    WidgetSlot,
    assign_widget_values,
    choose_widget_slots,
)


def work_node(
    raw: RawNode,
    lookup: WidgetLookup | None,
    notes: list[str],
    *,
    unnamed_ok: Collection[str] = (),
) -> WorkNode:
    """A :class:`WorkNode` with its widget values named (see :mod:`.widgets`).

    Values that cannot be named stay in ``extra_widgets`` with a note. Virtual nodes keep
    their values raw; types in ``unnamed_ok`` (subgraph instances, whose promoted widgets are
    named only by the node's own widget inputs) get no note.
    """
    sockets: list[str] = []
    for inp in raw.inputs:
        if inp.name not in sockets:
            sockets.append(inp.name)
    node = WorkNode(
        id=raw.id,
        class_type=raw.class_type,
        title=raw.title,
        mode=raw.mode,
        sockets=sockets,
        socket_types={i.name: i.type for i in raw.inputs if i.type is not None},
        output_types=[o.type or "*" for o in raw.outputs],
        raw_widgets=raw.widgets_values,
    )
    values = raw.widgets_values
    if raw.class_type in VIRTUAL_TYPES or not values:
        return node
    if isinstance(values, dict):
        node.widgets = dict(values)
        return node
    quiet = raw.class_type in unnamed_ok
    from_inputs = [WidgetSlot(i.widget, i.type) for i in raw.inputs if i.widget is not None]
    slots, origin = choose_widget_slots(
        raw.class_type, from_inputs, len(values), None if quiet else lookup
    )
    if quiet:
        assigned = assign_widget_values(values, slots or [])
        node.widgets, node.extra_widgets = assigned.values, assigned.extra
        return node
    if slots is None:
        node.extra_widgets = list(values)
        notes.append(
            f"{raw.ref()}: no widget names known for this type; {len(values)} widget value(s) "
            "kept unnamed"
        )
        return node
    assigned = assign_widget_values(values, slots)
    node.widgets = assigned.values
    node.extra_widgets = assigned.extra
    if assigned.extra:
        notes.append(
            f"{raw.ref()}: {len(assigned.extra)} widget value(s) beyond the {len(slots)} "
            f"widget names from the {origin} kept unnamed"
        )
    return node


def build_graph(
    raw: RawGraph, lookup: WidgetLookup | None, *, unnamed_ok: Collection[str] = ()
) -> WorkGraph:
    """Resolve ``raw``'s links by input name and name its widget values."""
    resolution = resolve_links(raw)
    graph = WorkGraph(
        edges=resolution.edges,
        more_edges=resolution.more_edges,
        repairs=list(resolution.repairs),
        notes=list(raw.notes) + list(resolution.notes),
        duplicate_ids=list(raw.duplicate_ids),
    )
    for raw_node in raw.nodes.values():
        graph.nodes[raw_node.id] = work_node(raw_node, lookup, graph.notes, unnamed_ok=unnamed_ok)
    return graph
