"""Exporters for the robotics nodes: simulator env and step, action and reward."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..envs import ISAAC_TASKS, env_id, get_engine, required_engines
from ..envs.errors import EnvError
from .base import Constant, NodeExporter, constant_name
from .rl import ConfigExporter

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem

#: DNNE / Isaac Gym widgets that have no meaning once the task runs on --sim.
ISAAC_ONLY = {
    "isaac_gym_path": "Isaac Gym is not used: the task runs on --sim {sim}",
    "isaac_gym_envs_path": "Isaac Gym is not used: the task runs on --sim {sim}",
    "headless": "simulators always run headless here (use `runner.py record` to see a rollout)",
    "physics_engine": "physics_engine={value} has no meaning under --sim {sim}",
    "device": "simulation runs on the CPU under --sim {sim}; the learner's device is "
              "`runner.py train --device`",
}


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


def ignored_notices(node: PlannedNode, plan: Plan, widgets: dict[str, str]) -> list[str]:
    notes = []
    for name, why in widgets.items():
        if name not in node.node.inputs:
            continue
        spec = node.spec.input(name)
        if spec is not None and node.params.get(name) == spec.default and name != "physics_engine":
            continue
        value = node.params.get(name)
        notes.append(f"node #{node.id} {node.title!r}: {name} ignored: "
                     + why.format(sim=plan.sim, value=value))
    return notes


class SimEnvExporter(EngineExporter):
    base = "nodes.robotics:SimEnvNode"
    requirements = ("torch>=2.4", "numpy>=1.24")

    def engines(self, node: PlannedNode, plan: Plan) -> tuple[str, ...]:
        return required_engines(str(node.params["env_name"]), engine_of(node, plan))

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        _, error = resolve_task(node, plan, "env_name")
        problems = [self.problem(node, "env_name", error)] if error else []
        plan.notices.extend(ignored_notices(node, plan, ISAAC_ONLY))
        return problems

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


class EnvConfigExporter(EngineExporter, ConfigExporter):
    base = "nodes.flow:EnvConfigNode"

    def engines(self, node: PlannedNode, plan: Plan) -> tuple[str, ...]:
        return (plan.sim,)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        task = node.params["task"]
        if task not in ISAAC_TASKS:
            known = ", ".join(sorted(ISAAC_TASKS))
            return [self.problem(node, "task", f"Isaac Gym task {task!r} has no counterpart "
                                               f"here; tasks that exist: {known}")]
        notes = ignored_notices(node, plan, {
            "headless": ISAAC_ONLY["headless"],
            "physics_engine": ISAAC_ONLY["physics_engine"],
            "device": ISAAC_ONLY["device"],
            "dt": "dt={value} ignored: the task's own control period is used so the task means "
                  "the same on every engine",
        })
        plan.notices.extend(notes)
        return []

    def config(self, node: PlannedNode, plan: Plan) -> dict:
        task = node.params["task"]
        return {**node.params, "engine": plan.sim, "dnne_task": ISAAC_TASKS.get(task, task)}

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        task = node.params["task"]
        return {"env_node": node.id, "task": ISAAC_TASKS.get(task, task), "engine": plan.sim}
