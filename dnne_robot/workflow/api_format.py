"""Reading a ComfyUI API prompt: ``{id: {"class_type", "inputs", "_meta": {"title"}}}``."""

from __future__ import annotations

import math
from typing import Any

from dnne_robot.workflow.describe import json_type, node_ref, short, short_id
from dnne_robot.workflow.errors import WorkflowFormatError
from dnne_robot.workflow.json_source import duplicate_keys
from dnne_robot.workflow.model import Link, Node, Workflow


def is_link(value: Any) -> bool:
    """ComfyUI's own test: a list of exactly two items, a string then a number."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
    )


def unwrap_literal(value: Any) -> Any:
    """``{"__value__": x}`` (how a list widget value is kept from looking like a link) -> x."""
    if isinstance(value, dict) and len(value) == 1 and "__value__" in value:
        return value["__value__"]
    return value


def _slot(value: int | float, node_id: str, name: str) -> int:
    if isinstance(value, int):
        return value
    if math.isfinite(value) and value.is_integer():
        return int(value)
    raise WorkflowFormatError(
        f"input {short(name)}: link output index must be an integer, got {value!r}",
        node_id=node_id,
        field=f"inputs.{name}",
    )


def _title(meta: Any, class_type: str) -> str:
    if isinstance(meta, dict):
        title = meta.get("title")
        if isinstance(title, str):
            return title
        if isinstance(title, int | float) and not isinstance(title, bool):
            return str(title)
    return class_type


def looks_like_api_node(value: Any) -> bool:
    return isinstance(value, dict) and "class_type" in value


def read_api_prompt(prompt: dict[str, Any]) -> Workflow:
    """Read an API prompt. Links to nodes that are not in the prompt are left out (noted).

    ``{}`` reads as an empty workflow (what :func:`to_api_prompt` writes for one); the
    validator reports that there is nothing to export.
    """
    wf = Workflow(source_format="api", duplicate_ids=duplicate_keys(prompt))
    if not prompt:
        wf.notes.append("the workflow has no nodes")
    for nid in wf.duplicate_ids:
        wf.notes.append(f"duplicate node id #{short_id(nid)}: the first node is kept")
    for nid, entry in prompt.items():
        if not isinstance(entry, dict):
            raise WorkflowFormatError(
                f"expected an object with 'class_type' and 'inputs', got {json_type(entry)}",
                node_id=nid,
            )
        class_type = entry.get("class_type")
        if class_type is None:
            raise WorkflowFormatError("node has no 'class_type'", node_id=nid, field="class_type")
        if not isinstance(class_type, str) or not class_type:
            raise WorkflowFormatError(
                f"'class_type' must be a non-empty string, got {short(repr(class_type), 40)}",
                node_id=nid,
                field="class_type",
            )
        raw_inputs = entry.get("inputs")
        if raw_inputs is None:
            raw_inputs = {}
        if not isinstance(raw_inputs, dict):
            raise WorkflowFormatError(
                f"'inputs' must be an object, got {json_type(raw_inputs)}",
                node_id=nid,
                field="inputs",
            )
        node = Node(id=nid, class_type=class_type, title=_title(entry.get("_meta"), class_type))
        for name, value in raw_inputs.items():
            if is_link(value):
                source = value[0]
                slot = _slot(value[1], nid, name)
                if source not in prompt:
                    wf.notes.append(
                        f"input {short(name)} of {node_ref(nid, node.title, class_type)} links to "
                        f"missing node #{short_id(source)}; left unlinked"
                    )
                    continue
                node.inputs[name] = Link(source, slot, nid, name)
            else:
                node.inputs[name] = unwrap_literal(value)
        wf.nodes[nid] = node
    return wf
