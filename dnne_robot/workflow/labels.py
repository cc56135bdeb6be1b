"""DNNE's Label nodes (wireless connections) turned into the links they stand for.

A DNNE output label sits on a producer's output; an input label sits on a consumer's input and
names the output label it listens to. Pairing is by the labels' ``properties``, never by
title: the input label's ``connectedToLabel`` equals the output label's ``labelName``, and the
output label records the producer (``sourceNodeId``, ``sourceSlotIndex``). One output label
may serve many input labels (fan-out).

Each link from an input label to its consumer keeps its id and becomes a link from the
producer; links into output labels are dropped; the Label nodes go. Problems (a label that
connects to no output label, two output labels with one name, a label without its source)
go to the graph's structural errors, which the reader raises together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dnne_robot.workflow.describe import short
from dnne_robot.workflow.errors import WorkflowFormatError
from dnne_robot.workflow.ui_parse import RawGraph, RawNode, int_of, node_id_of

LABEL_TYPE = "Label"


@dataclass(frozen=True)
class _Source:
    node: str
    slot: int


def _is_label(node: RawNode) -> bool:
    return node.class_type == LABEL_TYPE and "labelDirection" in node.properties


def _error(node: RawNode, message: str, field: str) -> WorkflowFormatError:
    return WorkflowFormatError(f"Label {node.ref()}: {message}", node_id=node.id, field=field)


def _prop(node: RawNode, key: str) -> Any:
    return node.properties.get(key)


def _sources(graph: RawGraph, labels: list[RawNode],
             errors: list[WorkflowFormatError]) -> dict[str, _Source]:
    found: dict[str, _Source] = {}
    for node in labels:
        if _prop(node, "labelDirection") != "output":
            continue
        name = _prop(node, "labelName")
        if not isinstance(name, str) or not name:
            errors.append(_error(node, "output label without a 'labelName'",
                                 "properties.labelName"))
            continue
        if name in found:
            errors.append(_error(node, f"a second output label named {short(name)}",
                                 "properties.labelName"))
            continue
        try:
            source = node_id_of(_prop(node, "sourceNodeId"), where="properties.sourceNodeId",
                                node_id=node.id)
            slot = int_of(_prop(node, "sourceSlotIndex"), where="properties.sourceSlotIndex",
                          node_id=node.id)
        except WorkflowFormatError as exc:
            errors.append(_error(node, f"its source is not recorded ({exc.message})",
                                 exc.field or "properties"))
            continue
        if source not in graph.nodes or _is_label(graph.nodes[source]):
            errors.append(_error(node, f"its source node #{short(source)} is not in the file",
                                 "properties.sourceNodeId"))
            continue
        found[name] = _Source(source, slot)
    return found


def resolve_labels(graph: RawGraph) -> int:
    """Replace every Label pair in ``graph`` by direct links; returns how many labels went.

    A label that cannot be resolved is added to ``graph.errors``.
    """
    labels = [n for n in graph.nodes.values() if _is_label(n)]
    if not labels:
        return 0
    errors = graph.errors
    sources = _sources(graph, labels, errors)
    label_ids = {n.id for n in labels}
    inputs = {n.id: n for n in labels if _prop(n, "labelDirection") == "input"}
    for lid, link in list(graph.links.items()):
        if link.target in label_ids:
            del graph.links[lid]  # into an output label (or a dangling input label)
        elif link.origin in inputs:
            node = inputs[link.origin]
            wanted = _prop(node, "connectedToLabel")
            source = sources.get(wanted) if isinstance(wanted, str) else None
            if source is None:
                errors.append(_error(
                    node, f"connects to label {short(str(wanted))}, which no output label "
                    "in the file defines", "properties.connectedToLabel"))
                del graph.links[lid]
                continue
            graph.links[lid] = replace(link, origin=source.node, origin_slot=source.slot)
        elif link.origin in label_ids:
            del graph.links[lid]
    for node_id in label_ids:
        del graph.nodes[node_id]
    graph.notes.append(f"{len(labels)} Label node(s) replaced by the links they stand for")
    return len(labels)
