"""Loading a generated pack the way ComfyUI does, and building graphs from its definitions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


def import_pack(path: Path, name: str, *, search_locations: bool = True) -> ModuleType:
    """Import ``path`` as ComfyUI imports a folder in ``custom_nodes/``.

    ComfyUI builds a spec from the folder's ``__init__.py`` under the folder's name, registers
    the module in ``sys.modules`` and executes it. Callers remove ``name`` and its submodules
    from ``sys.modules`` afterwards (:func:`forget_pack`).
    """
    kwargs: dict[str, Any] = {"submodule_search_locations": [str(path)]} if search_locations else {}
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py", **kwargs)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def forget_pack(name: str) -> None:
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def is_widget(type_entry: Any) -> bool:
    return isinstance(type_entry, list) or type_entry in WIDGET_TYPES


class PromptBuilder:
    """An API prompt built only from a loaded pack's ``NODE_CLASS_MAPPINGS``.

    Widgets take their ``INPUT_TYPES`` defaults unless overridden; links are given by output
    *name* and resolved to an index through the source class's ``RETURN_NAMES``.
    """

    def __init__(self, mappings: dict[str, type]) -> None:
        self.mappings = mappings
        self.prompt: dict[str, dict[str, Any]] = {}

    def add(self, node_id: str, class_type: str, title: str | None = None,
            **widgets: Any) -> str:
        cls = self.mappings[class_type]
        inputs: dict[str, Any] = {}
        for section in ("required", "optional"):
            for name, (type_entry, opts) in cls.INPUT_TYPES().get(section, {}).items():
                if is_widget(type_entry) and "default" in opts:
                    inputs[name] = opts["default"]
        for name, value in widgets.items():
            assert name in inputs, f"{class_type} has no widget {name!r}"
            inputs[name] = value
        self.prompt[node_id] = {
            "class_type": class_type,
            "inputs": inputs,
            "_meta": {"title": title or class_type},
        }
        return node_id

    def link(self, source: str, output: str, target: str, input_name: str) -> None:
        src_cls = self.mappings[self.prompt[source]["class_type"]]
        dst_cls = self.mappings[self.prompt[target]["class_type"]]
        types = dst_cls.INPUT_TYPES()
        sections = {**types.get("required", {}), **types.get("optional", {})}
        assert input_name in sections, f"no input {input_name!r}"
        assert not is_widget(sections[input_name][0]), f"{input_name!r} is a widget"
        index = list(src_cls.RETURN_NAMES).index(output)
        self.prompt[target]["inputs"][input_name] = [source, index]

    def ui_workflow(self) -> dict[str, Any]:
        """The same graph as a UI save file (v0.4), as the current frontend writes it.

        Every widget is listed in ``inputs`` with a ``"widget"`` key and stored positionally in
        ``widgets_values`` (required, then optional), with the hidden "control after generate"
        value after a seed-like widget.
        """
        links: list[list[Any]] = []
        nodes: list[dict[str, Any]] = []
        out_links: dict[tuple[str, int], list[int]] = {}
        link_ids: dict[tuple[str, str], int] = {}
        for target, node in self.prompt.items():
            for name, value in node["inputs"].items():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    link_ids[(target, name)] = len(link_ids) + 1
        for target, node in self.prompt.items():
            cls = self.mappings[node["class_type"]]
            types = cls.INPUT_TYPES()
            inputs, widgets_values = [], []
            for section in ("required", "optional"):
                for slot_name, (type_entry, opts) in types.get(section, {}).items():
                    link_id = link_ids.get((target, slot_name))
                    if is_widget(type_entry):
                        type_name = "COMBO" if isinstance(type_entry, list) else type_entry
                        inputs.append({"name": slot_name, "type": type_name, "link": link_id,
                                       "widget": {"name": slot_name}})
                        widgets_values.append(node["inputs"][slot_name])
                        if opts.get("control_after_generate"):
                            widgets_values.append("fixed")
                    else:
                        inputs.append({"name": slot_name, "type": str(type_entry),
                                       "link": link_id})
                    if link_id is not None:
                        source, slot = node["inputs"][slot_name]
                        out_links.setdefault((source, slot), []).append(link_id)
                        links.append([link_id, int(source), slot, int(target),
                                      len(inputs) - 1, str(type_entry)])
            nodes.append({"id": int(target), "type": node["class_type"], "mode": 0,
                          "title": node["_meta"]["title"], "inputs": inputs,
                          "widgets_values": widgets_values})
        for ui_node in nodes:  # outputs last: every link into the graph is known by now
            cls = self.mappings[ui_node["type"]]
            ui_node["outputs"] = [
                {"name": name, "type": type_, "slot_index": i,
                 "links": sorted(out_links.get((str(ui_node["id"]), i), [])) or None}
                for i, (type_, name) in enumerate(
                    zip(cls.RETURN_TYPES, getattr(cls, "RETURN_NAMES", ()), strict=True))
            ]
        links.sort()
        return {"last_node_id": max(n["id"] for n in nodes), "last_link_id": len(links),
                "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {},
                "version": 0.4}
