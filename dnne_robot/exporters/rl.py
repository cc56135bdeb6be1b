"""Exporters for the RL nodes: PPO agent and trainer, and the compact-style config nodes."""

from __future__ import annotations

import math
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from .base import Constant, NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


class PPOAgentExporter(NodeExporter):
    base = "nodes.rl:PPOAgentNode"
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

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        sizes = parse_sizes(node.params["hidden_sizes"])
        return [*super().constants(node, plan), Constant("LAYER_SIZES", sizes, "hidden_sizes")]

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        return {"agent_node": node.id}


class PPOTrainerExporter(NodeExporter):
    base = "nodes.rl:PPOTrainerNode"
    requirements = ("torch>=2.4",)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        kind = node.params["checkpoint_trigger_type"]
        value = str(node.params["checkpoint_trigger_value"]).strip()
        try:
            number = float(value)
            ok = math.isfinite(number) and (number > 0 or kind == "best_metric")
        except ValueError:
            ok = False
        if not ok:
            shown = value if len(value) <= 40 else value[:40] + "..."
            return [self.problem(node, "checkpoint_trigger_value",
                                 f"{shown!r} is not a positive number of "
                                 f"{'updates' if kind == 'epoch' else 'seconds'}")]
        return []


class ConfigExporter(NodeExporter):
    """A config node: its widget values as one ``CONFIG`` dict."""

    template = "nodes/config.py.jinja"

    def config(self, node: PlannedNode, plan: Plan) -> dict:
        return dict(node.params)

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        return [Constant("CONFIG", self.config(node, plan))]


class PPOConfigExporter(ConfigExporter):
    base = "nodes.flow:PPOConfigNode"


class BalancerConfigExporter(ConfigExporter):
    base = "nodes.flow:BalancerConfigNode"


class CompactPPOAgentExporter(NodeExporter):
    base = "nodes.rl:CompactPPOAgentNode"
    requirements = ("torch>=2.4",)

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        meta = {"agent_node": node.id, "default_run_dir": str(node.params["save_path"]),
                "default_steps": None}  # MAX_ITERATIONS rollouts
        if node.params["resume_from"]:
            meta["resume_from"] = str(node.params["resume_from"])
        return meta

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        problems = []
        for field, optional in (("save_path", False), ("resume_from", True)):
            why = _unsafe_path(str(node.params[field]), optional)
            if why:
                problems.append(self.problem(node, field, why))
        if "balancing_config" in node.links:
            plan.notices.append(f"node #{node.id} {node.title!r}: balancing_config recorded but "
                                "not used: the local backend runs one process")
        ppo = _linked_params(node, plan, "ppo_config")
        if ppo is not None:
            text = str(ppo.get("hidden_sizes", "64,64"))
            try:  # the agent's module splits on commas only
                if parse_sizes(text) != tuple(int(s) for s in text.split(",")):
                    raise ValueError("write the layer widths as '64,64'")
            except ValueError as exc:
                source = plan.by_id(node.links["ppo_config"].source)
                problems.append(self.problem(source, "hidden_sizes", str(exc)))
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


def _unsafe_path(text: str, optional: bool) -> str | None:
    """Why a path from the workflow may not be used, or None.

    A workflow file says where its run writes (``save_path``) and what it resumes from
    (``resume_from``); either must stay inside the folder the runner is started in, whatever
    the operating system, so a file from elsewhere cannot aim the run at other files.
    """
    shown = text if len(text) <= 60 else text[:60] + "..."
    if optional and text == "":
        return None
    if not text.strip():
        return "must not be empty"
    for flavour in (PurePosixPath, PureWindowsPath):
        path = flavour(text)
        if path.is_absolute() or path.anchor or ".." in path.parts:
            return f"{shown!r} must be a relative path inside the run's folder (no '..')"
        if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in path.parts):
            return f"{shown!r} has a path component longer than 255 bytes"
    return None
