"""``parameters.json``: the node settings ``runner.py train --set`` may change, with the
catalog's constraints, so an export checks an override as the exporter checked the workflow.

A setting is listed when it is a plain constant of its node's generated class (a widget
value, under the name :func:`~dnne_robot.exporters.base.constant_name` gives it). Settings
folded into another node at export time (DNNE's PPO Config), settings with no effect here,
widgets the export turns into other constants (an exporter's ``export_time``: a network's
``hidden_sizes``) and fused nodes are not listed (a fused control loop's members are: each
stays a node of its own inside it): changing them means exporting again, and ``--set``
says so.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..exporters.base import constant_name
from ..exporters.registry import get_exporter
from ..plan import Plan, PlannedNode


def parameter_table(plan: Plan) -> dict[str, Any]:
    """``{"nodes": [{"id", "title", "class_type", "fields": {name: constraints}}], "folded":
    [...], "fused": [...]}``: the settable nodes, and the ones --set names to say why not."""
    nodes = [_node_entry(node, plan) for node in _settable(plan)]
    folded = [{"id": n.id, "title": n.title, "class_type": n.node.class_type}
              for n in plan.absorbed]
    # The nodes of fused chains (``--optimize``): their settings are the fused node's code.
    fused = [{"id": m.id, "title": m.title, "class_type": m.node.class_type}
             for n in plan.nodes if n.fused_from and getattr(n, "kind", None) != "loop"
             for m in n.members]  # type: ignore[attr-defined]
    return {"nodes": nodes, "folded": folded, "fused": fused}


def _settable(plan: Plan) -> list[PlannedNode]:
    """The nodes whose settings a run may change: every unfused node, and the members of a
    fused control loop, which it builds as separate nodes under their own ids."""
    nodes: list[PlannedNode] = []
    for node in plan.nodes:
        if getattr(node, "kind", None) == "loop":
            nodes.extend(node.members)  # type: ignore[attr-defined]
        elif not node.fused_from:
            nodes.append(node)
    return nodes


def _node_entry(node: PlannedNode, plan: Plan) -> dict[str, Any]:
    exporter = get_exporter(node.spec.exporter)
    constants = {c.name: c.value for c in exporter.constants(node, plan)}
    fields: dict[str, Any] = {}
    for widget in node.spec.widgets:
        name = constant_name(widget.name)
        if widget.unused or name not in constants or widget.name in exporter.export_time:
            continue
        entry: dict[str, Any] = {"constant": name, "type": widget.type,
                                 "value": constants[name]}
        if widget.choices is not None:
            entry["choices"] = list(widget.choices)
        for bound in ("min", "max"):
            value = getattr(widget, bound)
            if value is not None and math.isfinite(value):
                entry[bound] = value
        fields[widget.name] = entry
    entry = {"id": node.id, "title": node.title, "class_type": node.node.class_type,
             "fields": fields}
    if exporter.export_time:
        entry["export_time"] = list(exporter.export_time)
    return entry


def parameters_json(plan: Plan) -> bytes:
    return (json.dumps(parameter_table(plan), indent=2, sort_keys=True, ensure_ascii=True,
                       default=str) + "\n").encode()
