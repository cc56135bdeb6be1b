"""The repository's UI files open in ComfyUI with every value where it was saved.

ComfyUI's frontend builds a node's widgets from ``/object_info`` (required, then optional
inputs, in declaration order) and hands ``widgets_values`` out by position. An INT input
gets a "control after generate" widget right after it when it declares
``control_after_generate``, or, when it says nothing, when it is named ``seed`` or
``noise_seed`` (ComfyUI_frontend ``useIntWidget``). A file that leaves a control's value
out shifts every later widget by one, so this lays each scenario out that way and compares
with what ``dnne-robot`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dnne_robot.catalog import object_info
from dnne_robot.pipeline import port_lookup, widget_lookup
from dnne_robot.workflow import CONTROL_VALUES, Link, load_workflow

REPO = Path(__file__).resolve().parents[2]
UI_FILES = sorted(p for p in [*REPO.glob("scenarios/*.json"), *REPO.glob("scenarios/bench/*.json")]
                  if not p.name.endswith(".api.json"))
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


def frontend_widgets(entry: dict[str, Any], values: list[Any]) -> tuple[dict[str, Any],
                                                                        dict[str, Any]]:
    """(widget values, control values) by name, as the frontend assigns ``values``."""
    widgets: dict[str, Any] = {}
    controls: dict[str, Any] = {}
    queue = list(values)
    for section in ("required", "optional"):
        for name in entry["input_order"][section]:
            type_entry, opts = entry["input"][section][name]
            if not (isinstance(type_entry, list) or type_entry in WIDGET_TYPES):
                continue
            if opts.get("forceInput"):
                continue
            widgets[name] = queue.pop(0) if queue else None
            control = opts.get("control_after_generate",
                               name in ("seed", "noise_seed"))
            if type_entry == "INT" and control:
                controls[name] = queue.pop(0) if queue else None
    assert not queue, f"values left over: {queue}"
    return widgets, controls


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_each_scenario_opens_in_comfyui_with_its_values(path: Path) -> None:
    info = object_info()
    saved = json.loads(path.read_text())
    read = load_workflow(path, widgets=widget_lookup, ports=port_lookup)  # as export does
    checked = 0
    for node in saved["nodes"]:
        entry = info.get(node["type"])
        if entry is None:
            continue
        widgets, controls = frontend_widgets(entry, node["widgets_values"])
        for name, value in controls.items():
            assert value == "fixed", f"{path.name} #{node['id']} {name}: control {value!r}"
            assert value in CONTROL_VALUES
        inputs = read.nodes[str(node["id"])].inputs
        for name, value in widgets.items():
            if isinstance(inputs.get(name), Link):
                continue
            assert inputs.get(name) == value, (
                f"{path.name} #{node['id']} {node['type']}.{name}: the frontend shows "
                f"{value!r}, dnne-robot reads {inputs.get(name)!r}")
            checked += 1
    assert checked


def test_the_pack_declares_every_seed_control() -> None:
    """A seed with a control starts it at ``fixed``; an INT named like a seed without one
    says so, or the frontend would add one by its name."""
    for class_type, entry in object_info().items():
        for section in ("required", "optional"):
            for name, (type_entry, opts) in entry["input"][section].items():
                if type_entry == "INT" and name in ("seed", "noise_seed"):
                    assert "control_after_generate" in opts, f"{class_type}.{name}"
                if opts.get("control_after_generate"):
                    assert opts["control_after_generate"] == "fixed", f"{class_type}.{name}"
