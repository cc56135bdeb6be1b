"""Every built-in node exporter, by key. Catalog specs name these keys; plugins add more."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from ..catalog.plugins import plugin_exporters
from .base import NodeExporter

EXPORTERS: dict[str, str] = {
    # flow
    "flow.or_merge": "dnne_robot.exporters.flow:OrMergeExporter",
    "flow.balancer": "dnne_robot.exporters.flow:BalancerExporter",
    "flow.barrier": "dnne_robot.exporters.flow:BarrierExporter",
    "flow.concat": "dnne_robot.exporters.flow:ConcatExporter",
    "flow.custom_computation": "dnne_robot.exporters.flow:CustomComputationExporter",
    "flow.data_streamer": "dnne_robot.exporters.flow:DataStreamerExporter",
    "flow.eat_n": "dnne_robot.exporters.flow:EatNExporter",
    "flow.split": "dnne_robot.exporters.flow:SplitExporter",
    "flow.tensor": "dnne_robot.exporters.flow:TensorExporter",
    "flow.fused_sequential": "dnne_robot.exporters.fused:FusedSequentialExporter",
    "flow.fused_inline": "dnne_robot.exporters.fused:FusedInlineExporter",
    "flow.fused_loop": "dnne_robot.exporters.fused:FusedLoopExporter",
    # ml
    "ml.regression_data": "dnne_robot.exporters.ml:RegressionDataExporter",
    "ml.linear": "dnne_robot.exporters.ml:LinearExporter",
    "ml.activation": "dnne_robot.exporters.ml:ActivationExporter",
    "ml.dropout": "dnne_robot.exporters.ml:DropoutExporter",
    "ml.batchnorm": "dnne_robot.exporters.ml:BatchNormExporter",
    "ml.network": "dnne_robot.exporters.ml:NetworkExporter",
    "ml.supervised_trainer": "dnne_robot.exporters.ml:SupervisedTrainerExporter",
    "ml.mnist_dataset": "dnne_robot.exporters.ml:MNISTDatasetExporter",
    "ml.cifar10_dataset": "dnne_robot.exporters.ml:CIFAR10DatasetExporter",
    "ml.batch_sampler": "dnne_robot.exporters.ml:BatchSamplerExporter",
    "ml.get_batch": "dnne_robot.exporters.ml:GetBatchExporter",
    "ml.dnne_network": "dnne_robot.exporters.ml:DNNENetworkExporter",
    "ml.dnne_linear": "dnne_robot.exporters.ml:LinearLayerExporter",
    "ml.cross_entropy": "dnne_robot.exporters.ml:CrossEntropyExporter",
    "ml.sgd": "dnne_robot.exporters.ml:SGDExporter",
    "ml.training_sequencer": "dnne_robot.exporters.ml:TrainingSequencerExporter",
    "ml.epoch_tracker": "dnne_robot.exporters.ml:EpochTrackerExporter",
    # rl
    "rl.ppo_agent": "dnne_robot.exporters.rl:PPOAgentExporter",
    "rl.ppo_trainer": "dnne_robot.exporters.rl:PPOTrainerExporter",
    "rl.ppo_config": "dnne_robot.exporters.rl:VirtualConfigExporter",
    "rl.balancer_config": "dnne_robot.exporters.rl:VirtualConfigExporter",
    "rl.ppo_agent_compact": "dnne_robot.exporters.rl:CompactPPOAgentExporter",
    "rl.simulation_tracker": "dnne_robot.exporters.rl:SimulationTrackerExporter",
    # robotics
    "robotics.sim_env": "dnne_robot.exporters.robotics:SimEnvExporter",
    "robotics.sim_step": "dnne_robot.exporters.robotics:SimStepExporter",
    "robotics.action": "dnne_robot.exporters.robotics:ActionExporter",
    "robotics.reward": "dnne_robot.exporters.robotics:RewardExporter",
    "robotics.env_config": "dnne_robot.exporters.robotics:EnvConfigExporter",
    "robotics.isaac_gym_sim": "dnne_robot.exporters.robotics:IsaacGymSimExporter",
}


@cache
def get_exporter(key: str) -> NodeExporter:
    plugins = plugin_exporters()
    if key in plugins:
        return plugins[key]()
    module_name, _, class_name = EXPORTERS[key].partition(":")
    return getattr(import_module(module_name), class_name)()
