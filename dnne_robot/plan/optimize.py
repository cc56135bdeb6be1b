"""``export --optimize``: fewer queues, same results.

Two rewrites of a plan, both exact (the optimized export computes the same numbers, bit for
bit, as the plain one under the same seed):

* **Chains.** A maximal chain of stateless nodes ``n1 -> n2 -> ... -> nk`` (k >= 2), where each
  link is the only output link of its source and the only input link of its target and every
  input is ``each`` (one message in, one out: the same rate), becomes one node. A chain of torch
  layers (Linear, Activation, Dropout, BatchNorm, Network) becomes one ``nn.Sequential`` built
  layer by layer on the first batch, in graph order, as the separate nodes would have built
  them: the same modules, the same RNG draws, the same parameters. Any other chain becomes the
  last node with the earlier ones run as plain function calls on its input. A layer is never
  one of those earlier ones (its parameters would be left out of the checkpoint): a chain
  of other nodes ends at its first layer, which runs them, and a layer's chain ends before
  any other node.
* **Pass-through nodes.** A stateless node that only forwards (the Action node hands the
  policy's ``env_action`` to the simulator) is run inside its one consumer, on the input it
  fed, instead of as a queue hop of its own. The consumer keeps its id, so its checkpoint
  state keeps its key.

* **Control loops.** The loop an OR merge closes (the env's first observation, then each
  step's: merge -> PPO agent -> action -> sim step -> back to the merge), with the nodes that
  read only from it (a reward node, the PPO trainer), becomes one node that runs them as plain
  calls, in graph order, one iteration after another. The agent and trainer run in lock-step
  unfused (the trainer releases the agent after each step), so that order is the one the
  queues gave, and every member computes the same numbers. Members keep their ids, so
  ``--set``, checkpoints and the policy export find them. Only node types whose every input
  is fed once per iteration are fused, only loops that no node outside reads (unfused, such
  a reader interleaves with the loop step by step), and only on the local backend (Ray
  builds its workers from the unfused wiring).

Queues stay wherever they carry meaning: at fan-in and fan-out, at loop starters (the OR
merge, a gated data source) and around every stateful node (environments, agents, trainers)
outside a fused control loop.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field

from ..catalog.spec import InputSpec, NodeSpec
from ..workflow.model import Link, Node
from .names import NameAllocator, snake
from .planner import Plan, PlannedNode

#: Exporters whose nodes build exactly one torch module from their input width.
TORCH_LAYERS = ("ml.linear", "ml.activation", "ml.dropout", "ml.batchnorm", "ml.network")
#: Chains longer than this get ``head+...+tail`` ids instead of every id joined.
MAX_ID_PARTS = 6
#: The merge a control loop starts at, the node types it may hold (each fires once per
#: iteration, on inputs fed once per iteration), and the sources that may start it once.
LOOP_HEAD = "flow.or_merge"
LOOP_MEMBERS = ("rl.ppo_agent", "robotics.action", "robotics.sim_step", "robotics.reward",
                "rl.ppo_trainer")
LOOP_STARTERS = ("robotics.sim_env",)


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
    loop: LoopWiring | None = None


@dataclass
class LoopWiring:
    """How a fused control loop's members feed each other (indexes into ``members``).

    Attributes:
        start: (the merge's input port, the fused node's input) fed once from outside.
        back: (the merge's input port, member index, output) fed on every later iteration.
        links: (member, its input port, source member, source output, input mode).
        inputs: (member, its input port, the fused node's input) fed from outside.
    """

    start: tuple[str, str]
    back: tuple[str, int, str]
    links: list[tuple[int, str, int, str, str]]
    inputs: list[tuple[int, str, str]]


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


def _is_layer(node: PlannedNode) -> bool:
    return node.spec.exporter in TORCH_LAYERS


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
        if _is_layer(node) and not _is_layer(target):
            return None  # a layer inside another node's chain: its state would be lost
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
            if _is_layer(nxt) and not _is_layer(node):
                break  # a layer ends a chain of other nodes: it runs them, its state its own
        seen.update(n.id for n in chain)
        if len(chain) >= 2:
            chains.append(chain)
    return chains


def find_loops(
    plan: Plan, index: _Index | None = None
) -> list[tuple[list[PlannedNode], LoopWiring]]:
    """Control loops to fuse: each as its members in plan order (the merge first) and how
    they feed each other."""
    if plan.backend != "local":
        return []
    index = index or _Index.of(plan)
    position = {n.id: i for i, n in enumerate(plan.nodes)}
    loops = []
    for head in plan.nodes:
        if head.spec.exporter != LOOP_HEAD:
            continue
        members = _loop_members(head, index)
        if members is None:
            continue
        members.sort(key=lambda m: position[m.id])
        spots = [position[m.id] for m in members]
        if members[0] is not head or spots != list(range(spots[0], spots[0] + len(spots))):
            continue  # not contiguous in graph order: setup order (and RNG draws) would move
        wiring = _loop_wiring(members, index)
        if wiring is not None:
            loops.append((members, wiring))
    return loops


def _loop_members(head: PlannedNode, index: _Index) -> list[PlannedNode] | None:
    """The nodes on the loop through ``head`` and those that read only from it; None when a
    node on the loop is not one a fused loop may hold."""
    def reach(start: str, step: dict[str, list[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in step.get(todo.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    forward = {src: [t.id for t, _, _ in outs] for src, outs in index.out_links.items()}
    backward: dict[str, list[str]] = defaultdict(list)
    for src, targets in forward.items():
        for target in targets:
            backward[target].append(src)
    ring = reach(head.id, forward) & reach(head.id, backward)
    if len(ring) < 2 or any(index.by_id[n].spec.exporter not in LOOP_MEMBERS
                            for n in ring - {head.id}):
        return None
    members = set(ring)
    grew = True
    while grew:  # readers of the loop alone (a reward node, the trainer) join it
        grew = False
        for node_id in sorted({t for m in members for t in forward.get(m, [])} - members):
            node = index.by_id[node_id]
            sources = {lk.source for _, lk in node.run_links()}
            if node.spec.exporter in LOOP_MEMBERS and sources <= members:
                members.add(node_id)
                grew = True
    return [index.by_id[n] for n in members]


def _loop_wiring(members: list[PlannedNode], index: _Index) -> LoopWiring | None:
    """The fused loop's wiring, or None when a member input is not fed once per iteration
    from inside (or kept, ``sticky``, from anywhere), or a node outside reads a member."""
    head, at = members[0], {m.id: i for i, m in enumerate(members)}
    start = back = None
    for port, link in head.run_links():
        if link.source in at:
            if back is not None:
                return None
            slot = index.by_id[link.source].spec.outputs[link.source_slot].name
            back = (port, at[link.source], slot)
        else:
            if start is not None or index.by_id[link.source].spec.exporter not in LOOP_STARTERS:
                return None
            start = (port, f"{head.id}.{port}")
    if start is None or back is None:
        return None
    links, inputs = [], []
    for i, member in enumerate(members[1:], start=1):
        if member.more_links:
            return None  # several producers into one input interleave: not per iteration
        for port, link in member.run_links():
            inp = member.spec.input(port)
            mode = inp.mode if inp is not None else "each"
            if link.source in at and at[link.source] < i and mode in ("each", "sticky"):
                name = members[at[link.source]].spec.outputs[link.source_slot].name
                links.append((i, port, at[link.source], name, mode))
            elif link.source not in at and mode == "sticky":
                inputs.append((i, port, f"{member.id}.{port}"))
            else:
                return None
    for member in members:
        if any(target.id not in at for target, _, _ in index.out_links.get(member.id, [])):
            # Read outside: unfused, such a reader interleaves with the loop step by step
            # (it sees a 'latest' input as it was at that step, and a stop it asks for ends
            # the loop at once); a fused loop that runs many iterations between yields
            # would change both, so the loop keeps its queues.
            return None
    return LoopWiring(start, back, links, inputs)


def optimize_plan(plan: Plan) -> Plan:
    """Rewrite ``plan`` in place (and return it): control loops and chains fused,
    pass-through nodes inlined."""
    names = _Names(plan)
    index = _Index.of(plan)
    replaced: dict[str, FusedNode] = {}  # workflow node id -> the fused node that runs it
    for members, wiring in find_loops(plan, index):
        fused = _fuse_loop(members, wiring, names)
        for member in members:
            replaced[member.id] = fused
    for chain in find_chains(plan, index):
        if any(m.id in replaced for m in chain):
            continue
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
    """Where the fused node sits in graph order: at its last member (its output's place), a
    loop at its merge (its members are set up there, in their order)."""
    if fused.kind == "loop":
        return fused.members[0].id
    return fused.host.id if fused.host is not None else fused.members[-1].id


def _retarget(link: Link, replaced: dict[str, FusedNode]) -> Link:
    """A link from a fused member now comes from the fused node (same output slot; nothing
    outside a fused loop reads its members)."""
    fused = replaced.get(link.source)
    if fused is None or fused.id == link.source:
        return link
    return dataclasses.replace(link, source=fused.id)


def _fuse_loop(members: list[PlannedNode], wiring: LoopWiring, names: _Names) -> FusedNode:
    head = members[0]
    node_id = fused_id(members)
    links: dict[str, Link] = {}
    inputs = []
    outside = [(head, wiring.start[0], wiring.start[1], "each")] + [
        (members[i], port, name, "sticky") for i, port, name in wiring.inputs]
    for member, port, name, mode in outside:
        link = member.links[port]
        links[name] = dataclasses.replace(link, target=node_id, target_input=name)
        inputs.append(InputSpec(name, link.type, mode=mode))
    spec = NodeSpec(
        "FusedLoop", "Fused control loop", "flow", tuple(inputs), (),
        "flow.fused_loop",
        description="A control loop's nodes run as plain calls, one iteration after another "
                    "(export --optimize).",
    )
    title = f"{head.title} loop ({len(members)} nodes)"
    module, class_name, var = names.take(f"{_id_stem(head, members[-1])}_loop")
    return FusedNode(Node(node_id, "FusedLoop", title), spec, {}, links, module, class_name,
                     var, fused_from=[m.id for m in members], kind="loop",
                     members=list(members), loop=wiring)


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
