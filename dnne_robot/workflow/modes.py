"""Node modes: bypass (4) rewires around a node, muted (2) drops it and what only it feeds.

Bypass follows ComfyUI's frontend: the consumer of the bypassed node's output slot ``k`` (of
type ``T``) takes the source that feeds the bypassed node's first input of type ``T``,
preferring the input at index ``k``. ``T`` is the output's declared type, falling back to the
consumer input's type (the one the frontend compares) so wildcard outputs still match. Mute goes
further than the frontend, which would only unlink the consumers: a node all of whose linked
inputs come from dropped nodes drops too, transitively, so a muted branch disappears as a whole.
"""

from __future__ import annotations

from collections import deque

from dnne_robot.workflow.graph import MODE_BYPASS, MODE_MUTED, Edge, WorkGraph, WorkNode


def _matching_input(node: WorkNode, wants: list[str], prefer: int) -> str | None:
    """The bypassed node's input to pass through: the first type in ``wants`` that one of its
    inputs has, the input at index ``prefer`` first."""
    sockets = node.sockets
    for want in wants:
        if 0 <= prefer < len(sockets) and node.socket_types.get(sockets[prefer]) == want:
            return sockets[prefer]
        for name in sockets:
            if node.socket_types.get(name) == want:
                return name
    return None


def _wanted_types(
    node: WorkNode, slot: int, consumer_type: str | None, edge_type: str
) -> list[str]:
    """Types to pass through, best first: the bypassed output's type, then the consumer's
    input type (what ComfyUI's frontend compares), then the link's."""
    output_type = node.output_types[slot] if 0 <= slot < len(node.output_types) else None
    given = [t for t in (output_type, consumer_type, edge_type) if t]
    wants: list[str] = []
    for t in given:
        if t != "*" and t not in wants:
            wants.append(t)
    if "*" in given:  # a wildcard matches only a wildcard input, and only as a last resort
        wants.append("*")
    return wants


def apply_bypass(graph: WorkGraph) -> None:
    """Remove mode-4 nodes, rewiring each consumer to the matching upstream source."""
    bypassed = {nid for nid, n in graph.nodes.items() if n.mode == MODE_BYPASS}
    if not bypassed:
        return
    for key, e in list(graph.edges.items()):
        if key[0] in bypassed or e.source not in bypassed:
            continue
        consumer_type = graph.nodes[key[0]].socket_types.get(key[1])
        upstream: Edge | None = e
        seen: set[str] = set()
        why = ""
        while upstream is not None and upstream.source in bypassed:
            node = graph.nodes[upstream.source]
            if node.id in seen:
                upstream, why = None, f"bypassed nodes around {node.ref()} form a loop"
                break
            seen.add(node.id)
            wants = _wanted_types(node, upstream.slot, consumer_type, e.type)
            name = _matching_input(node, wants, upstream.slot)
            if name is None:
                what = "/".join(wants) or "matching"
                upstream, why = None, f"bypassed {node.ref()} has no {what} input to pass through"
                break
            upstream = graph.edges.get((node.id, name))
            if upstream is None:
                why = f"input {name!r} of bypassed {node.ref()} is unlinked"
        if upstream is None:
            del graph.edges[key]
            graph.notes.append(f"{graph.input_ref(key)} left unlinked: {why}")
        else:
            graph.edges[key] = Edge(upstream.source, upstream.slot, e.type, e.link_id)
    for nid in [n for n in graph.nodes if n in bypassed]:
        graph.notes.append(
            f"bypassed {graph.nodes[nid].ref()} (mode 4): removed, consumers rewired"
        )
    graph.remove_nodes(bypassed)


def apply_mute(graph: WorkGraph) -> None:
    """Drop mode-2 nodes and, transitively, every node fed only by dropped nodes."""
    muted = [nid for nid, n in graph.nodes.items() if n.mode == MODE_MUTED]
    if not muted:
        return
    sources: dict[str, set[str]] = {}
    consumers: dict[str, set[str]] = {}
    for (target, _name), e in graph.edges.items():
        sources.setdefault(target, set()).add(e.source)
        consumers.setdefault(e.source, set()).add(target)
    dropped: dict[str, str] = {nid: "muted (mode 2)" for nid in muted}
    queue = deque(muted)
    while queue:
        gone = queue.popleft()
        for nid in sorted(consumers.get(gone, ())):
            if nid in dropped or nid not in graph.nodes:
                continue
            if sources[nid] <= dropped.keys():
                dropped[nid] = "all its linked inputs come from dropped nodes"
                queue.append(nid)
    for key, e in list(graph.edges.items()):
        if e.source in dropped and key[0] not in dropped:
            del graph.edges[key]
            graph.notes.append(
                f"{graph.input_ref(key)} was fed by dropped {graph.nodes[e.source].ref()}; "
                "left unlinked"
            )
    for nid in [n for n in graph.nodes if n in dropped]:
        graph.notes.append(f"dropped {graph.nodes[nid].ref()}: {dropped[nid]}")
    graph.remove_nodes(dropped)
