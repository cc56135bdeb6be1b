"""Writing a :class:`Workflow` back out as a ComfyUI API prompt (what "Save (API)" writes)."""

from __future__ import annotations

from typing import Any

from dnne_robot.workflow.model import Link, Workflow


def api_literal(value: Any) -> Any:
    """A widget value as the API format writes it.

    A list is wrapped as ``{"__value__": [...]}`` so it cannot pass for a link; a dict that is
    itself ``{"__value__": ...}`` is wrapped too, so reading it back unwraps only once.
    """
    if isinstance(value, list):
        return {"__value__": list(value)}
    if isinstance(value, dict) and len(value) == 1 and "__value__" in value:
        return {"__value__": value}
    return value


def to_api_prompt(workflow: Workflow) -> dict[str, Any]:
    """The API prompt for ``workflow``: ``{id: {"inputs", "class_type", "_meta": {"title"}}}``.

    The workflow is already past bypass, mute, reroute and primitive handling, so every node
    is written. Links become ``[source_id, output_index]``. Widget values that could not be
    named (``Node.extra_widgets``) have no place in the API format and are not written.
    """
    prompt: dict[str, Any] = {}
    for nid, node in workflow.nodes.items():
        inputs: dict[str, Any] = {}
        for name, value in node.inputs.items():
            if isinstance(value, Link):
                inputs[name] = [value.source, value.source_slot]
            else:
                inputs[name] = api_literal(value)
        prompt[nid] = {
            "inputs": inputs,
            "class_type": node.class_type,
            "_meta": {"title": node.title},
        }
    return prompt
