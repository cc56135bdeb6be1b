"""Exporters for the robotics nodes: simulator env and step, action and reward."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..envs import (
    ISAAC_TASKS,
    TASK_ENGINES,
    env_id,
    get_engine,
    observation_fields,
    required_engines,
)
from ..envs.errors import EnvError
from .base import Constant, NodeExporter, constant_name

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


def resolve_task(node: PlannedNode, plan: Plan, field: str) -> tuple[str | None, str | None]:
    """(task spec, error) for the env node's task name under the chosen engine."""
    name = str(node.params[field])
    try:
        env_id(name, engine_of(node, plan))
    except EnvError as exc:
        if name.endswith((".xml", ".urdf")) or re.search(r"-v\d+$", name):
            return name, None  # a model file or a gymnasium id: checked when the env is made
        return None, str(exc)
    return name, None


def engine_of(node: PlannedNode, plan: Plan) -> str:
    """The engine the env node runs on: its ``engine`` widget, else ``--sim``; a model file
    under ``auto`` runs on the engine that loads it."""
    engine = node.params.get("engine", "auto")
    if engine not in (None, "auto"):
        return engine
    if str(node.params.get("env_name", "")).lower().endswith((".xml", ".mjcf", ".urdf")):
        return required_engines(str(node.params["env_name"]))[0]
    return plan.sim


class EngineExporter(NodeExporter):
    """A node that makes a simulator: it carries the physics and requirements of its engines."""

    def engines(self, node: PlannedNode, plan: Plan) -> tuple[str, ...]:
        raise NotImplementedError

    def modules(self, node: PlannedNode, plan: Plan) -> list[str]:
        physics = [f"envs.{get_engine(e).physics_module}" for e in self.engines(node, plan)
                   if get_engine(e).physics_module is not None]
        return [*super().modules(node, plan), *physics]

    def requirements_for(self, node: PlannedNode, plan: Plan) -> list[str]:
        reqs = [r for e in self.engines(node, plan) for r in get_engine(e).requirements]
        return [*super().requirements_for(node, plan), *reqs]


class SimEnvExporter(EngineExporter):
    base = "nodes.robotics:SimEnvNode"
    requirements = ("torch>=2.4", "numpy>=1.24")

    def engines(self, node: PlannedNode, plan: Plan) -> tuple[str, ...]:
        return required_engines(str(node.params["env_name"]), engine_of(node, plan))

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        _, error = resolve_task(node, plan, "env_name")
        return [self.problem(node, "env_name", error)] if error else []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        engine = engine_of(node, plan)
        constants = []
        for c in super().constants(node, plan):
            if c.name == constant_name("engine") and c.value != engine:
                c = Constant(c.name, engine, f"{c.value!r} in the workflow: export --sim")
            constants.append(c)
        return constants

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        return {"env_node": node.id, "task": str(node.params["env_name"]),
                "engine": engine_of(node, plan)}


class SimStepExporter(NodeExporter):
    base = "nodes.robotics:SimStepNode"
    requirements = ("torch>=2.4",)


class ActionExporter(NodeExporter):
    base = "nodes.robotics:ActionNode"
    requirements = ("torch>=2.4",)


class RewardExporter(NodeExporter):
    base = "nodes.robotics:CartPoleRewardNode"
    requirements = ("torch>=2.4",)


#: The task here nearest to each Isaac Gym task that has no counterpart (what to use instead).
_OWN_ROBOT = "ModelFile (your robot's MJCF or URDF)"
NEAREST_TASK = {
    "FrankaCabinet": "FrankaDNNE", "FrankaCubeStack": "FrankaDNNE", "AllegroHand": "FrankaDNNE",
    "ShadowHand": "FrankaDNNE", "Trifinger": "FrankaDNNE", "BallBalance": "Pendulum",
    **{name: _OWN_ROBOT for name in ("Ant", "Anymal", "AnymalTerrain", "Humanoid",
                                     "HumanoidAMP", "Ingenuity", "Quadcopter")},
}
#: FrankaDNNE's schema levels (``dnne.subtask_options`` / ``controlType_options``) that run
#: here, by widget: dynamic_1 is the subtask, dynamic_2 the control type.
FRANKA_SUBTASKS = ("random_target",)
FRANKA_CONTROL_TYPES = ("osc", "joint_tor")


class EnvConfigExporter(NodeExporter):
    """DNNE's Isaac Gym Environment Config: read by the simulator or PPO Agent it feeds."""

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        task = node.params["task"]
        if task not in ISAAC_TASKS:
            nearest = NEAREST_TASK.get(task, "none")
            return [self.problem(node, "task", f"Isaac Gym task {task!r} runs on Isaac Gym "
                                               f"only; the nearest task here: {nearest}")]
        ours = ISAAC_TASKS[task]
        if plan.sim not in TASK_ENGINES[ours]:
            return [self.problem(node, "task", f"{task} is not on --sim {plan.sim}; it runs "
                                               f"on {' and '.join(TASK_ENGINES[ours])}")]
        if task == "FrankaDNNE":
            return self._franka_levels(node)
        return []

    def _franka_levels(self, node: PlannedNode) -> list[Problem]:
        subtask, control = node.params.get("dynamic_1"), node.params.get("dynamic_2")
        problems = []
        if subtask not in (None, "none", *FRANKA_SUBTASKS):
            problems.append(self.problem(node, "dynamic_1", f"subtask {subtask!r} of FrankaDNNE "
                                         f"does not run here; subtasks: "
                                         f"{', '.join(FRANKA_SUBTASKS)}"))
        if control not in (None, "none", *FRANKA_CONTROL_TYPES):
            problems.append(self.problem(node, "dynamic_2", f"control type {control!r} is not "
                                         f"one of {', '.join(FRANKA_CONTROL_TYPES)}"))
        return problems


def task_options(config: PlannedNode) -> dict[str, str]:
    """The options the config node's schema levels give its task (FrankaDNNE's control type:
    DNNE's YAML default is osc)."""
    if str(config.params["task"]) != "FrankaDNNE":
        return {}
    control = config.params.get("dynamic_2")
    return {"control_type": control if control in FRANKA_CONTROL_TYPES else "osc"}


def env_config_node(node: PlannedNode, plan: Plan) -> PlannedNode | None:
    """The Isaac Gym Environment Config node wired into ``node``'s ``env_config``."""
    link = node.links.get("env_config")
    return plan.by_id(link.source) if link is not None else None


def dnne_task(config: PlannedNode) -> str:
    """The dnne task an Isaac Gym task runs as (``Cartpole`` -> ``CartPole``)."""
    task = str(config.params["task"])
    return ISAAC_TASKS.get(task, task)


def observation_schema(sim: PlannedNode, plan: Plan) -> dict[str, tuple[int, int]] | None:
    """The observation fields of the task a DNNE simulator node runs, or None."""
    config = env_config_node(sim, plan)
    if config is None:
        return None
    control = task_options(config).get("control_type")
    return observation_fields(dnne_task(config), control) or None


class IsaacGymSimExporter(EngineExporter):
    """DNNE's simulator: the env config node's task, on the --sim engine, one env."""

    base = "nodes.robotics:IsaacGymSimNode"
    derived = ("TASK", "TASK_OPTIONS", "ENGINE", "SEED", "NULL_ACTION")
    requirements = ("torch>=2.4", "numpy>=1.24")

    def engines(self, node: PlannedNode, plan: Plan) -> tuple[str, ...]:
        return (plan.sim,)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        config = env_config_node(node, plan)
        if config is None or config.spec.exporter != "robotics.env_config":
            return [self.problem(node, "env_config", "takes an Isaac Gym Environment Config "
                                 "node's 'env' output")]
        text = str(node.params["null_action"]).strip()
        try:
            [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            return [self.problem(node, "null_action", f"{text!r} is not comma-separated "
                                 "numbers")]
        return []

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        config = env_config_node(node, plan)
        assert config is not None
        null = tuple(float(v) for v in str(node.params["null_action"]).split(",") if v.strip())
        options = task_options(config)
        option = [Constant("TASK_OPTIONS", options, f"from #{config.id} dynamic_2")] if options \
            else []
        return [Constant("TASK", dnne_task(config), f"from #{config.id} task="
                                                   f"{config.params['task']!r}"),
                *option,
                Constant("ENGINE", plan.sim, "export --sim"),
                Constant("SEED", int(config.params["seed"]), f"from #{config.id}"),
                Constant("NULL_ACTION", null),
                # the widget's text is parsed above: its raw string must not shadow it
                *(c for c in super().constants(node, plan) if c.name != "NULL_ACTION")]

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        config = env_config_node(node, plan)
        task = dnne_task(config) if config is not None else None
        return {"env_node": node.id, "task": task, "engine": plan.sim}
