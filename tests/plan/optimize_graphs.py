"""Workflows built in code (API prompts) for the ``--optimize`` tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Prompt = dict[str, dict[str, Any]]


def node(class_type: str, title: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def regression(layers: list[tuple[str, dict[str, Any]]], *, input_dim: int = 3,
               extra: Prompt | None = None) -> Prompt:
    """Data -> the layers in a chain -> a trainer whose step gates the next batch.

    Node ids: ``1`` data, ``2..`` the layers, then the trainer.
    """
    prompt: Prompt = {"1": node("RegressionDataNode", "Data", function="sin",
                                input_dim=input_dim, num_samples=256, batch_size=32,
                                noise=0.05, seed=0)}
    source = ["1", 0]
    for i, (class_type, params) in enumerate(layers, start=2):
        prompt[str(i)] = node(class_type, f"{class_type} {i}", input=source, **params)
        source = [str(i), 0]
    trainer = str(len(layers) + 2)
    prompt[trainer] = node("SupervisedTrainerNode", "Trainer", predictions=source,
                           targets=["1", 1], loss="mse", optimizer="adam",
                           learning_rate=0.01, log_interval=10)
    prompt["1"]["inputs"]["trigger"] = [trainer, 1]
    prompt.update(extra or {})
    return prompt


#: One of every fusable layer kind, every activation choice, and dropout that draws random
#: numbers on every batch (so the fused module must draw them in the same order).
EVERY_LAYER: list[tuple[str, dict[str, Any]]] = [
    ("LinearLayerNode", {"output_size": 16, "bias": True, "activation": "relu", "dropout": 0.1}),
    ("LinearLayerNode", {"output_size": 16, "bias": False, "activation": "tanh", "dropout": 0.0}),
    ("LinearLayerNode", {"output_size": 16, "bias": True, "activation": "sigmoid", "dropout": 0.0}),
    ("LinearLayerNode", {"output_size": 12, "bias": True, "activation": "none", "dropout": 0.0}),
    ("ActivationNode", {"activation": "relu"}),
    ("ActivationNode", {"activation": "tanh"}),
    ("ActivationNode", {"activation": "sigmoid"}),
    ("ActivationNode", {"activation": "elu"}),
    ("ActivationNode", {"activation": "gelu"}),
    ("ActivationNode", {"activation": "leaky_relu"}),
    ("DropoutNode", {"p": 0.2}),
    ("BatchNormNode", {"momentum": 0.1, "eps": 1e-5}),
    ("NetworkNode", {"hidden_sizes": "8,8", "output_size": 6, "activation": "relu"}),
    ("NetworkNode", {"hidden_sizes": "8", "output_size": 6, "activation": "tanh"}),
    ("NetworkNode", {"hidden_sizes": "4,4,4", "output_size": 6, "activation": "elu"}),
    ("LinearLayerNode", {"output_size": 1, "bias": True, "activation": "none", "dropout": 0.0}),
]


def linear(size: int, activation: str = "tanh") -> tuple[str, dict[str, Any]]:
    return ("LinearLayerNode", {"output_size": size, "bias": True, "activation": activation,
                                "dropout": 0.0})


def cartpole(reward_head: bool = False) -> Prompt:
    """The cartpole_ppo graph; with ``reward_head`` the reward goes through a Linear layer.

    Reward -> Linear is a chain of two stateless nodes that are not all torch layers, so
    ``--optimize`` runs the reward node inside the layer node.
    """
    prompt: Prompt = {
        "1": node("IsaacGymEnvNode", "Env", env_name="Cartpole", num_envs=8, isaac_gym_path="",
                  isaac_gym_envs_path="", headless=True, device="cpu", physics_engine="physx",
                  seed=0),
        "2": node("ORNode", "Merge", input_a=["1", 1], input_b=["5", 4]),
        "3": node("PPOAgentNode", "Agent", hidden_sizes="32", activation="tanh",
                  action_space="discrete", action_dim=2, learning_rate=0.001,
                  observations=["2", 0]),
        "4": node("CartpoleActionNode", "Action", max_push_effort=10.0, policy=["3", 0]),
        "5": node("IsaacGymStepNode", "Step", sim_handle=["1", 0], actions=["4", 0]),
        "6": node("CartpoleRewardNode", "Reward", reset_dist=2.4, invert_for_loss=False,
                  observations=["5", 0]),
        "7": node("PPOTrainerNode", "Trainer", horizon_length=32, num_epochs=2,
                  minibatch_size=128, gamma=0.98, gae_lambda=0.8, clip_param=0.2,
                  value_coef=0.5, entropy_coef=0.0, learning_rate=0.001, max_grad_norm=0.5,
                  checkpoint_enabled=True, checkpoint_trigger_type="epoch",
                  checkpoint_trigger_value="50", state=["5", 4], policy_output=["3", 0],
                  reward=["6", 0], done=["5", 2], model=["3", 1]),
    }
    if reward_head:
        prompt["8"] = node("LinearLayerNode", "Reward Head", output_size=8, bias=True,
                           activation="none", dropout=0.0, input=["6", 0])
        prompt["7"]["inputs"]["reward"] = ["8", 0]
    return prompt


def write(prompt: Prompt, path: Path) -> Path:
    path.write_text(json.dumps(prompt, indent=1))
    return path


def mixed_chain() -> Prompt:
    """Data -> Linear -> CartPole reward -> Linear -> Linear -> trainer: a chain of stateless
    nodes in which layers and another node alternate."""
    layers = [linear(4), ("CartpoleRewardNode", {"reset_dist": 2.4, "invert_for_loss": False}),
              linear(4), linear(1, "none")]
    prompt = regression(layers)
    prompt["3"]["inputs"]["observations"] = prompt["3"]["inputs"].pop("input")
    return prompt
