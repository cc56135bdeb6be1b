"""Writes the scenarios in DNNE's node vocabulary: ``python scenarios/make_dnne_scenarios.py``.

- ``cartpole_compact.json``: DNNE's compact PPO style, an Isaac Gym Environment Config, a PPO
  Config and a Balancer Config feeding one PPO Agent (CartPole on --sim).
- ``dnne_mnist_classifier.json``: a supervised loop as DNNE draws it: MNIST data set, batch
  sampler, get batch, a Neural Network of Linear Layers, cross-entropy, SGD (whose bootstrap
  step_complete starts the loop), a Balancer on the trigger path, an Epoch Tracker.
  ``python bench/mnist_digits.py data`` writes a digit set it reads from ``data``.
- ``dnne_flow_demo.json``: DNNE's flow nodes on constant tensors: Eat_N, Split, Concat and a
  Barrier released by two sources (several links into one input).
"""

from __future__ import annotations

from pathlib import Path

from dnne_robot.catalog.builder import ui_workflow as ui
from dnne_robot.catalog.builder import write_scenarios

HERE = Path(__file__).resolve().parent

CARTPOLE_COMPACT = ui(
    [
        (
            1,
            "IsaacGymEnvs",
            "CartPole Config",
            {
                "task": "Cartpole",
                "num_envs": 8,
                "seed": 0,
                "sim_device": "cpu",
                "schema_display": "No schema available for this task",
            },
        ),
        # This project's CartPole settings (SB3 zoo's, as in cartpole_ppo.json).
        (
            2,
            "PPOConfig",
            "PPO Config",
            {
                "learning_rate": 0.001,
                "num_epochs": 16,
                "minibatch_size": 256,
                "clip_param": 0.2,
                "value_loss_coef": 1.0,
                "entropy_coef": 0.0,
                "gamma": 0.98,
                "gae_lambda": 0.8,
                "max_grad_norm": 0.5,
                "horizon_length": 32,
                "max_iterations": 400,
                "lr_schedule": "linear",
                "use_clipped_value_loss": False,
            },
        ),
        (3, "BalancerConfig", "Balancer", {}),
        (
            4,
            "PPOAgent",
            "PPO Agent",
            {
                "max_iterations": 400,
                "checkpoint_interval": 100,
                "eval_interval": 0,
                "eval_episodes": 5,
                "log_interval": 1,
                "save_path": "ppo_checkpoints",
            },
        ),
    ],
    [
        (1, "env", 4, "env_config"),
        (2, "config", 4, "ppo_config"),
        (3, "config", 4, "balancing_config"),
    ],
)

MNIST_CLASSIFIER = ui(
    [
        (1, "MNISTDataset", "Digits", {"data_path": "data", "train": True, "download": True}),
        (2, "BatchSampler", "Batches", {"batch_size": 32, "shuffle": True, "seed": 7}),
        (3, "GetBatch", "Get Batch", {}),
        (4, "Network", "Classifier", {"checkpoint_enabled": False}),
        (5, "LinearLayer", "Hidden", {"output_size": 128, "activation": "relu", "dropout": 0.2}),
        (6, "LinearLayer", "Scores", {"output_size": 10, "activation": "none"}),
        (7, "CrossEntropyLoss", "Loss", {}),
        (8, "SGDOptimizer", "SGD", {"learning_rate": 0.02, "momentum": 0.9}),
        (9, "Balancer", "Pace", {"item_name": "batches"}),
        (10, "EpochTracker", "Epochs", {"max_epochs": 5}),
    ],
    [
        (1, "dataset", 2, "dataset"),
        (1, "schema", 2, "schema"),
        (2, "dataloader", 3, "dataloader"),
        (2, "schema", 3, "schema"),
        (3, "images", 4, "input"),
        (4, "layers", 5, "input"),
        (5, "output", 6, "input"),
        (6, "output", 4, "to_output"),
        (4, "output", 7, "predictions"),
        (3, "labels", 7, "labels"),
        (4, "model", 8, "model"),
        (7, "loss", 8, "loss"),
        (8, "step_complete", 9, "input"),
        (9, "output", 3, "trigger"),
        (3, "epoch_stats", 10, "epoch_stats"),
        (7, "loss", 10, "loss"),
        (7, "accuracy", 10, "accuracy"),
    ],
)

FLOW_DEMO = ui(
    [
        (1, "Tensor", "Readings", {"tensor_dims": "1,6", "fill_mode": "normal", "seed": -1}),
        (2, "Eat_N", "Skip First", {"num_to_eat": 1, "trigger_mode": "every_eat"}),
        (3, "Split", "Split 2+4", {"split_mode": "by size", "split_pos": "2,4"}),
        (4, "Concat", "Swap", {}),
        (5, "Barrier", "Hold", {}),
        (6, "Tensor", "Tick", {"tensor_dims": "1", "fill_mode": "ones"}),
        (7, "Balancer", "Pace", {"item_name": "readings", "max_hz": 200.0}),
    ],
    [
        (1, "tensor", 2, "input"),
        (2, "output", 3, "input"),
        (3, "output_b", 4, "input_a"),
        (3, "output_a", 4, "input_b"),
        (4, "output", 5, "input"),
        (2, "trigger", 5, "release"),
        (6, "tensor", 5, "release"),
        (5, "output", 7, "input"),
    ],
)

SCENARIOS = {
    "cartpole_compact": CARTPOLE_COMPACT,
    "dnne_mnist_classifier": MNIST_CLASSIFIER,
    "dnne_flow_demo": FLOW_DEMO,
}


def main() -> None:
    write_scenarios(SCENARIOS, HERE)


if __name__ == "__main__":
    main()
