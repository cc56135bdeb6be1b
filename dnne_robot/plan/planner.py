"""Planning: resolve types, fill defaults, retarget the simulator, order the nodes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
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

    def by_id(self, node_id: str) -> PlannedNode:
        return next(n for n in self.nodes if n.id == node_id)

    def consumers(self, node_id: str) -> list[tuple[PlannedNode, str, Link]]:
        return [(n, name, link) for n in self.nodes for name, link in n.links.items()
                if link.source == node_id]

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
    planned = []
    for nid in order:
        node, spec = wf.nodes[nid], specs[nid]
        assert spec is not None
        params = {w.name: w.default for w in spec.widgets}
        links: dict[str, Link] = {}
        for name, value in node.inputs.items():
            if spec.input(name) is None:
                continue
            if isinstance(value, Link):
                links[name] = value
            else:
                params[name] = _coerce(spec, name, value)
        stem = snake(node.title if node.title != node.class_type else spec.display_name)
        numeric = nid.isascii() and nid.isdigit()  # '²'.isdigit() too, but is no identifier
        id_part = nid if numeric else snake(nid, fallback="n")
        module = modules.take(f"node_{id_part}_{stem}"[:60])
        cls_id = nid if numeric else camel(nid, fallback="N")
        class_name = classes.take(f"Node{cls_id}{camel(stem)}"[:60])
        planned.append(PlannedNode(node, spec, params, links, module, class_name,
                                   module.removeprefix("node_")))
    return Plan(wf, planned, sim, backend, source_name, workflow_hash(wf), optimize=optimize)


def _coerce(spec: NodeSpec, name: str, value: Any) -> Any:
    inp = spec.input(name)
    if inp is not None and inp.type == "INT" and isinstance(value, float):
        return int(value)
    if inp is not None and inp.type == "FLOAT" and isinstance(value, int):
        return float(value)
    return value
