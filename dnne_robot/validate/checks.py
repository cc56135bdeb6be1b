"""Every check a workflow must pass before a file is written."""

from __future__ import annotations

import math
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from typing import Any

from ..catalog import get_spec, suggest
from ..catalog.spec import InputSpec, NodeSpec
from ..workflow.model import Link, Node, Workflow
from .problems import Problem

MAX_STRING = 100_000


def _problem(
    node: Node, message: str, field: str | None = None, severity: str = "error"
) -> Problem:
    return Problem(message, node.id, node.title, node.class_type, field, severity)


def check_value(spec: InputSpec, value: Any) -> str | None:
    """Why ``value`` is not acceptable for widget ``spec``, or None when it is."""
    kind = spec.type
    if kind == "INT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected an integer, got {type(value).__name__} {_short(value)}"
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"expected a finite integer, got {value}"
            if not value.is_integer():
                return f"expected an integer, got {value}"
    elif kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__} {_short(value)}"
        if isinstance(value, int) and abs(value) >= 2**1024:  # no float holds it
            return f"expected a finite number, got {_short(value)}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value}"
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            return f"expected true or false, got {type(value).__name__} {_short(value)}"
    elif kind == "STRING":
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__} {_short(value)}"
        if len(value) > MAX_STRING:
            return f"string of {len(value)} characters is longer than {MAX_STRING}"
        if "\x00" in value:
            return "string contains a NUL character"
        if not _utf8(value):
            return "string contains a lone surrogate (not valid Unicode text)"
    elif kind == "COMBO":
        if value not in (spec.choices or ()):
            choices = ", ".join(map(str, spec.choices or ()))
            return f"{_short(value)} is not one of: {choices}"
        return None
    if kind in ("INT", "FLOAT"):
        if spec.min is not None and value < spec.min:
            return f"{_short(value)} is below the minimum {_num(spec.min)}"
        if spec.max is not None and value > spec.max:
            return f"{_short(value)} is above the maximum {_num(spec.max)}"
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**60:
        return f"an integer of {len(str(abs(value)))} digits"  # repr() fails past 4,300 digits
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _types_match(out_type: str, in_type: str) -> bool:
    """Whether an output of ``out_type`` may feed an input of ``in_type``.

    ``*`` takes anything; so does a DNNE input type written ``*NAME`` (``*TENSOR``,
    ``*TRIGGER``), which DNNE's editor connects to any output.
    """
    if "*" in (out_type, in_type) or in_type.startswith("*"):
        return True
    outs = set(out_type.split(","))
    ins = set(in_type.split(","))
    return bool(outs & ins)


def check_workflow(
    wf: Workflow, extra: Callable[[Node, NodeSpec], list[Problem]] | None = None
) -> list[Problem]:
    """All problems in ``wf``: errors first in node order, then warnings."""
    problems: list[Problem] = []
    for dup in getattr(wf, "duplicate_ids", []) or []:
        node = wf.nodes.get(str(dup))
        problems.append(
            Problem(f"duplicate node id {str(dup)!r}: ids must be unique", str(dup),
                    node.title if node else None, node.class_type if node else None, "id")
        )
    for note in wf.notes:
        problems.append(Problem(note, severity="warning"))
    for repair in wf.repairs:
        problems.append(Problem(str(repair), severity="warning"))

    if not wf.nodes:
        problems.append(Problem("the workflow has no nodes: nothing to export"))
    specs: dict[str, NodeSpec] = {}
    for node in wf.nodes.values():
        spec = get_spec(node.class_type)
        if spec is None:
            hint = suggest(node.class_type, _families(wf, node))
            msg = f"unknown node type {node.class_type!r}"
            msg += f"; did you mean {hint!r}?" if hint else "; run `dnne-robot nodes` for the list"
            problems.append(_problem(node, msg, "class_type"))
            continue
        specs[node.id] = spec
        problems.extend(_check_node(wf, node, spec))
        if extra is not None:
            problems.extend(extra(node, spec))

    problems.extend(_check_links(wf, specs))
    problems.extend(_check_cycles(wf, specs))
    return sorted(problems, key=lambda p: p.severity != "error")


def _families(wf: Workflow, node: Node) -> set[str]:
    """The families (ml, rl, robotics, flow) of the known nodes an unknown node is wired to."""
    neighbours = [link.source for link in node.links()]
    neighbours += [n.id for n in wf.nodes.values() if any(lk.source == node.id for lk in n.links())]
    return {spec.category for nid in neighbours
            if nid in wf.nodes and (spec := get_spec(wf.nodes[nid].class_type)) is not None}


def _check_node(wf: Workflow, node: Node, spec: NodeSpec) -> list[Problem]:
    problems = []
    for name, value in node.inputs.items():
        inp = spec.input(name)
        if inp is None:
            problems.append(_problem(node, f"unknown input for {spec.class_type}; ignored",
                                     name, "warning"))
            continue
        if isinstance(value, Link):
            continue
        if not inp.is_widget:
            problems.append(_problem(node, f"input of type {inp.type} must be a link, "
                                           f"got the value {_short(value)}", name))
            continue
        why = check_value(inp, inp.legacy(value))
        if why:
            problems.append(_problem(node, why, name))
    for inp in spec.inputs:
        if inp.required and inp.name not in node.inputs:
            if inp.is_widget and inp.default is not None and spec.source == "dnne":
                # An older save of the type (DNNE's SGD Optimizer before batch_size): the
                # editor would show the default, and so does the export.
                problems.append(_problem(node, f"no value in the file; takes the default "
                                               f"{_short(inp.default)}", inp.name, "warning"))
                continue
            what = "link" if not inp.is_widget else "value"
            problems.append(_problem(node, f"missing required input ({what} of type {inp.type})",
                                     inp.name))
    if node.extra_widgets:
        problems.append(_problem(node, f"{len(node.extra_widgets)} widget value(s) beyond "
                                       f"the {len(spec.widgets)} {spec.class_type} takes; ignored",
                                 "widgets_values", "warning"))
    return problems


def _check_links(wf: Workflow, specs: dict[str, NodeSpec]) -> list[Problem]:
    problems = []
    for node in wf.nodes.values():
        spec = specs.get(node.id)
        for link in node.links():
            name = link.target_input
            source = wf.nodes.get(link.source)
            if source is None:
                problems.append(_problem(node, f"linked to node #{link.source}, which does not "
                                               "exist", name))
                continue
            if link.source == node.id:
                problems.append(_problem(node, "linked to its own output", name))
                continue
            src_spec = specs.get(source.id)
            if src_spec is None or spec is None:
                continue
            if not 0 <= link.source_slot < len(src_spec.outputs):
                problems.append(_problem(
                    node, f"linked to output slot {link.source_slot} of node #{source.id} "
                          f"({source.class_type}), which has {len(src_spec.outputs)} output(s)",
                    name))
                continue
            inp = spec.input(name)
            if inp is None:
                continue
            out = src_spec.outputs[link.source_slot]
            if not _types_match(out.type, inp.type):
                problems.append(_problem(
                    node, f"type mismatch: output {out.name!r} of node #{source.id} "
                          f"({source.class_type}) is {out.type}, this input takes {inp.type}",
                    name))
    return problems


def _check_cycles(wf: Workflow, specs: dict[str, NodeSpec]) -> list[Problem]:
    """A feedback loop needs a node that sends before the loop feeds it: an OR merge fed from
    outside the loop, or a node that starts loops (a source that sends first, an optimizer
    with ``enable_bootstrap`` on). Links that carry structure only (``virtual``) and the
    nodes that run inside others (DNNE's Linear Layers) are no part of any loop."""
    graph = _run_graph(wf, specs)
    problems = []
    for scc in strongly_connected(graph):
        if len(scc) < 2:
            continue
        starters = [n for n in scc if (s := specs.get(n)) is not None
                    and s.can_start_loop(_params(wf.nodes[n], s))]
        fed_from_outside = [
            n for n in starters
            if specs[n].class_type != "ORNode" or any(src not in scc for src in graph[n])
        ]
        if not fed_from_outside:
            ordered = sorted(scc, key=_id_key)
            names = ", ".join(f"#{n} {wf.nodes[n].class_type}" for n in ordered)
            first = wf.nodes[ordered[0]]
            # The field is the first node's input that the loop feeds back into.
            field = next((lk.target_input for lk in first.links() if lk.source in scc), None)
            why = ("has no node that can start it" if not starters else
                   "passes an OR merge that nothing outside the loop feeds")
            problems.append(_problem(first, f"feedback loop {why}: {names}. "
                                            + _loop_advice(wf, ordered, specs), field))
    return problems


def _run_graph(wf: Workflow, specs: dict[str, NodeSpec]) -> dict[str, set[str]]:
    """Node id -> the ids it takes messages from when the graph runs."""
    graph: dict[str, set[str]] = {}
    for node in wf.nodes.values():
        spec = specs.get(node.id)
        if spec is not None and spec.virtual:
            continue
        graph[node.id] = set()
        for link in node.links():
            source = specs.get(link.source)
            inp = spec.input(link.target_input) if spec is not None else None
            if (link.source in wf.nodes and link.source != node.id
                    and not (inp is not None and inp.virtual)
                    and not (source is not None and source.virtual)):
                graph[node.id].add(link.source)
    return graph


def _params(node: Node, spec: NodeSpec) -> dict[str, Any]:
    return {name: value for name, value in node.inputs.items() if not isinstance(value, Link)}


def _loop_advice(wf: Workflow, ids: list[str], specs: dict[str, NodeSpec]) -> str:
    """What would start this loop, in the loop's own family."""
    loop_specs = [specs[n] for n in ids if n in specs]
    switches = [f"{s.starts_cycle} on #{n} {s.class_type}" for n, s in zip(ids, loop_specs,
                                                                             strict=False)
                if isinstance(s.starts_cycle, str)]
    if switches:
        return "Turn " + " or ".join(switches) + " so that it sends first"
    if any(s.category == "ml" for s in loop_specs):
        return ("A training loop starts from an optimizer that sends its first step_complete "
                "itself (SGD Optimizer's enable_bootstrap) or a data source fed from outside")
    return ("Close the loop through an ORNode that also takes the env's first observation, "
            "or through a node that sends first (a simulator's bootstrap step)")


def _id_key(node_id: str) -> tuple:
    """Numeric ids in numeric order (without ``int()``: ids may be 5,000 digits or '²'), then
    the rest."""
    if node_id.isascii() and node_id.isdigit():
        digits = node_id.lstrip("0")
        return (0, len(digits), digits, node_id)
    return (1, 0, node_id, node_id)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (graphs may have 10,000 nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    result.append(comp)
    return result


def execution_order(wf: Workflow, specs: dict[str, NodeSpec]) -> list[str]:
    """Node ids in dependency order, loops broken at the nodes that start them; nodes that
    run inside others (virtual) come right after the nodes they feed from."""
    sorter: TopologicalSorter = TopologicalSorter()
    ordered_ids = sorted(wf.nodes, key=_id_key)
    for nid in ordered_ids:
        node = wf.nodes[nid]
        spec = specs[nid]
        deps = []
        for link in node.links():
            if link.source not in wf.nodes or link.source == nid:
                continue
            inp = spec.input(link.target_input)
            if spec.starts_cycle and inp is not None and inp.mode == "any":
                continue  # feedback edges into a loop starter do not order it
            if inp is not None and inp.virtual:
                continue  # structure, not data: a Network's loop-back, an optimizer's models
            deps.append(link.source)
        sorter.add(nid, *deps)
    try:
        return list(sorter.static_order())
    except CycleError:
        return ordered_ids
