"""Build ComfyUI/DNNE UI-format workflows in code, from the node catalog.

    from dnne_robot.catalog.builder import ui_workflow
    wf = ui_workflow([(1, "Tensor", "Ones", {"shape": "2,3", "fill_mode": "ones"}), ...],
                     [(1, "tensor", 2, "input"), ...])   # (source, output, target, input)


Each node's ``inputs`` list holds its link inputs, then one entry per widget (as current
ComfyUI and DNNE frontends save them), and ``widgets_values`` follows the catalog's widget
order, with the seed's "control after generate" value (``fixed``) right after it as ComfyUI
writes it. Several edges into one input are saved the way DNNE does: every link in the
``links`` table, the input's ``link`` the newest and its ``links`` list all of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .registry import SEED_CONTROL_DEFAULT, get_spec
from .spec import NodeSpec

Node = tuple[int, str, str, dict[str, Any]]  # (id, type, title, widget values)
Edge = tuple[int, str, int, str]  # (source id, output name, target id, input name)


def ui_workflow(nodes: list[Node], edges: list[Edge]) -> dict[str, Any]:
    """The workflow as the UI saves it; unknown types and widget names are refused."""
    out_nodes, links, by = [], [], {}
    for nid, typ, title, widgets in nodes:
        spec = get_spec(typ)
        if spec is None:
            raise ValueError(f"unknown node type {typ!r}")
        unknown = set(widgets) - {w.name for w in spec.widgets}
        if unknown:
            raise ValueError(f"{typ}: unknown widgets {sorted(unknown)}")
        inputs = [
            {"name": i.name, "type": i.type, "link": None} for i in spec.inputs if not i.is_widget
        ]
        inputs += [
            {"name": w.name, "type": w.type, "widget": {"name": w.name}, "link": None}
            for w in spec.widgets
        ]
        outputs = [
            {"name": o.name, "type": o.type, "links": [], "slot_index": k}
            for k, o in enumerate(spec.outputs)
        ]
        n = {
            "id": nid,
            "type": typ,
            "pos": [100 + 250 * (len(out_nodes) % 4), 100 + 200 * (len(out_nodes) // 4)],
            "size": [240, 160],
            "flags": {},
            "order": len(out_nodes),
            "mode": 0,
            "title": title,
            "inputs": inputs,
            "outputs": outputs,
            "properties": {"Node name for S&R": typ},
            "widgets_values": widget_values(spec, widgets),
        }
        out_nodes.append(n)
        by[nid] = (n, spec)
    for lid, (src, oname, dst, iname) in enumerate(edges, start=1):
        sn, ss = by[src]
        dn, _ = by[dst]
        oslot = ss.output_index(oname)
        tslot = [i["name"] for i in dn["inputs"]].index(iname)
        links.append([lid, src, oslot, dst, tslot, ss.outputs[oslot].type])
        entry = dn["inputs"][tslot]
        if entry["link"] is not None:  # DNNE: several links into one input
            entry["links"] = [*entry.get("links", [entry["link"]]), lid]
        entry["link"] = lid
        sn["outputs"][oslot]["links"].append(lid)
    for n in out_nodes:
        for o in n["outputs"]:
            if not o["links"]:
                o["links"] = None
    return {
        "last_node_id": max(n["id"] for n in out_nodes),
        "last_link_id": len(links),
        "nodes": out_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
        "version": 0.4,
    }


def write_scenarios(scenarios: dict[str, dict[str, Any]], folder: Path) -> None:
    """Write each workflow as ``folder/<name>.json``, as the UI saves it (indent 2)."""
    for name, workflow in scenarios.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(workflow, indent=2) + "\n")
        print(f"wrote {path}")


def widget_values(spec: NodeSpec, widgets: dict[str, Any]) -> list[Any]:
    """A node's ``widgets_values`` as ComfyUI's frontend lays them out: each widget in order,
    and after a seed with a "control after generate" companion, that control's value."""
    values: list[Any] = []
    for w in spec.widgets:
        values.append(widgets.get(w.name, w.default))
        if w.control_after_generate:
            values.append(SEED_CONTROL_DEFAULT)
    return values
