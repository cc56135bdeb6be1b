"""Reconciling an API prompt with the UI workflow it was made from.

An API prompt keys links by input name, but the tools that produced it have been known to
attach links to the wrong input or source slot (DNNE rebuilt prompts with every target slot
set to 0). The UI workflow, resolved by input *names*, is the reference: where it disagrees
with the prompt about a link's source node or slot, the UI wins and a :class:`Repair` records
the change. Widget values are left as the prompt has them: the prompt is what ran.
"""

from __future__ import annotations

from dataclasses import replace

from dnne_robot.workflow.describe import node_ref, short, short_id
from dnne_robot.workflow.model import Link, Node, Repair, Workflow


def _ref(node: Node) -> str:
    return node_ref(node.id, node.title, node.class_type)


def reconcile_with_ui(api: Workflow, ui: Workflow) -> None:
    """Correct ``api``'s links from ``ui`` in place, recording repairs and notes on ``api``.

    Args:
        api: the workflow read from the API prompt.
        ui: the same workflow read from its UI save file (bypass, mute and reroutes already
            applied, as they were when the prompt was made).
    """
    api.repairs.extend(replace(r, reason=f"UI workflow: {r.reason}") for r in ui.repairs)
    api.duplicate_ids.extend(d for d in ui.duplicate_ids if d not in api.duplicate_ids)
    missing = [nid for nid in api.nodes if nid not in ui.nodes]
    if missing:
        shown = ", ".join(f"#{short_id(n)}" for n in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        api.notes.append(
            f"API node(s) {shown}{more} not found in the UI workflow; their links are unchecked"
        )
    for nid, node in api.nodes.items():
        ui_node = ui.nodes.get(nid)
        if ui_node is None:
            continue
        if ui_node.class_type != node.class_type:
            api.notes.append(
                f"node #{short_id(nid)} is {short_id(node.class_type)} in the API prompt but "
                f"{short_id(ui_node.class_type)} in the UI workflow; its links are unchecked"
            )
            continue
        _reconcile_node(api, node, ui_node)


def _reconcile_node(api: Workflow, node: Node, ui_node: Node) -> None:
    for name, value in list(node.inputs.items()):
        if not isinstance(value, Link):
            continue
        ui_value = ui_node.inputs.get(name)
        if not isinstance(ui_value, Link):
            why = (
                "the UI input is not linked"
                if name in ui_node.inputs or name in ui_node.input_types
                else "the UI node has no such input"
            )
            api.notes.append(
                f"API link into input {short(name)} of {_ref(node)} (from "
                f"#{short_id(value.source)} output {value.source_slot}) has no counterpart in "
                f"the UI workflow ({why}); kept"
            )
            continue
        if (ui_value.source, ui_value.source_slot) == (value.source, value.source_slot):
            continue
        if ui_value.source not in api.nodes:
            api.notes.append(
                f"input {short(name)} of {_ref(node)}: the UI workflow links it from "
                f"#{short_id(ui_value.source)}, which the API prompt lacks; kept the prompt's link"
            )
            continue
        same_source = ui_value.source == value.source
        node.inputs[name] = replace(
            value,
            source=ui_value.source,
            source_slot=ui_value.source_slot,
            type=ui_value.type,
            link_id=ui_value.link_id,
        )
        api.repairs.append(
            Repair(
                link_id=ui_value.link_id,
                source=ui_value.source,
                target=node.id,
                field="source_slot" if same_source else "source",
                old=value.source_slot if same_source else [value.source, value.source_slot],
                new=ui_value.source_slot
                if same_source
                else [ui_value.source, ui_value.source_slot],
                reason="API prompt disagrees with the UI workflow, resolved by input name",
                target_input=name,
            )
        )
    for name, ui_value in ui_node.inputs.items():
        if not isinstance(ui_value, Link) or isinstance(node.inputs.get(name), Link):
            continue
        if ui_value.source not in api.nodes:
            api.notes.append(
                f"UI link into input {short(name)} of {_ref(node)} comes from "
                f"#{short_id(ui_value.source)}, which the API prompt lacks; not restored"
            )
            continue
        old = node.inputs.get(name)
        node.inputs[name] = Link(
            ui_value.source, ui_value.source_slot, node.id, name, ui_value.type, ui_value.link_id
        )
        api.repairs.append(
            Repair(
                link_id=ui_value.link_id,
                source=ui_value.source,
                target=node.id,
                field="source",
                old=old,
                new=[ui_value.source, ui_value.source_slot],
                reason="link missing from the API prompt; restored from the UI workflow",
                target_input=name,
            )
        )
