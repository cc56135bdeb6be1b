"""Node modes: bypass (4) rewires around a node, muted (2) drops it and what only it feeds.

Bypass follows ComfyUI's frontend: the consumer of the bypassed node's output slot ``k`` takes
the source that feeds the bypassed node's input of the *same type* as the consumer's input,
preferring the input at index ``k``. Mute goes further than the frontend, which would only
unlink the consumers: a node all of whose linked inputs come from dropped nodes drops too,
transitively, so a muted branch disappears as a whole.
"""

from __future__ import annotations

from collections import deque

from dnne_robot.workflow.graph import MODE_BYPASS, MODE_MUTED, Edge, WorkGraph, WorkNode


def _matching_input(node: WorkNode, want: str, prefer: int) -> str | None:
    """The bypassed node's input to pass through: type ``want``, index ``prefer`` first."""
    sockets = node.sockets
    if 0 <= prefer < len(sockets) and node.socket_types.get(sockets[prefer]) == want:
        return sockets[prefer]
    for name in sockets:
        if node.socket_types.get(name) == want:
            return name
    return None


def apply_bypass(graph: WorkGraph) -> None:
    """Remove mode-4 nodes, rewiring each consumer to the matching upstream source."""
    bypassed = {nid for nid, n in graph.nodes.items() if n.mode == MODE_BYPASS}
    if not bypassed:
        return
    for key, e in list(graph.edges.items()):
        if key[0] in bypassed or e.source not in bypassed:
            continue
        consumer = graph.nodes[key[0]]
        want = consumer.socket_types.get(key[1]) or e.type
        upstream: Edge | None = e
        seen: set[str] = set()
        why = ""
        while upstream is not None and upstream.source in bypassed:
            node = graph.nodes[upstream.source]
            if node.id in seen:
                upstream, why = None, f"bypassed nodes around {node.ref()} form a loop"
                break
            seen.add(node.id)
            name = _matching_input(node, want, upstream.slot)
            if name is None:
                upstream, why = None, f"bypassed {node.ref()} has no {want} input to pass through"
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
        graph.remove_node(nid)


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
        graph.remove_node(nid)
