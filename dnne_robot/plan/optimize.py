"""``export --optimize``: fewer queues, same results.

Two rewrites of a plan, both exact (the optimized export computes the same numbers, bit for
bit, as the plain one under the same seed):

* **Chains.** A maximal chain of stateless nodes ``n1 -> n2 -> ... -> nk`` (k >= 2), where each
  link is the only output link of its source and the only input link of its target and every
  input is ``each`` (one message in, one out: the same rate), becomes one node. A chain of torch
  layers (Linear, Activation, Dropout, BatchNorm, Network) becomes one ``nn.Sequential`` built
  layer by layer on the first batch, in graph order, as the separate nodes would have built
  them: the same modules, the same RNG draws, the same parameters. Any other chain becomes the
  last node with the earlier ones run as plain function calls on its input.
* **Pass-through nodes.** A stateless node that only forwards (the Action node hands the
  policy's ``env_action`` to the simulator) is run inside its one consumer, on the input it
  fed, instead of as a queue hop of its own. The consumer keeps its id, so its checkpoint
  state keeps its key.

Queues stay wherever they carry meaning: at fan-in and fan-out, at loop starters (the OR
merge, a gated data source) and around every stateful node (environments, agents, trainers).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field

from ..catalog.spec import NodeSpec
from ..workflow.model import Link, Node
from .names import NameAllocator, snake
from .planner import Plan, PlannedNode

#: Exporters whose nodes build exactly one torch module from their input width.
TORCH_LAYERS = ("ml.linear", "ml.activation", "ml.dropout", "ml.batchnorm", "ml.network")
#: Chains longer than this get ``head+...+tail`` ids instead of every id joined.
MAX_ID_PARTS = 6


@dataclass
class FusedNode(PlannedNode):
    """A planned node that stands for several workflow nodes.

    Attributes:
        kind: ``"sequential"`` (torch layers as one ``nn.Sequential``) or ``"inline"`` (the
            ``host`` node with the ``adapters`` run as plain calls on its inputs).
        members: every workflow node it replaces, as planned, in graph order.
        host: for ``inline``, the node whose class the fused module extends.
        adapters: for ``inline``, host input name -> the nodes run on that input, in order.
    """

    kind: str = "sequential"
    members: list[PlannedNode] = field(default_factory=list)
    host: PlannedNode | None = None
    adapters: dict[str, list[PlannedNode]] = field(default_factory=dict)


@dataclass
class _Index:
    """Who feeds whom, built once (the plan's own lookups are linear scans)."""

    by_id: dict[str, PlannedNode]
    out_links: dict[str, list[tuple[PlannedNode, str, Link]]]

    @classmethod
    def of(cls, plan: Plan) -> _Index:
        out_links: dict[str, list[tuple[PlannedNode, str, Link]]] = defaultdict(list)
        for node in plan.nodes:
            for name, link in node.links.items():
                out_links[link.source].append((node, name, link))
        return cls({n.id: n for n in plan.nodes}, out_links)


def _one_each_input(node: PlannedNode) -> tuple[str, Link] | None:
    """The node's only linked input, when it has exactly one and it is ``each``."""
    if len(node.links) != 1:
        return None
    name, link = next(iter(node.links.items()))
    inp = node.spec.input(name)
    if inp is None or inp.mode != "each":
        return None
    return name, link


def _fusable(node: PlannedNode) -> bool:
    spec = node.spec
    return spec.stateless and not spec.starts_cycle and _one_each_input(node) is not None


def _pass_through(node: PlannedNode) -> bool:
    return _fusable(node) and node.spec.pass_through


def find_chains(plan: Plan, index: _Index | None = None) -> list[list[PlannedNode]]:
    """Maximal chains of two or more fusable nodes, in plan order."""
    index = index or _Index.of(plan)

    def next_in_chain(node: PlannedNode) -> PlannedNode | None:
        outs = index.out_links.get(node.id, [])
        if len(outs) != 1:
            return None  # fan-out, or nothing downstream
        target = outs[0][0]
        return target if _fusable(target) else None

    chains: list[list[PlannedNode]] = []
    seen: set[str] = set()
    for node in plan.nodes:
        if node.id in seen or not _fusable(node):
            continue
        link = _one_each_input(node)
        assert link is not None
        source = index.by_id.get(link[1].source)
        if source is not None and _fusable(source) and next_in_chain(source) is node:
            continue  # not a head: the chain is found from its first node
        chain = [node]
        while (nxt := next_in_chain(chain[-1])) is not None and nxt.id not in seen:
            chain.append(nxt)
        seen.update(n.id for n in chain)
        if len(chain) >= 2:
            chains.append(chain)
    return chains


def optimize_plan(plan: Plan) -> Plan:
    """Rewrite ``plan`` in place (and return it): chains fused, pass-through nodes inlined."""
    names = _Names(plan)
    index = _Index.of(plan)
    replaced: dict[str, FusedNode] = {}  # workflow node id -> the fused node that runs it
    for chain in find_chains(plan, index):
        fused = _fuse_chain(chain, names)
        for member in chain:
            replaced[member.id] = fused

    for node in plan.nodes:
        if node.id in replaced or not _pass_through(node):
            continue
        outs = index.out_links.get(node.id, [])
        if len(outs) != 1:
            continue
        consumer, port, _ = outs[0]
        inp = consumer.spec.input(port)
        if inp is None or inp.mode != "each":
            continue
        host_fused = replaced.get(consumer.id)
        if host_fused is not None and host_fused.host is not consumer:
            continue  # the consumer is inside a fused chain
        if host_fused is None:
            host_fused = _inline_host(consumer, names)
            replaced[consumer.id] = host_fused
        _inline(node, port, host_fused)
        replaced[node.id] = host_fused

    if not replaced:
        return plan
    position = {n.id: i for i, n in enumerate(plan.nodes)}
    for fused in {id(f): f for f in replaced.values()}.values():
        fused.members.sort(key=lambda m: position[m.id])
        fused.fused_from = [m.id for m in fused.members]
    new_nodes: list[PlannedNode] = []
    placed: set[int] = set()
    for node in plan.nodes:
        fused = replaced.get(node.id)
        if fused is None:
            new_nodes.append(node)
        elif id(fused) not in placed and _placement(fused) == node.id:
            new_nodes.append(fused)
            placed.add(id(fused))
    for node in new_nodes:
        node.links = {name: _retarget(link, replaced) for name, link in node.links.items()}
    plan.nodes = new_nodes
    return plan


def _placement(fused: FusedNode) -> str:
    """Where the fused node sits in graph order: at its last member (its output's place)."""
    return fused.host.id if fused.host is not None else fused.members[-1].id


def _retarget(link: Link, replaced: dict[str, FusedNode]) -> Link:
    """A link from a fused member now comes from the fused node (same output slot)."""
    fused = replaced.get(link.source)
    if fused is None or fused.id == link.source:
        return link
    return dataclasses.replace(link, source=fused.id)


class _Names:
    """Unique module and class names next to the ones the planner already handed out."""

    def __init__(self, plan: Plan) -> None:
        self.modules, self.classes = NameAllocator(), NameAllocator()
        for node in plan.nodes:
            self.modules.take(node.module)
            self.classes.take(node.class_name)

    def take(self, stem: str) -> tuple[str, str, str]:
        module = self.modules.take(f"node_{stem}_fused"[:60])
        class_name = self.classes.take(
            "Node" + "".join(p[:1].upper() + p[1:] for p in stem.split("_")) + "Fused")
        return module, class_name, module.removeprefix("node_")


def fused_id(members: list[PlannedNode]) -> str:
    ids = [m.id for m in members]
    if len(ids) > MAX_ID_PARTS:
        ids = [ids[0], "...", ids[-1]]
    return "+".join(ids)


def _fuse_chain(chain: list[PlannedNode], names: _Names) -> FusedNode:
    head, tail = chain[0], chain[-1]
    if all(m.spec.exporter in TORCH_LAYERS for m in chain):
        port, link = _one_each_input(head)  # type: ignore[misc]
        head_input = head.spec.input(port)
        assert head_input is not None
        title = " -> ".join(m.title for m in chain) if len(chain) <= 3 else (
            f"{head.title} -> ... -> {tail.title} ({len(chain)} layers)")
        spec = NodeSpec(
            "FusedSequential", "Fused layers", head.spec.category,
            (dataclasses.replace(head_input, required=True),), tail.spec.outputs,
            "flow.fused_sequential", stateless=True,
            description="Stateless layers run as one nn.Sequential (export --optimize).",
        )
        node_id = fused_id(chain)
        module, class_name, var = names.take(_id_stem(head, tail))
        link = dataclasses.replace(link, target=node_id)
        return FusedNode(Node(node_id, "FusedSequential", title), spec, {}, {port: link},
                         module, class_name, var, fused_from=[m.id for m in chain],
                         kind="sequential", members=list(chain))
    # Any other stateless chain: the last node, with the others run on its one input. It keeps
    # the last node's id, which its code may use (module registration, notices, checkpoints).
    fused = _inline_host(tail, names)
    port, _ = _one_each_input(tail)  # type: ignore[misc]
    for member in reversed(chain[:-1]):
        _inline(member, port, fused)
    return fused


def _id_stem(head: PlannedNode, tail: PlannedNode) -> str:
    def part(n: PlannedNode) -> str:
        return n.id if n.id.isascii() and n.id.isdigit() else snake(n.id, fallback="n")

    return f"{part(head)}_to_{part(tail)}"


def _inline_host(host: PlannedNode, names: _Names) -> FusedNode:
    spec = dataclasses.replace(host.spec, exporter="flow.fused_inline")
    module, class_name, var = names.take(host.module.removeprefix("node_"))
    return FusedNode(host.node, spec, dict(host.params), dict(host.links), module, class_name, var,
                     fused_from=[host.id], kind="inline", members=[host], host=host)


def _inline(node: PlannedNode, port: str, fused: FusedNode) -> None:
    """Run ``node`` inside ``fused`` on input ``port``: that input now takes ``node``'s input."""
    _, link = _one_each_input(node)  # type: ignore[misc]
    fused.adapters.setdefault(port, []).insert(0, node)
    fused.links[port] = dataclasses.replace(link, target=fused.id, target_input=port)
    fused.members.append(node)  # put in graph order once every rewrite is done
