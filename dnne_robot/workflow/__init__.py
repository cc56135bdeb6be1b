"""The reader stage: ComfyUI/DNNE workflow files in, one :class:`Workflow` model out.

Reads API prompts, ``/prompt`` payloads and UI save files (v0.4 and v1), resolves links by
input name, repairs inconsistent files (reporting each :class:`Repair`), and applies the
frontend's bypass/mute/reroute/primitive handling. :func:`to_api_prompt` writes a workflow
back out in the API format.
"""

from dnne_robot.workflow.convert import to_api_prompt
from dnne_robot.workflow.errors import WorkflowError, WorkflowFormatError, WorkflowFormatErrors
from dnne_robot.workflow.load import load_workflow, read_workflow
from dnne_robot.workflow.model import Link, Node, Repair, Workflow
from dnne_robot.workflow.widgets import CONTROL_VALUES, WidgetInfo, WidgetLookup

__all__ = [
    "CONTROL_VALUES",
    "Link",
    "Node",
    "Repair",
    "WidgetInfo",
    "WidgetLookup",
    "Workflow",
    "WorkflowError",
    "WorkflowFormatError",
    "WorkflowFormatErrors",
    "load_workflow",
    "read_workflow",
    "to_api_prompt",
]
