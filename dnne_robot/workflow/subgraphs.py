"""Expanding v1 subgraphs (``definitions.subgraphs``) into the graph that holds them.

A node whose ``type`` is a subgraph id is replaced by the subgraph's nodes, with ids
``outer:inner`` (nested subgraphs give ``outer:mid:inner``, the ids ComfyUI executes). Inside
a definition, links from node ``-10`` are the subgraph's inputs (``origin_slot`` = input
index) and links into node ``-20`` its outputs (``target_slot`` = output index).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dnne_robot.workflow.describe import json_type, short
from dnne_robot.workflow.errors import WorkflowFormatError
from dnne_robot.workflow.graph import MODE_BYPASS, MODE_MUTED, Edge, WorkGraph, WorkNode
from dnne_robot.workflow.ui_graph import build_graph
from dnne_robot.workflow.ui_parse import RawGraph, RawInput, RawNode, RawOutput, int_of, parse_graph
from dnne_robot.workflow.widgets import WidgetLookup

INPUT_NODE = "-10"
OUTPUT_NODE = "-20"
MAX_EXPANDED_NODES = 100_000


@dataclass
class SubgraphDef:
    """One checked entry of ``definitions.subgraphs``."""

    id: str
    name: str
    input_names: list[str]
    output_names: list[str]
    raw: RawGraph
    """The inner graph, with pseudo nodes ``-10`` (outputs = subgraph inputs) and ``-20``
    (inputs named ``"0"``, ``"1"``, ... = subgraph outputs)."""


def _interface(value: Any, where: str) -> list[tuple[str, str | None, list[int]]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WorkflowFormatError(f"'{where}' must be a list, got {json_type(value)}", field=where)
    slots = []
    for index, entry in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise WorkflowFormatError(
                f"{here} must be an object, got {json_type(entry)}", field=here
            )
        name = entry.get("name")
        name = name if isinstance(name, str) else str(index)
        slot_type = entry.get("type")
        link_ids = entry.get("linkIds")
        if link_ids is None:
            link_ids = []
        if not isinstance(link_ids, list):
            raise WorkflowFormatError(f"{here}.linkIds must be a list", field=f"{here}.linkIds")
        ids = [int_of(v, where=f"{here}.linkIds[{j}]") for j, v in enumerate(link_ids)]
        slots.append((name, slot_type if isinstance(slot_type, str) else None, ids))
    return slots


def parse_subgraph_definitions(definitions: Any) -> dict[str, SubgraphDef]:
    """Check ``definitions.subgraphs``; subgraph id -> definition."""
    if definitions is None:
        return {}
    if not isinstance(definitions, dict):
        raise WorkflowFormatError(
            f"'definitions' must be an object, got {json_type(definitions)}", field="definitions"
        )
    entries = definitions.get("subgraphs")
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise WorkflowFormatError(
            f"'definitions.subgraphs' must be a list, got {json_type(entries)}",
            field="definitions.subgraphs",
        )
    defs: dict[str, SubgraphDef] = {}
    for index, entry in enumerate(entries):
        where = f"definitions.subgraphs[{index}]"
        if not isinstance(entry, dict):
            raise WorkflowFormatError(f"{where} must be an object", field=where)
        sid = entry.get("id")
        if not isinstance(sid, str) or not sid:
            raise WorkflowFormatError(f"{where} has no string 'id'", field=f"{where}.id")
        if sid in defs:
            continue
        name = entry.get("name")
        name = name if isinstance(name, str) else sid
        inputs = _interface(entry.get("inputs"), f"{where}.inputs")
        outputs = _interface(entry.get("outputs"), f"{where}.outputs")
        raw = parse_graph(entry.get("nodes", []), entry.get("links"), where=where)
        raw.raise_errors()
        for reserved in (INPUT_NODE, OUTPUT_NODE):
            if reserved in raw.nodes:
                raise WorkflowFormatError(
                    f"{where} has a node with the reserved id {reserved}", node_id=reserved
                )
        raw.nodes[INPUT_NODE] = RawNode(
            INPUT_NODE,
            "SubgraphInput",
            f"{name} inputs",
            0,
            [],
            [RawOutput(n, t, ids) for n, t, ids in inputs],
            None,
        )
        raw.nodes[OUTPUT_NODE] = RawNode(
            OUTPUT_NODE,
            "SubgraphOutput",
            f"{name} outputs",
            0,
            [
                RawInput(str(j), t, ids[0] if ids else None)
                for j, (_n, t, ids) in enumerate(outputs)
            ],
            [],
            None,
        )
        defs[sid] = SubgraphDef(
            sid, name, [n for n, _t, _i in inputs], [n for n, _t, _i in outputs], raw
        )
    return defs


class _Expander:
    def __init__(self, defs: dict[str, SubgraphDef], lookup: WidgetLookup | None) -> None:
        self.defs = defs
        self.lookup = lookup
        self.expanded = 0

    def expand(self, graph: WorkGraph, stack: tuple[str, ...] = ()) -> None:
        for inst_id in [nid for nid, n in graph.nodes.items() if n.class_type in self.defs]:
            inst = graph.nodes[inst_id]
            sub = self.defs[inst.class_type]
            if inst.mode == MODE_BYPASS:
                continue  # the bypass pass removes it like any other node
            if sub.id in stack:
                raise WorkflowFormatError(
                    f"subgraph {short(sub.name)} contains itself; cannot expand",
                    node_id=inst_id,
                    field="type",
                )
            inner = build_graph(sub.raw, self.lookup, unnamed_ok=self.defs.keys())
            self.expanded += len(inner.nodes)
            if self.expanded > MAX_EXPANDED_NODES:
                raise WorkflowFormatError(
                    f"expanding subgraphs gives more than {MAX_EXPANDED_NODES} nodes",
                    node_id=inst_id,
                )
            self.expand(inner, stack + (sub.id,))
            _splice(graph, inst, sub, inner)


def _outer_input(
    inst: WorkNode, sub: SubgraphDef, index: int, outer_in: dict[str, Edge]
) -> tuple[str | None, Edge | None]:
    """The instance input for subgraph input ``index`` (by name, else position) and its edge."""
    if not 0 <= index < len(sub.input_names):
        return None, None
    name = sub.input_names[index]
    if name in outer_in or name in inst.widgets:
        return name, outer_in.get(name)
    if 0 <= index < len(inst.sockets):
        name = inst.sockets[index]
        return name, outer_in.get(name)
    return sub.input_names[index], None


def _splice(graph: WorkGraph, inst: WorkNode, sub: SubgraphDef, inner: WorkGraph) -> None:
    prefix = f"{inst.id}:"
    context = f"in subgraph {short(sub.name)} of {inst.ref()}: "
    renamed: dict[str, WorkNode] = {}
    for nid, node in inner.nodes.items():
        if nid in (INPUT_NODE, OUTPUT_NODE):
            continue
        node.id = prefix + nid
        if inst.mode == MODE_MUTED:
            node.mode = MODE_MUTED
        if node.id in graph.nodes or node.id in renamed:
            graph.duplicate_ids.append(node.id)
            graph.notes.append(f"{context}node id {node.ref()} already exists; first kept")
            continue
        renamed[node.id] = node

    outer_in = {name: e for (target, name), e in graph.edges.items() if target == inst.id}
    out_map: dict[int, Edge] = {}
    for (target, name), e in inner.edges.items():
        if e.source == INPUT_NODE:
            outer_name, outer = _outer_input(inst, sub, e.slot, outer_in)
            if target == OUTPUT_NODE:
                if outer is not None:
                    out_map[int(name)] = outer
                continue
            if prefix + target not in renamed:
                continue
            if outer is not None:
                graph.edges[(prefix + target, name)] = Edge(
                    outer.source, outer.slot, e.type, outer.link_id
                )
            elif outer_name is not None and outer_name in inst.widgets:
                renamed[prefix + target].widgets[name] = inst.widgets[outer_name]
        elif prefix + e.source not in renamed:
            continue  # from the output pseudo node, or from a node dropped as a duplicate
        elif target == OUTPUT_NODE:
            out_map[int(name)] = Edge(prefix + e.source, e.slot, e.type, e.link_id)
        elif prefix + target in renamed:
            graph.edges[(prefix + target, name)] = Edge(
                prefix + e.source, e.slot, e.type, e.link_id
            )

    for key, e in graph.edges_from(inst.id):
        new = out_map.get(e.slot)
        if new is None:
            del graph.edges[key]
            graph.notes.append(
                f"{graph.input_ref(key)} reads output {e.slot} of subgraph node {inst.ref()}, "
                "which nothing inside feeds; left unlinked"
            )
        else:
            graph.edges[key] = Edge(new.source, new.slot, e.type, e.link_id)
    for key in [k for k in graph.edges if k[0] == inst.id]:
        del graph.edges[key]

    nodes: dict[str, WorkNode] = {}
    for nid, node in graph.nodes.items():
        if nid == inst.id:
            nodes.update(renamed)
        else:
            nodes[nid] = node
    graph.nodes = nodes
    graph.repairs.extend(
        replace(r, source=prefix + r.source, target=prefix + r.target, reason=context + r.reason)
        for r in inner.repairs
    )
    graph.notes.extend(context + note for note in inner.notes)
    graph.duplicate_ids.extend(prefix + d for d in inner.duplicate_ids)
    graph.notes.append(
        f"expanded subgraph {short(sub.name)} node {inst.ref()} into {len(renamed)} node(s)"
    )


def expand_subgraphs(
    graph: WorkGraph, defs: dict[str, SubgraphDef], lookup: WidgetLookup | None
) -> None:
    """Replace every (non-bypassed) subgraph instance in ``graph`` by its inner nodes."""
    if defs:
        _Expander(defs, lookup).expand(graph)
