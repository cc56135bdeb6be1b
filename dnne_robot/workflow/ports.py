"""Ports of nodes a file does not describe, and link slots given by name.

DNNE's hand-written files list a node's ``id``, ``type`` and ``widgets_values`` only, and
name link slots (``[id, origin, "tensor", target, 0, "input", type]``). The ports then come
from the node type, through a :data:`PortLookup` the caller passes in (this package never
imports the catalog): link inputs first, in the type's order, as DNNE saves them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from dnne_robot.workflow.describe import short
from dnne_robot.workflow.errors import WorkflowFormatError
from dnne_robot.workflow.ui_parse import RawGraph, RawInput, RawOutput

PortLookup = Callable[[str], tuple[Sequence[str], Sequence[str]] | None]
"""``ports(class_type)``: (link input names, output names) in slot order, or ``None``."""


def fill_ports(graph: RawGraph, ports: PortLookup | None) -> None:
    """Give unlisted nodes their type's ports and turn named link slots into indices.

    A link whose slot name its node does not have is left out and added to ``graph.errors``.
    """
    unknown = set()  # unlisted nodes of unknown types: the validator reports those
    for node in graph.nodes.values():
        if node.ports_listed:
            continue
        known = ports(node.class_type) if ports is not None else None
        if known is None:
            unknown.add(node.id)
            continue
        node.inputs = [RawInput(name, None, None) for name in known[0]]
        node.outputs = [RawOutput(name, None) for name in known[1]]
    errors = graph.errors
    for lid, link in list(graph.links.items()):
        if {link.origin, link.target} & unknown:
            del graph.links[lid]
            continue
        origin, target = graph.nodes.get(link.origin), graph.nodes.get(link.target)
        if isinstance(link.origin_slot, str) and origin is not None:
            names = [o.name for o in origin.outputs]
            if link.origin_slot not in names:
                errors.append(WorkflowFormatError(
                    f"link {lid} leaves output {short(link.origin_slot)}, which "
                    f"{origin.ref()} does not have (outputs: {', '.join(names) or 'none'})",
                    node_id=origin.id, field=f"links[{lid}]"))
                del graph.links[lid]
                continue
            link = graph.links[lid] = replace(link, origin_slot=names.index(link.origin_slot))
        if link.target_name is not None and target is not None:
            names = [i.name for i in target.inputs]
            if link.target_name not in names:
                errors.append(WorkflowFormatError(
                    f"link {lid} enters input {short(link.target_name)}, which "
                    f"{target.ref()} does not have (inputs: {', '.join(names) or 'none'})",
                    node_id=target.id, field=f"links[{lid}]"))
                del graph.links[lid]
                continue
            graph.links[lid] = replace(link, target_slot=names.index(link.target_name))
