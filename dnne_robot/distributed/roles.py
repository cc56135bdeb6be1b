"""Which node of the graph plays which part in a Ray run, found by following its wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..nodes.rl import PPOTrainerNode
from ..nodes.robotics import SimEnvNode
from ..runtime import Graph, QueueNode, RunContext
from .errors import DistributedError

#: The sim step node's outputs, as the worker's :class:`StepResult` names them.
STEP_OUTPUTS = ("observations", "rewards", "done", "info", "next_observations")


@dataclass(frozen=True)
class StepNode:
    """A stateless node that a worker runs itself: the action node or a reward node.

    Attributes:
        cls: The generated node class (Ray pickles it by reference; workers import it).
        node_id: Its id in the workflow.
        title: Its title.
        inputs: Node input name -> the value it takes: ``"policy_output"`` or a sim step
            output name (``"observations"``, ``"rewards"``, ...).
    """

    cls: type
    node_id: str
    title: str
    inputs: dict[str, str]

    def build(self, ctx: RunContext) -> QueueNode:
        node = self.cls(self.node_id, self.title, ctx)
        node.setup()
        return node


@dataclass(frozen=True)
class Source:
    """Where one trainer (or sim step) input comes from: a node's output, run in the worker,
    or the sim step itself (``node`` is None)."""

    output: str
    node: StepNode | None = None


@dataclass
class Roles:
    """The nodes the Ray backend needs, found by following the graph's wiring."""

    env: QueueNode
    agent: QueueNode
    trainer: QueueNode
    step: QueueNode
    actions: Source
    reward: Source
    done: Source


def _feeders(graph: Graph) -> dict[tuple[str, str], tuple[QueueNode, str]]:
    """``(target id, input name) -> (source node, output name)`` for every link."""
    owners: dict[int, tuple[QueueNode, str | None]] = {}
    for node in graph.nodes:
        for name, queue in node.queues.items():
            owners[id(queue)] = (node, name)
        if node.any_queue is not None:
            owners[id(node.any_queue)] = (node, None)
    feeds = {}
    for source in graph.nodes:
        for output, pairs in source.consumers.items():
            for queue, tag in pairs:
                target, name = owners[id(queue)]
                feeds[(target.node_id, tag if name is None else name)] = (source, output)
    return feeds


def _consumer(graph: Graph, feeds: dict, source: QueueNode, output: str) -> tuple | None:
    for (target_id, name), (src, out) in feeds.items():
        if src is source and out == output:
            return graph.node(target_id), name
    return None


def find_roles(graph: Graph, meta: dict[str, Any]) -> Roles:
    """Follow the wiring from the env and agent nodes to the trainer; refuse what a worker
    cannot reproduce.

    Raises:
        DistributedError: naming the node and what to do instead.
    """
    feeds = _feeders(graph)
    if "agent_node" not in meta:
        raise DistributedError(
            "the Ray backend trains graphs with a simulator node and a PPO agent node; "
            "this graph has none: use --backend local"
        )
    agent = graph.node(str(meta["agent_node"]))
    if "env_node" not in meta:
        raise DistributedError(
            f"node #{agent.node_id} {agent.title!r} runs its simulator and PPO inside one "
            "node; the Ray backend needs a simulator node wired to a PPO "
            "Agent node and a PPO Trainer node (see scenarios/cartpole_ppo.json): "
            "use --backend local"
        )
    env = graph.node(str(meta["env_node"]))
    found = _consumer(graph, feeds, agent, "model") if "model" in agent.consumers else None
    if found is None:
        raise DistributedError(
            f"node #{agent.node_id} {agent.title!r} ({type(agent).__name__}) trains on its own, "
            "without a PPO trainer node; the Ray backend needs a PPO Agent node wired to a "
            "PPO Trainer node (see scenarios/cartpole_ppo.json): use --backend local"
        )
    trainer = found[0]
    step_found = _consumer(graph, feeds, env, "sim_handle")
    if step_found is None or not isinstance(env, SimEnvNode):
        raise DistributedError(
            f"node #{env.node_id} {env.title!r} is not a simulator feeding a sim step node: "
            "use --backend local"
        )
    step = step_found[0]
    if not isinstance(trainer, PPOTrainerNode):
        raise DistributedError(
            f"trainer node #{trainer.node_id} {trainer.title!r} ({type(trainer).__name__}) is "
            "not a PPO Trainer node, which the Ray backend needs: use --backend local"
        )

    def resolve(
        target: QueueNode, name: str, upstream: QueueNode, allowed: tuple[str, ...], what: str
    ) -> Source:
        src, out = feeds.get((target.node_id, name), (None, None))
        if src is None:
            raise DistributedError(
                f"node #{target.node_id} {target.title!r}: input {name!r} is not connected"
            )
        if src is upstream:
            return Source(out)
        inputs = {}
        for (tid, inp), (s, o) in feeds.items():
            if tid == src.node_id:
                if s is not upstream or o not in allowed:
                    inputs = None
                    break
                inputs[inp] = o
        stateless = type(src).state_dict is QueueNode.state_dict
        if not inputs or not stateless or src._compute_is_async:  # noqa: SLF001
            raise DistributedError(
                f"node #{src.node_id} {src.title!r} ({type(src).__name__}) computes the {what} "
                f"from more than the {upstream.title!r} node's outputs, or keeps state; a Ray "
                "worker can run only stateless nodes fed by the agent or the sim step: use "
                "--backend local"
            )
        return Source(out, StepNode(type(src), src.node_id, src.title, inputs))

    actions = resolve(step, "actions", agent, ("policy_output",), "actions")
    reward = resolve(trainer, "reward", step, STEP_OUTPUTS, "reward")
    done = resolve(trainer, "done", step, STEP_OUTPUTS, "done flags")
    # The agent must act on the simulator's observations as they are (a merge may pass them).
    obs_src, obs_out = feeds.get((agent.node_id, "observations"), (None, None))
    raw = {(env, "observations"), (step, "next_observations")}
    if obs_src is not None and (obs_src, obs_out) not in raw:
        upstream = {v for (tid, _), v in feeds.items() if tid == obs_src.node_id}
        if (
            not obs_src.INPUTS
            or any(p.mode != "any" for p in obs_src.INPUTS)
            or not upstream <= raw
        ):
            raise DistributedError(
                f"node #{obs_src.node_id} {obs_src.title!r} ({type(obs_src).__name__}) changes "
                f"the observations before the agent; Ray workers act on the simulator's own "
                "observations: use --backend local"
            )
    state_src = feeds.get((trainer.node_id, "state"))
    if state_src is None or state_src != (step, "next_observations"):
        raise DistributedError(
            f"trainer node #{trainer.node_id}: its 'state' input must be the sim step's "
            "next_observations for the Ray backend: use --backend local"
        )
    return Roles(env, agent, trainer, step, actions, reward, done)


