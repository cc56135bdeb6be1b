"""The reader's entry points: :func:`load_workflow` for a file, :func:`read_workflow` for
already-parsed JSON. Both accept every format :mod:`.detect` knows and raise only
:class:`WorkflowFormatError` for input they cannot read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnne_robot.workflow.api_format import read_api_prompt
from dnne_robot.workflow.describe import node_ref, short
from dnne_robot.workflow.detect import detect
from dnne_robot.workflow.errors import WorkflowFormatError, WorkflowFormatErrors
from dnne_robot.workflow.json_source import read_json_file, repeated_keys
from dnne_robot.workflow.model import Link, Workflow
from dnne_robot.workflow.ports import PortLookup
from dnne_robot.workflow.reconcile import reconcile_with_ui
from dnne_robot.workflow.ui_format import read_ui_workflow
from dnne_robot.workflow.virtual_nodes import PACK_NODE_TYPES
from dnne_robot.workflow.widgets import WidgetLookup


def load_workflow(
    path: str | Path,
    *,
    ui_workflow: str | Path | None = None,
    widgets: WidgetLookup | None = None,
    ports: PortLookup | None = None,
) -> Workflow:
    """Read a workflow file (API prompt, ``/prompt`` payload, or UI save file v0.4/v1).

    Args:
        path: the workflow file, UTF-8 JSON (a BOM is fine).
        ui_workflow: the UI save file an API prompt was made from; its links, resolved by
            input name, correct the prompt's (every change is a :class:`Repair`).
        widgets: names the positional widget values of UI nodes whose file does not.
        ports: the ports of UI nodes whose file lists none (DNNE's hand-written files).

    Raises:
        WorkflowFormatError: the file (or ``ui_workflow``) cannot be read; ``str()`` names
            the file, and the line and column of a JSON syntax error.
    """
    data = read_json_file(path)
    ui_data = read_json_file(ui_workflow) if ui_workflow is not None else None
    return read_workflow(
        data,
        path=str(path),
        ui_data=ui_data,
        widgets=widgets,
        ui_path=str(ui_workflow) if ui_workflow is not None else None,
        ports=ports,
    )


def read_workflow(
    data: Any,
    *,
    path: str | None = None,
    ui_data: Any = None,
    widgets: WidgetLookup | None = None,
    ui_path: str | None = None,
    ports: PortLookup | None = None,
) -> Workflow:
    """Read already-parsed workflow JSON; see :func:`load_workflow`.

    Args:
        data: the parsed file.
        path: where it came from, for messages.
        ui_data: the parsed UI workflow to reconcile an API prompt with; a ``/prompt``
            payload's embedded copy is used when this is ``None``.
        widgets: widget names by node type, for UI nodes.
        ui_path: where ``ui_data`` came from, for messages.
        ports: the ports of UI nodes whose file lists none.
    """
    try:
        _refuse_repeated_keys(data, path)
        return drop_pack_nodes(_read(data, path, ui_data, widgets, ui_path, ports))
    except RecursionError:
        raise WorkflowFormatError("workflow is nested too deeply to read", path=path) from None


def _refuse_repeated_keys(data: Any, path: str | None) -> None:
    """A key written twice in one object is an error: ComfyUI's loaders keep the last value,
    so the file would show one graph in the editor and export another. (Node ids repeated at
    the top of an API prompt are reported by the validator, naming both nodes.)"""
    errors = []
    for where, key in repeated_keys(data):
        if not where and "nodes" not in data:
            continue  # an API prompt's node ids: duplicate_ids
        node_id, field = _node_of(data, where)
        errors.append(WorkflowFormatError(
            f"key {short(key, 60)} appears more than once in one object: ComfyUI would use "
            "the last value and this tool would read the first; keep one",
            path=path, node_id=node_id, field=".".join(map(str, (*field, key)))))
    if errors:
        raise WorkflowFormatErrors(errors, path=path)


def _node_of(data: Any, where: tuple[Any, ...]) -> tuple[str | None, tuple[Any, ...]]:
    """The node a JSON path lies in (its id) and the path within that node."""
    for depth in range(len(where) - 1, -1, -1):
        head, rest = where[:depth], where[depth:]
        container: Any = data
        for step in head:
            container = container[step]
        if head and head[-1] == "nodes" and isinstance(container, list) and rest:
            node = container[rest[0]]
            if isinstance(node, dict) and "id" in node:
                return str(node["id"]), rest[1:]
        if isinstance(container, dict) and rest and isinstance(container.get(rest[0]), dict) \
                and "class_type" in container[rest[0]]:
            return str(rest[0]), rest[1:]
    return None, where


def _read_ui(data: Any, widgets: WidgetLookup | None, path: str | None,
             ports: PortLookup | None = None) -> Workflow:
    try:
        found = detect(data)
        if found.kind != "ui":
            raise WorkflowFormatError("expected a UI workflow (with a 'nodes' list)")
        return read_ui_workflow(found.body, widgets, ports)
    except WorkflowFormatError as exc:
        if exc.path is None:
            exc.path = path
        raise


def _read(
    data: Any,
    path: str | None,
    ui_data: Any,
    widgets: WidgetLookup | None,
    ui_path: str | None,
    ports: PortLookup | None = None,
) -> Workflow:
    try:
        found = detect(data)
        if found.kind == "ui":
            wf = read_ui_workflow(found.body, widgets, ports)
        else:
            wf = read_api_prompt(found.body)
    except WorkflowFormatError as exc:
        if exc.path is None:
            exc.path = path
        raise
    wf.path = path
    if found.kind == "ui":
        if ui_data is not None:
            wf.notes.append("ui_workflow ignored: the workflow is already a UI save file")
        return wf
    if ui_data is not None:
        ui = _read_ui(ui_data, widgets, ui_path or "ui workflow", ports)
    elif found.embedded_ui is not None:
        try:
            ui = _read_ui(found.embedded_ui, widgets, None, ports)
        except WorkflowFormatError as exc:
            wf.notes.append(
                f"embedded UI workflow (extra_pnginfo.workflow) could not be read ({exc}); "
                "links not reconciled"
            )
            return wf
    else:
        return wf
    reconcile_with_ui(wf, ui)
    return wf


def drop_pack_nodes(wf: Workflow) -> Workflow:
    """Leave out the pack's own save nodes (:data:`PACK_NODE_TYPES`), with a note each, and
    any link into or out of them: a graph saved with one in it exports as drawn."""
    gone = [nid for nid, node in wf.nodes.items() if node.class_type in PACK_NODE_TYPES]
    for nid in gone:
        node = wf.nodes.pop(nid)
        wf.notes.append(f"ignored {node_ref(nid, node.title, node.class_type)}: the dnne-robot "
                        "pack's save node, not part of the graph")
    if gone:
        for node in wf.nodes.values():
            for name, value in list(node.inputs.items()):
                if isinstance(value, Link) and value.source in gone:
                    del node.inputs[name]
    return wf
