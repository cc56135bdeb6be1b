"""Telling the input formats apart: UI save file, API prompt, or a ``/prompt`` payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dnne_robot.workflow.api_format import looks_like_api_node
from dnne_robot.workflow.describe import json_type
from dnne_robot.workflow.errors import WorkflowFormatError


@dataclass(frozen=True)
class Detected:
    """What a parsed file is.

    Attributes:
        kind: ``"ui"`` or ``"api"``.
        body: the UI workflow dict, or the API prompt dict.
        embedded_ui: for a ``/prompt`` payload, the UI workflow ComfyUI embeds under
            ``extra_data.extra_pnginfo.workflow`` (``None`` when absent).
    """

    kind: str
    body: dict[str, Any]
    embedded_ui: Any = None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def detect(data: Any) -> Detected:
    """Classify parsed JSON; anything that is no workflow raises :class:`WorkflowFormatError`."""
    if not isinstance(data, dict):
        raise WorkflowFormatError(
            f"expected a JSON object (a ComfyUI workflow), got {json_type(data)} at the top level"
        )
    if "nodes" in data and not looks_like_api_node(data["nodes"]):
        if not isinstance(data["nodes"], list):
            raise WorkflowFormatError(
                f"'nodes' must be a list, got {json_type(data['nodes'])}", field="nodes"
            )
        return Detected("ui", data)
    prompt = data.get("prompt")
    if isinstance(prompt, dict) and not looks_like_api_node(prompt):
        embedded = _dig(data, "extra_data", "extra_pnginfo", "workflow")
        if embedded is None and isinstance(data.get("workflow"), dict):
            embedded = data["workflow"]  # {"prompt": ..., "workflow": ...} as PNG metadata has
        return Detected("api", prompt, embedded)
    return Detected("api", data)
