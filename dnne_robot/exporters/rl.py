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
        for trainer, _, _ in plan.consumers(node.id):
            lr = trainer.params.get("learning_rate")
            if trainer.spec.exporter == "rl.ppo_trainer" and lr != node.params["learning_rate"]:
                plan.notices.append(
                    f"node #{node.id} {node.title!r}: learning_rate={node.params['learning_rate']} "
                    f"ignored: the optimizer belongs to trainer #{trainer.id}, which uses {lr}")
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

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        from pathlib import PurePath

        problems = []
        save = PurePath(str(node.params["save_path"]))
        if save.is_absolute() or ".." in save.parts or not str(save).strip():
            problems.append(self.problem(node, "save_path", f"{str(save)!r} must be a relative "
                                         "path inside the run's folder (no '..')"))
        if "balancing_config" in node.links:
            plan.notices.append(f"node #{node.id} {node.title!r}: balancing_config recorded but "
                                "not used: the local backend runs one process")
        ppo = _linked_params(node, plan, "ppo_config")
        if ppo and ppo.get("max_iterations") != node.params["max_iterations"]:
            plan.notices.append(f"node #{node.id}: max_iterations={node.params['max_iterations']} "
                                f"wins over PPOConfig max_iterations={ppo.get('max_iterations')}")
        if ppo and ppo.get("lr_schedule") == "adaptive":
            plan.notices.append(f"node #{node.id}: lr_schedule=adaptive runs a fixed learning "
                                "rate with KL early stopping (target_kl 0.02)")
        return problems


def _linked_params(node: PlannedNode, plan: Plan, input_name: str) -> dict | None:
    link = node.links.get(input_name)
    return dict(plan.by_id(link.source).params) if link else None
