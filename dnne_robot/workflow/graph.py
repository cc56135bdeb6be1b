"""The mutable working graph the UI reader transforms before it becomes a :class:`Workflow`.

Edges are keyed by ``(target node id, target input name)``: a link is always addressed by its
input's *name*, never by a slot position. An input holds one link, except in DNNE files, where
further links into the same input are kept in ``more_edges``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from dnne_robot.workflow.describe import node_ref, short_id
from dnne_robot.workflow.model import Link, Node, Repair, Workflow

MODE_NORMAL = 0
MODE_MUTED = 2
MODE_BYPASS = 4


@dataclass(frozen=True)
class Edge:
    """The source end of a link into some input."""

    source: str
    slot: int
    type: str = "*"
    link_id: int | None = None


@dataclass
class WorkNode:
    """A node while the reader still rewires the graph.

    Attributes:
        sockets: input names in the file's order (linkable inputs, widget sockets included).
        socket_types: input name -> declared type.
        widgets: widget name -> literal value, in widget order.
        raw_widgets: the file's ``widgets_values`` untouched (PrimitiveNode reads its value here).
    """

    id: str
    class_type: str
    title: str
    mode: int = MODE_NORMAL
    sockets: list[str] = field(default_factory=list)
    socket_types: dict[str, str] = field(default_factory=dict)
    output_types: list[str] = field(default_factory=list)
    widgets: dict[str, Any] = field(default_factory=dict)
    extra_widgets: list[Any] = field(default_factory=list)
    raw_widgets: Any = None

    def ref(self) -> str:
        """How notes name this node."""
        return node_ref(self.id, self.title, self.class_type)


@dataclass
class WorkGraph:
    """Nodes plus edges keyed by ``(target id, input name)``, and what reading them reported."""

    nodes: dict[str, WorkNode] = field(default_factory=dict)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    more_edges: dict[tuple[str, str], list[Edge]] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)

    def edges_from(self, node_id: str) -> Iterator[tuple[tuple[str, str], Edge]]:
        """Every edge whose source is ``node_id`` (a snapshot; safe to mutate while iterating)."""
        return iter([(key, e) for key, e in self.edges.items() if e.source == node_id])

    def remove_nodes(self, node_ids: Collection[str]) -> None:
        """Drop nodes and every edge into them (edges *from* them are the caller's business)."""
        gone = set(node_ids)
        if not gone:
            return
        self.nodes = {nid: n for nid, n in self.nodes.items() if nid not in gone}
        self.edges = {k: e for k, e in self.edges.items() if k[0] not in gone}
        self.more_edges = {k: [e for e in es if e.source not in gone]
                           for k, es in self.more_edges.items() if k[0] not in gone}

    def prune_dangling(self) -> None:
        """Drop edges whose source node is not in the graph (a last guard before output)."""
        for key, e in list(self.edges.items()):
            if e.source not in self.nodes or key[0] not in self.nodes:
                del self.edges[key]
                if key[0] in self.nodes:
                    self.notes.append(
                        f"{self.input_ref(key)} comes from missing node "
                        f"#{short_id(e.source)}; left unlinked"
                    )
        for key, es in list(self.more_edges.items()):
            kept = [e for e in es if e.source in self.nodes and key[0] in self.nodes
                    and key in self.edges]
            if kept:
                self.more_edges[key] = kept
            else:
                del self.more_edges[key]

    def input_ref(self, key: tuple[str, str]) -> str:
        """``input 'name' of #id (Type)`` for notes."""
        target = self.nodes.get(key[0])
        where = target.ref() if target is not None else node_ref(key[0])
        return f"input {key[1]!r} of {where}"

    def to_workflow(self, source_format: str) -> Workflow:
        """The final model: widgets first (in widget order), then linked inputs.

        A linked widget keeps its place with the :class:`Link` in place of the value, which is
        the order ComfyUI's "Save (API)" writes.
        """
        wf = Workflow(
            source_format=source_format,
            repairs=list(self.repairs),
            notes=list(self.notes),
            duplicate_ids=list(self.duplicate_ids),
        )
        by_target: dict[str, list[tuple[str, Edge]]] = {}
        for (target, name), e in self.edges.items():
            by_target.setdefault(target, []).append((name, e))
        for nid, wn in self.nodes.items():
            inputs: dict[str, Any] = dict(wn.widgets)
            linked = dict(by_target.get(nid, ()))
            order = [n for n in wn.sockets if n in linked]
            order += [n for n in linked if n not in wn.sockets]
            for name in order:
                e = linked[name]
                inputs[name] = Link(e.source, e.slot, nid, name, e.type, e.link_id)
            more = {name: [Link(e.source, e.slot, nid, name, e.type, e.link_id) for e in es]
                    for (target, name), es in self.more_edges.items() if target == nid}
            wf.nodes[nid] = Node(
                id=nid,
                class_type=wn.class_type,
                title=wn.title,
                inputs=inputs,
                output_types=list(wn.output_types),
                input_types=dict(wn.socket_types),
                extra_widgets=list(wn.extra_widgets),
                more_links=more,
            )
        return wf
