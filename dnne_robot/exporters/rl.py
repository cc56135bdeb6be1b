"""Exporters for the RL nodes: PPO agent and trainer, and the compact-style config nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


class PPOAgentExporter(NodeExporter):
    template = "nodes/ppo_agent.py.jinja"
    framework = ("runtime", "rl")
    requirements = ("torch>=2.4",)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        try:
            parse_sizes(node.params["hidden_sizes"])
        except ValueError as exc:
            return [self.problem(node, "hidden_sizes", str(exc))]
        return []

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        return {"hidden_sizes": parse_sizes(node.params["hidden_sizes"])}


class PPOTrainerExporter(NodeExporter):
    template = "nodes/ppo_trainer.py.jinja"
    framework = ("runtime", "rl")
    requirements = ("torch>=2.4",)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        kind = node.params["checkpoint_trigger_type"]
        value = str(node.params["checkpoint_trigger_value"]).strip()
        try:
            number = float(value)
            ok = number > 0 or (kind == "best_metric")
        except ValueError:
            ok = False
        if not ok:
            return [self.problem(node, "checkpoint_trigger_value",
                                 f"{value!r} is not a positive number of "
                                 f"{'updates' if kind == 'epoch' else 'seconds'}")]
        return []


class ConfigExporter(NodeExporter):
    template = "nodes/config.py.jinja"

    def context(self, node: PlannedNode, plan: Plan) -> dict:
        return {"config": dict(node.params)}


class CompactPPOAgentExporter(NodeExporter):
    template = "nodes/ppo_agent_compact.py.jinja"
    framework = ("runtime", "rl", "envs")
    requirements = ("torch>=2.4",)
