"""Writes the hyperparameter scenarios that ``bench/ppo_results.py`` trains.

Run from the repository root: ``python scenarios/bench/make_bench_scenarios.py``.
Every file is a ComfyUI UI-format workflow built from the node catalog, so the widget order
always follows the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path

from dnne_robot.catalog import get_spec
from dnne_robot.catalog.builder import ui_workflow as ui
from dnne_robot.catalog.builder import write_scenarios

HERE = Path(__file__).resolve().parent


# The stream graph of scenarios/reach_ppo.json: env -> merge -> agent -> action -> step -> trainer,
# with the step node's own rewards and dones.
STREAM_EDGES = [
    (1, "observations", 2, "input_a"),
    (5, "next_observations", 2, "input_b"),
    (2, "output", 3, "observations"),
    (3, "policy_output", 4, "policy"),
    (1, "sim_handle", 5, "sim_handle"),
    (4, "action", 5, "actions"),
    (5, "next_observations", 6, "state"),
    (3, "policy_output", 6, "policy_output"),
    (5, "rewards", 6, "reward"),
    (5, "done", 6, "done"),
    (3, "model", 6, "model"),
]


def stream(env_name, num_envs, agent, trainer, title):
    return ui(
        [
            (
                1,
                "IsaacGymEnvNode",
                title,
                {"env_name": env_name, "num_envs": num_envs, "seed": 0, "engine": "gymnasium"},
            ),
            (2, "ORNode", "Observation Merge", {}),
            (3, "PPOAgentNode", "PPO Agent", {"action_space": "continuous", **agent}),
            (4, "CartpoleActionNode", "Action", {}),
            (5, "IsaacGymStepNode", "Sim Step", {}),
            (
                6,
                "PPOTrainerNode",
                "PPO Trainer",
                {
                    "checkpoint_enabled": True,
                    "checkpoint_trigger_type": "epoch",
                    "checkpoint_trigger_value": "50",
                    **trainer,
                },
            ),
        ],
        STREAM_EDGES,
    )


def copy_with(base: str, node_type: str, **widgets):
    """A copy of the UI workflow ``base`` with some of ``node_type``'s widgets changed."""
    data = json.loads((HERE.parents[0] / base).read_text())
    names = [w.name for w in get_spec(node_type).widgets]
    for node in data["nodes"]:
        if node["type"] == node_type:
            for name, value in widgets.items():
                node["widgets_values"][names.index(name)] = value
    return data


def cleanrl_continuous(env_name: str, action_dim: int, title: str, num_envs: int = 1, **trainer):
    """CleanRL's ``ppo_continuous_action.py`` defaults on one ``env_name`` environment: 2048
    steps per rollout, 10 epochs of 32 minibatches of 64, lr 3e-4 annealed, gamma 0.99, GAE
    0.95, clip 0.2 with the value loss clipped, vf 0.5, no entropy, gradient norm 0.5; a 64x64
    tanh actor and critic, log std 0, running observation normalisation (clip 10); ``trainer``
    (and ``num_envs``) change what a scenario changes."""
    return stream(
        env_name,
        num_envs,
        {
            "hidden_sizes": "64,64",
            "activation": "tanh",
            "action_dim": action_dim,
            "learning_rate": 3e-4,
            "init_log_std": 0.0,
            "normalize_observations": True,
        },
        {
            "horizon_length": 2048,
            "num_epochs": 10,
            "minibatch_size": 64,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "clip_param": 0.2,
            "value_coef": 0.5,
            "entropy_coef": 0.0,
            "learning_rate": 3e-4,
            "max_grad_norm": 0.5,
            "anneal_lr": True,
            "clip_vloss": True,
            **trainer,
        },
        title,
    )


SCENARIOS = {
    # scenarios/cartpole_ppo.json (SB3 zoo CartPole settings) plus a KL early stop: with the
    # stock settings PyBullet seed 0 climbed to ~455 and collapsed to ~100 after 75k steps.
    # SB3 zoo also anneals the clip range, which PPOTrainerNode does not offer.
    "cartpole_pybullet_ppo": copy_with("cartpole_ppo.json", "PPOTrainerNode", target_kl=0.02),
    # rl-zoo-like: 8 envs x 256 steps = 2048 per update, 8 minibatches of 256, 10 epochs.
    # max_grad_norm 5 rather than 0.5: actor and critic share one global clip, and once the
    # pendulum is balanced the first failures give value losses of ~100 (raw returns, no
    # reward normalisation); clipped to 0.5, those gradients left the actor's step near zero
    # and 2 of 5 seeds collapsed from 1000 to ~100-150 after ~230k steps. With 5.0: 10/10.
    "inverted_pendulum_ppo": cleanrl_continuous(
        "InvertedPendulum-v5", 1, "InvertedPendulum Env", num_envs=8, horizon_length=256,
        minibatch_size=256, max_grad_norm=5.0, clip_vloss=False,
    ),  # fmt: skip
    # CleanRL ppo_continuous_action.py: 1 env x 2048 steps, 32 minibatches of 64, 10 epochs.
    # Without reward normalisation (the option came later; this keeps the measured scenario).
    "halfcheetah_ppo": cleanrl_continuous("HalfCheetah-v5", 6, "HalfCheetah Env"),
    # CleanRL ppo_continuous_action.py with all of its settings, reward normalisation and
    # clip included: the Hopper-v5 row of docs/results.md.
    "hopper_ppo": cleanrl_continuous("Hopper-v5", 3, "Hopper Env", normalize_rewards=True),
}


def main() -> None:
    write_scenarios(SCENARIOS, HERE)


if __name__ == "__main__":
    main()
