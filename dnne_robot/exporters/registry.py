"""Every built-in node exporter, by key. Catalog specs name these keys; plugins add more."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from ..catalog.plugins import plugin_exporters
from .base import NodeExporter

EXPORTERS: dict[str, str] = {
    # flow
    "flow.or_merge": "dnne_robot.exporters.flow:OrMergeExporter",
    "flow.fused_sequential": "dnne_robot.exporters.fused:FusedSequentialExporter",
    "flow.fused_inline": "dnne_robot.exporters.fused:FusedInlineExporter",
    # ml
    "ml.regression_data": "dnne_robot.exporters.ml:RegressionDataExporter",
    "ml.linear": "dnne_robot.exporters.ml:LinearExporter",
    "ml.activation": "dnne_robot.exporters.ml:ActivationExporter",
    "ml.dropout": "dnne_robot.exporters.ml:DropoutExporter",
    "ml.batchnorm": "dnne_robot.exporters.ml:BatchNormExporter",
    "ml.network": "dnne_robot.exporters.ml:NetworkExporter",
    "ml.supervised_trainer": "dnne_robot.exporters.ml:SupervisedTrainerExporter",
    # rl
    "rl.ppo_agent": "dnne_robot.exporters.rl:PPOAgentExporter",
    "rl.ppo_trainer": "dnne_robot.exporters.rl:PPOTrainerExporter",
    "rl.ppo_config": "dnne_robot.exporters.rl:PPOConfigExporter",
    "rl.balancer_config": "dnne_robot.exporters.rl:BalancerConfigExporter",
    "rl.ppo_agent_compact": "dnne_robot.exporters.rl:CompactPPOAgentExporter",
    # robotics
    "robotics.sim_env": "dnne_robot.exporters.robotics:SimEnvExporter",
    "robotics.sim_step": "dnne_robot.exporters.robotics:SimStepExporter",
    "robotics.action": "dnne_robot.exporters.robotics:ActionExporter",
    "robotics.reward": "dnne_robot.exporters.robotics:RewardExporter",
    "robotics.env_config": "dnne_robot.exporters.robotics:EnvConfigExporter",
}


@cache
def get_exporter(key: str) -> NodeExporter:
    plugins = plugin_exporters()
    if key in plugins:
        return plugins[key]()
    module_name, _, class_name = EXPORTERS[key].partition(":")
    return getattr(import_module(module_name), class_name)()
