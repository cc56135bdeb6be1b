"""RL node types: PPO agents, their configs and trackers.

The stream-style agent and trainer are dnne-robot's own; ``PPOAgent``, ``PPOConfig`` and
``SimulationTracker`` are DNNE's, with its names, widget order and defaults.
"""

from __future__ import annotations

from ..spec import NodeSpec
from .fields import BOOL, COMBO, FLOAT, INT, STRING, link, out

ACTIVATIONS = ("relu", "tanh", "elu")
TELEMETRY_LEVELS = ("off", "essential", "extended", "debug")
RL_GAMES_ONLY = "an rl_games setting with no counterpart in this PPO"

RL: tuple[NodeSpec, ...] = (
    # ---------------------------------------------------------------- dnne-robot stream style
    NodeSpec(
        "PPOAgentNode", "PPO Agent", "rl",
        (
            link("observations", "TENSOR"),
            STRING("hidden_sizes", "64,64", tip="Comma-separated hidden layer widths."),
            COMBO("activation", ACTIVATIONS, "tanh"),
            COMBO("action_space", ("continuous", "discrete"), "discrete"),
            INT("action_dim", 1, 1, 4096),
            FLOAT("learning_rate", 3e-4, 0.0, 1.0),
            BOOL("deterministic", False, required=False),
            FLOAT("init_log_std", 0.0, -20.0, 2.0, required=False),
            BOOL("normalize_observations", True, required=False),
        ),
        (out("policy_output", "POLICY"), out("model", "MODEL")),
        "rl.ppo_agent", aliases=("PPOAgentStream", "ActorCritic"),
        description="Actor-critic policy: acts on observations.",
    ),
    NodeSpec(
        "PPOTrainerNode", "PPO Trainer", "rl",
        (
            link("state", "TENSOR", tip="Observations after the step (bootstraps the value)."),
            link("policy_output", "POLICY"),
            link("reward", "TENSOR"),
            link("done", "TENSOR"),
            link("model", "MODEL", mode="sticky"),
            INT("horizon_length", 32, 1, 1_000_000),
            INT("num_epochs", 10, 1, 10_000),
            INT("minibatch_size", 256, 1, 10_000_000),
            FLOAT("gamma", 0.99, 0.0, 1.0),
            FLOAT("gae_lambda", 0.95, 0.0, 1.0),
            FLOAT("clip_param", 0.2, 0.0, 10.0),
            FLOAT("value_coef", 0.5, 0.0, 1e3),
            FLOAT("entropy_coef", 0.0, 0.0, 1e3),
            FLOAT("learning_rate", 3e-4, 0.0, 1.0),
            FLOAT("max_grad_norm", 0.5, 0.0, 1e6),
            BOOL("checkpoint_enabled", True),
            COMBO("checkpoint_trigger_type", ("epoch", "time", "best_metric")),
            STRING("checkpoint_trigger_value", "10",
                   tip="Updates between checkpoints (epoch), seconds (time)."),
            BOOL("anneal_lr", True, required=False),
            FLOAT("target_kl", 0.0, 0.0, 10.0, required=False, tip="0 disables KL early stop."),
            BOOL("clip_vloss", False, required=False),
            BOOL("normalize_rewards", False, required=False,
                 tip="Divide rewards by the running std of the discounted return, clip to "
                     "[-10, 10] (CleanRL's NormalizeReward)."),
        ),
        (out("loss", "TENSOR"), out("training_complete", "SYNC")),
        "rl.ppo_trainer", aliases=("PPOTrainer",),
        description="Collects rollouts in its buffer and runs the PPO update.",
    ),
    # ---------------------------------------------------------------- DNNE
    NodeSpec(
        "PPOConfig", "PPO Config", "rl",
        (
            FLOAT("learning_rate", 3e-4, 1e-6, 0.1),
            INT("num_epochs", 4, 1, 16, tip="Passes over each rollout."),
            INT("minibatch_size", 8192, 32, 32768,
                tip="Transitions per gradient step (at most the whole rollout)."),
            FLOAT("clip_param", 0.2, 0.01, 0.5),
            FLOAT("value_loss_coef", 0.5, 0.1, 4.0),
            FLOAT("entropy_coef", 0.01, 0.0, 0.1),
            FLOAT("gamma", 0.99, 0.8, 0.9999),
            FLOAT("gae_lambda", 0.95, 0.8, 1.0),
            FLOAT("max_grad_norm", 0.5, 0.1, 10.0),
            INT("horizon_length", 16, 4, 4096, required=False, tip="Steps per env per rollout."),
            INT("max_iterations", 10000, 1, 1_000_000, required=False,
                tip="Rollouts to train for."),
            COMBO("lr_schedule", ("constant", "linear", "adaptive"), required=False),
            FLOAT("lr_schedule_kl_threshold", 0.008, 0.001, 0.1, required=False,
                  tip="adaptive: the KL the learning rate is steered to."),
            BOOL("use_clipped_value_loss", True, required=False),
            BOOL("normalize_advantage", True, required=False),
            BOOL("normalize_input", True, required=False),
            BOOL("normalize_value", True, required=False,
                 tip="Learn the value in running-normalised units (rl_games)."),
            FLOAT("reward_shaper_scale", 1.0, 0.01, 100.0, required=False),
            FLOAT("e_clip", 0.2, 0.0, 0.5, required=False, unused=RL_GAMES_ONLY),
            BOOL("truncate_grads", True, required=False),
            FLOAT("bounds_loss_coef", 1e-4, 0.0, 0.01, required=False, unused=RL_GAMES_ONLY),
        ),
        (out("config", "PPO_CONFIG_PYDICT"),),
        "rl.ppo_config", source="dnne", virtual=True,
        description="PPO hyperparameters for a PPO Agent.",
    ),
    NodeSpec(
        "PPOAgent", "PPO Agent", "rl",
        (
            link("env_config", "ISAAC_ENV_CONFIG_PYDICT", virtual=True),
            link("ppo_config", "PPO_CONFIG_PYDICT", virtual=True),
            INT("max_iterations", 1000, 1, 1_000_000,
                tip="Rollouts; PPO Config's max_iterations wins, as in DNNE."),
            INT("checkpoint_interval", 100, 0, 10000, tip="Rollouts between checkpoints."),
            INT("eval_interval", 50, 0, 1000, tip="Rollouts between evaluations (0: none)."),
            INT("eval_episodes", 10, 1, 100),
            INT("log_interval", 10, 1, 100, tip="Rollouts between metrics.csv rows."),
            STRING("save_path", "./ppo_checkpoints", tip="The run folder."),
            link("balancing_config", "BALANCING_CONFIG_PYDICT", required=False, virtual=True),
            STRING("resume_from", "", required=False, tip="A checkpoint to continue from."),
        ),
        (out("agent", "PPO_AGENT_OBJ"), out("training_stats", "PPO_TRAINING_STATS_PYDICT"),
         out("eval_stats", "PPO_EVAL_STATS_PYDICT")),
        "rl.ppo_agent_compact", aliases=("PPOAgentCompact",), source="dnne",
        description="Trains PPO on its env config with its PPO config, in one node.",
    ),
    NodeSpec(
        "SimulationTracker", "Simulation Tracker", "rl",
        (
            link("step_done", "*TRIGGER", required=False, mode="any"),
            link("episode_done", "*TRIGGER", required=False, mode="any"),
            link("loss", "*LOSS_SCALAR", required=False, mode="any"),
            link("custom_metrics", "*METRICS_PYDICT", required=False, mode="any"),
            INT("max_episodes", 1000, 1, 100_000, required=False),
            FLOAT("success_threshold", 0.95, 0.0, 1.0, required=False),
            STRING("telemetry_interval", "30s", required=False,
                   tip="'<N>_steps', '<N>_episodes' or a duration like '30s'."),
            COMBO("telemetry_level", TELEMETRY_LEVELS, required=False),
        ),
        (),
        "rl.simulation_tracker", source="dnne",
        description="Counts steps, episodes and losses; ends the run at max_episodes.",
    ),
)
