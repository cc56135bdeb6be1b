"""Planning: resolve types, fill defaults, retarget the simulator, order the nodes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import NodeSpec, get_spec
from ..envs import ENGINES
from ..validate import execution_order
from ..workflow.model import Link, Node, Workflow
from .names import NameAllocator, camel, snake

SIMS = ENGINES  # the simulator engines: --sim chooses one
BACKENDS = ("local", "ray")


@dataclass
class PlannedNode:
    """A node ready to render: its spec, its parameters with defaults, and its names."""

    node: Node
    spec: NodeSpec
    params: dict[str, Any]
    links: dict[str, Link]
    module: str
    class_name: str
    var: str
    fused_from: list[str] = field(default_factory=list)
    more_links: dict[str, list[Link]] = field(default_factory=dict)
    """Further links into an input that has one in ``links`` (DNNE allows several)."""

    def all_links(self) -> list[tuple[str, Link]]:
        """Every link into this node as (input name, link), several per input in turn."""
        return [(name, lk) for name, first in self.links.items()
                for lk in (first, *self.more_links.get(name, ()))]

    def run_links(self) -> list[tuple[str, Link]]:
        """The links that carry messages when the graph runs (virtual inputs left out)."""
        return [(name, lk) for name, lk in self.all_links()
                if not ((inp := self.spec.input(name)) is not None and inp.virtual)]

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def title(self) -> str:
        return self.node.title


@dataclass
class Plan:
    """Everything the renderer needs, in a deterministic order."""

    workflow: Workflow
    nodes: list[PlannedNode]
    sim: str = "gymnasium"
    backend: str = "local"
    source_name: str = "workflow.json"
    workflow_hash: str = ""
    notices: list[str] = field(default_factory=list)
    optimize: bool = False
    absorbed: list[PlannedNode] = field(default_factory=list)
    """Virtual nodes (DNNE's Linear Layers): read by the nodes they run inside, never run."""
    workflow_dir: Path | None = None
    """The workflow file's folder: data files the workflow names are looked up from there."""
    custom_code_dir: Path | None = None
    """``--allow-custom-code DIR``: where user scripts may come from (None: refused)."""
    max_param_memory: str | None = None
    """``--max-param-memory SIZE`` (``16GiB``, ``none``): the networks' limit, which the export
    keeps for its runs (None: ``DNNE_ROBOT_MAX_PARAM_MEMORY`` or the default)."""

    def by_id(self, node_id: str) -> PlannedNode:
        return next(n for n in (*self.nodes, *self.absorbed) if n.id == node_id)

    def consumers(self, node_id: str) -> list[tuple[PlannedNode, str, Link]]:
        """Every (node, input, link) fed by ``node_id``, virtual nodes and links included."""
        return [(n, name, link) for n in (*self.nodes, *self.absorbed)
                for name, link in n.all_links() if link.source == node_id]

    def categories(self) -> set[str]:
        return {n.spec.category for n in self.nodes}


def workflow_hash(wf: Workflow) -> str:
    """A stable hash of the graph's meaning (types, values, links), not of file layout."""
    canon = {
        nid: {"type": n.class_type, "title": n.title,
              "inputs": {k: (["link", v.source, v.source_slot] if isinstance(v, Link) else v)
                         for k, v in sorted(n.inputs.items())}}
        for nid, n in sorted(wf.nodes.items())
    }
    blob = json.dumps(canon, sort_keys=True, default=repr, allow_nan=True).encode()
    return hashlib.sha256(blob).hexdigest()


def make_plan(wf: Workflow, *, sim: str = "gymnasium", backend: str = "local",
              source_name: str = "workflow.json", optimize: bool = False) -> Plan:
    """Build the plan of an already validated workflow."""
    specs = {nid: get_spec(n.class_type) for nid, n in wf.nodes.items()}
    assert all(specs.values()), "make_plan needs a validated workflow"
    order = execution_order(wf, specs)  # type: ignore[arg-type]
    modules, classes = NameAllocator(), NameAllocator()
    planned, absorbed, notices = [], [], []
    for nid in order:
        node, spec = wf.nodes[nid], specs[nid]
        assert spec is not None
        params = {w.name: w.default for w in spec.widgets}
        links: dict[str, Link] = {}
        for name, value in node.inputs.items():
            inp = spec.input(name)
            if inp is None:
                continue
            if isinstance(value, Link):
                links[name] = value
                continue
            current = inp.legacy(value)
            if current is not value:
                notices.append(f"node #{nid} {node.title!r}: {name}={value!r} read as "
                               f"{current!r}")
            params[name] = _coerce(spec, name, current)
        stem = snake(node.title if node.title != node.class_type else spec.display_name)
        numeric = nid.isascii() and nid.isdigit()  # '²'.isdigit() too, but is no identifier
        id_part = nid if numeric else snake(nid, fallback="n")
        module = modules.take(f"node_{id_part}_{stem}"[:60])
        cls_id = nid if numeric else camel(nid, fallback="N")
        class_name = classes.take(f"Node{cls_id}{camel(stem)}"[:60])
        more = {name: list(ls) for name, ls in node.more_links.items() if name in links}
        entry = PlannedNode(node, spec, params, links, module, class_name,
                            module.removeprefix("node_"), more_links=more)
        (absorbed if spec.virtual else planned).append(entry)
    plan = Plan(wf, planned, sim, backend, source_name, workflow_hash(wf), optimize=optimize,
                absorbed=absorbed)
    plan.notices.extend(notices)
    plan.notices.extend(unused_widgets_notice(planned + absorbed))
    return plan


def unused_widgets_notice(nodes: list[PlannedNode]) -> list[str]:
    """One notice listing every widget a file sets, to other than its default, that has no
    effect here (Isaac Gym's). A default value says nothing the user chose, so it is quiet."""
    parts = []
    for node in nodes:
        names = [w.name for w in node.spec.widgets if w.unused and w.name in node.node.inputs
                 and node.node.inputs[w.name] != w.default]
        if names:
            parts.append(f"#{node.id} {node.spec.class_type}: {', '.join(names)}")
    if not parts:
        return []
    return ["settings with no effect here (Isaac Gym and editor settings; `dnne-robot nodes "
            "TYPE` says why), ignored: " + "; ".join(parts)]


def _coerce(spec: NodeSpec, name: str, value: Any) -> Any:
    inp = spec.input(name)
    if inp is not None and inp.type == "INT" and isinstance(value, float):
        return int(value)
    if inp is not None and inp.type == "FLOAT" and isinstance(value, int):
        return float(value)
    return value
