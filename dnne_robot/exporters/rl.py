"""Exporters for the RL nodes: PPO agent and trainer, and the compact-style config nodes."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from ..envs import ISAAC_TASKS, get_engine
from ..nodes.timing import checkpoint_trigger_value
from .base import Constant, NodeExporter, parse_sizes
from .limits import LIMITS, network_problem, ppo_problems

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode
    from ..validate import Problem


class PPOAgentExporter(NodeExporter):
    base = "nodes.rl:PPOAgentNode"
    derived = ("LAYER_SIZES",)
    export_time = ("hidden_sizes",)
    requirements = ("torch>=2.4",)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        continuous = node.params["action_space"] == "continuous"
        problems = network_problem(node, plan, lambda sizes: LIMITS.actor_critic_parameters(
            1, node.params["action_dim"], sizes, continuous=continuous))
        if problems:
            return problems
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


#: What a trainer's run writes besides the weights: learning_curve.png (matplotlib) and the
#: runner's ``record`` GIF (imageio).
RUN_OUTPUT_REQUIREMENTS = ("matplotlib>=3.7", "imageio>=2.31")
#: PPO Trainer widgets that become PPOConfig fields (``nodes/rl.py``, ``PPOTrainerNode.config``).
TRAINER_FIELDS = {"horizon_length": "num_steps", "num_epochs": "num_epochs",
                  "minibatch_size": "minibatch_size", "gamma": "gamma",
                  "gae_lambda": "gae_lambda", "clip_param": "clip_coef",
                  "learning_rate": "learning_rate"}
#: PPO Config widgets that become PPOConfig fields (``nodes/rl.py``, ``dnne_ppo_config``).
PPO_CONFIG_FIELDS = {**TRAINER_FIELDS, "lr_schedule_kl_threshold": "adaptive_kl"}


class PPOTrainerExporter(NodeExporter):
    base = "nodes.rl:PPOTrainerNode"
    requirements = ("torch>=2.4", *RUN_OUTPUT_REQUIREMENTS)

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        problems = ppo_problems(node, TRAINER_FIELDS)
        try:
            checkpoint_trigger_value(node.params["checkpoint_trigger_type"],
                                     node.params["checkpoint_trigger_value"])
        except ValueError as exc:
            problems.append(self.problem(node, "checkpoint_trigger_value", str(exc)))
        return problems


class VirtualConfigExporter(NodeExporter):
    """DNNE's PPO Config and Balancer Config: read by the PPO Agent they feed, never run."""


#: The actor-critic of an Isaac Gym task's PPO, from IsaacGymEnvs' ``cfg/train/<Task>PPO``
#: (``network.mlp``); DNNE's PPO Agent trains with it.
ISAAC_TRAIN_NETWORKS: dict[str, tuple[tuple[int, ...], str]] = {"Cartpole": ((32, 32), "elu")}
DEFAULT_TRAIN_NETWORK = ((256, 128, 64), "elu")


class CompactPPOAgentExporter(NodeExporter):
    """DNNE's PPO Agent: the env and PPO config nodes wired into it become its constants."""

    base = "nodes.rl:CompactPPOAgentNode"
    derived = ("ENV", "PPO", "BALANCING", "HIDDEN_SIZES", "ACTIVATION")
    requirements = ("torch>=2.4", *RUN_OUTPUT_REQUIREMENTS)

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        meta = {"agent_node": node.id, "default_run_dir": str(node.params["save_path"]),
                "default_steps": None}  # PPO Config's max_iterations rollouts
        env = _linked(node, plan, "env_config")
        if env is not None:
            task = str(env.params["task"])
            meta.update(task=ISAAC_TASKS.get(task, task), engine=plan.sim)
        if node.params["resume_from"]:
            meta["resume_from"] = str(node.params["resume_from"])
        return meta

    def modules(self, node: PlannedNode, plan: Plan) -> list[str]:
        physics = get_engine(plan.sim).physics_module
        return [*super().modules(node, plan), *([f"envs.{physics}"] if physics else [])]

    def requirements_for(self, node: PlannedNode, plan: Plan) -> list[str]:
        return [*super().requirements_for(node, plan), *get_engine(plan.sim).requirements]

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        problems = []
        for field, optional in (("save_path", False), ("resume_from", True)):
            why = _unsafe_path(str(node.params[field]), optional)
            if why:
                problems.append(self.problem(node, field, why))
        env, ppo = _linked(node, plan, "env_config"), _linked(node, plan, "ppo_config")
        if env is None or env.spec.exporter != "robotics.env_config":
            problems.append(self.problem(node, "env_config", "takes an Isaac Gym Environment "
                                         "Config node's 'env' output"))
        if ppo is None or ppo.spec.exporter != "rl.ppo_config":
            problems.append(self.problem(node, "ppo_config", "takes a PPO Config node's "
                                         "'config' output"))
        if problems:
            return problems
        assert ppo is not None
        fields = dict(PPO_CONFIG_FIELDS)
        if ppo.params["lr_schedule"] != "adaptive":
            del fields["lr_schedule_kl_threshold"]
        problems += ppo_problems(ppo, fields)
        if ppo.params["max_iterations"] != node.params["max_iterations"]:
            plan.notices.append(
                f"node #{node.id}: PPO Config #{ppo.id} max_iterations="
                f"{ppo.params['max_iterations']} bounds the training, as in DNNE "
                f"(the agent's max_iterations={node.params['max_iterations']} does not)")
        if "balancing_config" in node.links:
            plan.notices.append(f"node #{node.id}: balancing_config recorded in hparams.json; "
                                "one process runs the agent")
        return problems

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        env, ppo = _linked(node, plan, "env_config"), _linked(node, plan, "ppo_config")
        balancer = _linked(node, plan, "balancing_config")
        assert env is not None and ppo is not None
        task = str(env.params["task"])
        sizes, activation = ISAAC_TRAIN_NETWORKS.get(task, DEFAULT_TRAIN_NETWORK)
        env_config = {"task": task, "dnne_task": ISAAC_TASKS.get(task, task),
                      "engine": plan.sim, "num_envs": int(env.params["num_envs"]),
                      "seed": int(env.params["seed"])}
        return [
            Constant("ENV", env_config, f"from #{env.id} Isaac Gym Environment Config"),
            Constant("PPO", {k: ppo.params[k] for k in (w.name for w in ppo.spec.widgets)},
                     f"from #{ppo.id} PPO Config"),
            Constant("BALANCING", dict(balancer.params) if balancer is not None else None,
                     f"from #{balancer.id}" if balancer is not None else "none wired"),
            Constant("HIDDEN_SIZES", sizes, f"{task}'s PPO network (IsaacGymEnvs)"),
            Constant("ACTIVATION", activation),
            *super().constants(node, plan),
        ]


class SimulationTrackerExporter(NodeExporter):
    base = "nodes.rl:SimulationTrackerNode"
    requirements = ("torch>=2.4",)

    def meta(self, node: PlannedNode, plan: Plan) -> dict:
        return {"default_steps": None}  # the tracker ends the run


def _linked(node: PlannedNode, plan: Plan, input_name: str) -> PlannedNode | None:
    link = node.links.get(input_name)
    return plan.by_id(link.source) if link else None


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
