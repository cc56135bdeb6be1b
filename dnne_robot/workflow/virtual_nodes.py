"""Frontend-only nodes that never reach ComfyUI's backend: reroutes, primitives, notes.

ComfyUI's "Save (API)" folds them away, and so does the reader: a chain of ``Reroute`` nodes
becomes one direct link, a ``PrimitiveNode``'s value becomes the literal of each widget input
it feeds, and ``Note``/``MarkdownNote`` nodes are dropped. v1 files keep reroutes as link
geometry (top-level ``reroutes``, link ``parentId``); that is visual only and never read.
"""

from __future__ import annotations

from dnne_robot.workflow.graph import Edge, WorkGraph

REROUTE_TYPES = frozenset({"Reroute"})
PRIMITIVE_TYPES = frozenset({"PrimitiveNode"})
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
VIRTUAL_TYPES = REROUTE_TYPES | PRIMITIVE_TYPES | NOTE_TYPES
#: dnne-robot's ComfyUI pack's own nodes: they save the graph you are reading, so an export
#: leaves them out (``dnne-robot comfyui-pack`` declares them under these names).
PACK_NODE_TYPES = frozenset({"DNNERobotExportWorkflow"})


def collapse_reroutes(graph: WorkGraph) -> None:
    """Replace every link that leaves a reroute (or a chain of them) by a direct link."""
    reroutes = {nid for nid, n in graph.nodes.items() if n.class_type in REROUTE_TYPES}
    if not reroutes:
        return
    feeding: dict[str, Edge] = {}
    for (target, _name), e in graph.edges.items():
        if target in reroutes:
            feeding.setdefault(target, e)
    for key, e in list(graph.edges.items()):
        if key[0] in reroutes or e.source not in reroutes:
            continue
        chain: list[str] = []
        upstream: Edge | None = e
        while upstream is not None and upstream.source in reroutes:
            if upstream.source in chain:
                upstream = None  # a loop of reroutes feeds nothing
                break
            chain.append(upstream.source)
            upstream = feeding.get(upstream.source)
        if upstream is None:
            del graph.edges[key]
            graph.notes.append(
                f"{graph.input_ref(key)} is fed through reroute "
                f"{graph.nodes[chain[-1]].ref()}, which has no input; left unlinked"
            )
            continue
        link_type = e.type if e.type not in ("*", "") else upstream.type
        graph.edges[key] = Edge(upstream.source, upstream.slot, link_type, e.link_id)
    for nid in [n for n in graph.nodes if n in reroutes]:
        graph.notes.append(f"collapsed reroute {graph.nodes[nid].ref()} into direct links")
    graph.remove_nodes(reroutes)


def apply_primitives(graph: WorkGraph) -> None:
    """Turn each ``PrimitiveNode`` into the literal value of the inputs it feeds."""
    primitives = [nid for nid, n in graph.nodes.items() if n.class_type in PRIMITIVE_TYPES]
    if not primitives:
        return
    feeds: dict[str, list[tuple[str, str]]] = {}
    for key, e in graph.edges.items():
        if e.source in graph.nodes and graph.nodes[e.source].class_type in PRIMITIVE_TYPES:
            feeds.setdefault(e.source, []).append(key)
    for nid in primitives:
        prim = graph.nodes[nid]
        raw = prim.raw_widgets
        has_value = isinstance(raw, list) and len(raw) > 0
        if isinstance(raw, dict) and "value" in raw:
            has_value, value = True, raw["value"]
        elif has_value:
            value = raw[0]
        fed = []
        for key in feeds.get(nid, ()):
            del graph.edges[key]
            target = graph.nodes.get(key[0])
            if not has_value:
                kept = target is not None and key[1] in target.widgets
                graph.notes.append(
                    f"{graph.input_ref(key)} is fed by {prim.ref()}, which stores no value; "
                    + ("keeps its own widget value" if kept else "left unset")
                )
                continue
            if target is not None:
                target.widgets[key[1]] = value
                fed.append(f"{key[1]!r} of #{key[0]}")
        what = f"its value became input {', '.join(fed)}" if fed else "it fed nothing"
        graph.notes.append(f"removed primitive {prim.ref()}: {what}")
    graph.remove_nodes(primitives)


def drop_notes(graph: WorkGraph) -> None:
    """Drop comment nodes, which carry no data."""
    notes = [nid for nid, n in graph.nodes.items() if n.class_type in NOTE_TYPES]
    for nid in notes:
        graph.notes.append(f"dropped comment node {graph.nodes[nid].ref()}")
    gone = set(notes)
    graph.edges = {k: e for k, e in graph.edges.items() if e.source not in gone}
    graph.remove_nodes(gone)


def fold_virtual_nodes(graph: WorkGraph) -> None:
    """Reroutes first (a primitive may feed through one), then primitives, then notes."""
    collapse_reroutes(graph)
    apply_primitives(graph)
    drop_notes(graph)
