"""The node registry: every node type dnne-robot knows, in one list a reader can scan.

Port names follow DNNE's stream-style vocabulary exactly (see FORMATS.md section 4); aliases
cover the generic names (``SimEnv``, ``Action``, ...) and DNNE's compact-style names.
"""

from __future__ import annotations

from ..envs import ENGINES
from .spec import InputSpec, NodeSpec, OutputSpec

INF = float("inf")


def link(
    name: str, type_: str, *, required: bool = True, mode: str = "each", tip: str = ""
) -> InputSpec:
    return InputSpec(name, type_, required=required, mode=mode, tooltip=tip)


def INT(name: str, default: int, lo: float = -INF, hi: float = INF, *, required: bool = True,
        seed: bool = False, tip: str = "") -> InputSpec:
    return InputSpec(name, "INT", required, default, lo, hi, control_after_generate=seed,
                     tooltip=tip)


def FLOAT(name: str, default: float, lo: float = -INF, hi: float = INF, *, required: bool = True,
          tip: str = "") -> InputSpec:
    return InputSpec(name, "FLOAT", required, default, lo, hi, tooltip=tip)


def STRING(name: str, default: str, *, required: bool = True, tip: str = "") -> InputSpec:
    return InputSpec(name, "STRING", required, default, tooltip=tip)


def BOOL(name: str, default: bool, *, required: bool = True, tip: str = "") -> InputSpec:
    return InputSpec(name, "BOOLEAN", required, default, tooltip=tip)


def COMBO(
    name: str, choices: tuple, default=None, *, required: bool = True, tip: str = ""
) -> InputSpec:
    return InputSpec(name, "COMBO", required, choices[0] if default is None else default,
                     choices=choices, tooltip=tip)


def out(name: str, type_: str) -> OutputSpec:
    return OutputSpec(name, type_)


ACTIVATIONS = ("relu", "tanh", "elu")
LAYER_ACTIVATIONS = ("none", "relu", "tanh", "sigmoid")
ISAAC_TASKS = ("Cartpole", "Pendulum", "Reach", "Ant", "Humanoid", "FrankaCabinet", "ShadowHand",
               "Anymal", "BallBalance", "Quadcopter")

NODES: tuple[NodeSpec, ...] = (
    # ---------------------------------------------------------------- robotics: simulators
    NodeSpec(
        "IsaacGymEnvNode", "Simulator Env", "robotics",
        (
            STRING("env_name", "Cartpole", tip="Task: a dnne task (CartPole, Pendulum, Reach), "
                   "an Isaac Gym task name, a gymnasium id, or an MJCF/URDF file path."),
            INT("num_envs", 8, 1, 4096, tip="Parallel environments (gymnasium.vector)."),
            STRING("isaac_gym_path", ""),
            STRING("isaac_gym_envs_path", ""),
            BOOL("headless", True),
            COMBO("device", ("cuda", "cpu"), "cpu"),
            COMBO("physics_engine", ("physx", "flex")),
            INT("seed", 0, 0, 2**31 - 1, required=False, seed=True),
            COMBO("engine", ("auto", *ENGINES), required=False,
                  tip="Physics engine; 'auto' follows `dnne-robot export --sim`."),
            COMBO("vectorization", ("auto", "sync", "async", "batched"), required=False,
                  tip="How the envs are stepped: 'batched' steps them as arrays (CartPole), "
                  "'sync' one after another, 'async' in worker processes; 'auto' batches "
                  "where the task can be."),
        ),
        (out("sim_handle", "SIM_HANDLE"), out("observations", "TENSOR")),
        "robotics.sim_env", aliases=("SimEnvNode", "SimEnv"),
        description="Creates the simulated task and emits its first observations.",
    ),
    NodeSpec(
        "IsaacGymStepNode", "Simulator Step", "robotics",
        (
            link("sim_handle", "SIM_HANDLE", mode="sticky"),
            link("actions", "ACTION"),
            link("trigger", "SYNC", required=False, mode="latest"),
        ),
        (out("observations", "TENSOR"), out("rewards", "TENSOR"), out("done", "TENSOR"),
         out("info", "DICT"), out("next_observations", "TENSOR")),
        "robotics.sim_step", aliases=("SimStepNode", "SimStep"),
        description="Steps every environment; 'observations' are pre-reset, "
                    "'next_observations' are what the agent sees next.",
    ),
    NodeSpec(
        "CartpoleActionNode", "Action", "robotics",
        (link("policy", "POLICY"),
         FLOAT("max_push_effort", 10.0, 0.0, 1e6, tip="Scale for continuous actions.")),
        (out("action", "ACTION"),),
        "robotics.action", aliases=("ActionNode", "Action"), stateless=True,
        pass_through=True,
        description="Turns the policy output into the simulator's action.",
    ),
    NodeSpec(
        "CartpoleRewardNode", "Reward", "robotics",
        (link("observations", "TENSOR"),
         FLOAT("reset_dist", 2.4, 0.0, 1e6, tip="Cart distance that ends an episode."),
         BOOL("invert_for_loss", False)),
        (out("reward_or_loss", "TENSOR"), out("done", "TENSOR"), out("info_dict", "DICT")),
        "robotics.reward", aliases=("RewardNode", "Reward"), stateless=True,
        description="CartPole reward from observations: +1 per step alive.",
    ),
    NodeSpec(
        "IsaacGymEnvs", "Simulator Config", "robotics",
        (
            COMBO("task", ISAAC_TASKS),
            FLOAT("dt", 0.0166, 0.0, 1.0, required=True),
            INT("num_envs", 8, 1, 4096),
            INT("seed", 42, 0, 2**31 - 1, seed=True),
            BOOL("headless", True),
            COMBO("physics_engine", ("physx", "flex"), required=False),
            COMBO("device", ("cuda", "cpu"), "cpu", required=False),
        ),
        (out("env", "ISAAC_ENV_CONFIG_PYDICT"),),
        "robotics.env_config", aliases=("EnvConfig",),
        description="Compact style: the simulator settings for a PPOAgent.",
    ),
    # ---------------------------------------------------------------- flow
    NodeSpec(
        "ORNode", "OR Merge", "flow",
        (link("input_a", "TENSOR", required=False, mode="any"),
         link("input_b", "TENSOR", required=False, mode="any"),
         link("input_c", "TENSOR", required=False, mode="any")),
        (out("output", "TENSOR"),),
        "flow.or_merge", aliases=("OR", "OrNode"), starts_cycle=True,
        description="Forwards whichever input arrives; closes the control loop.",
    ),
    # ---------------------------------------------------------------- rl
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
        ),
        (out("loss", "TENSOR"), out("training_complete", "SYNC")),
        "rl.ppo_trainer", aliases=("PPOTrainer",),
        description="Collects rollouts in its buffer and runs the PPO update.",
    ),
    NodeSpec(
        "PPOConfig", "PPO Config", "rl",
        (
            FLOAT("learning_rate", 3e-4, 0.0, 1.0),
            INT("num_epochs", 10, 1, 10_000),
            INT("minibatch_size", 256, 1, 10_000_000),
            FLOAT("clip_param", 0.2, 0.0, 10.0),
            FLOAT("value_loss_coef", 0.5, 0.0, 1e3),
            FLOAT("entropy_coef", 0.0, 0.0, 1e3),
            FLOAT("gamma", 0.99, 0.0, 1.0),
            FLOAT("gae_lambda", 0.95, 0.0, 1.0),
            FLOAT("max_grad_norm", 0.5, 0.0, 1e6),
            INT("horizon_length", 32, 1, 1_000_000),
            INT("max_iterations", 400, 1, 10_000_000),
            COMBO("lr_schedule", ("linear", "fixed", "adaptive")),
            STRING("hidden_sizes", "64,64", required=False),
            COMBO("activation", ACTIVATIONS, "tanh", required=False),
        ),
        (out("config", "PPO_CONFIG_PYDICT"),),
        "rl.ppo_config",
        description="Compact style: PPO hyperparameters for a PPOAgent.",
    ),
    NodeSpec(
        "BalancerConfig", "Balancer Config", "rl",
        (INT("num_workers", 1, 1, 1024), COMBO("strategy", ("round_robin", "load")),),
        (out("config", "BALANCING_CONFIG_PYDICT"),),
        "rl.balancer_config",
        description="Compact style: scheduling hints (recorded, not used by the local backend).",
    ),
    NodeSpec(
        "PPOAgent", "PPO Agent (compact)", "rl",
        (
            link("env_config", "ISAAC_ENV_CONFIG_PYDICT", mode="sticky"),
            link("ppo_config", "PPO_CONFIG_PYDICT", mode="sticky"),
            link("balancing_config", "BALANCING_CONFIG_PYDICT", required=False, mode="sticky"),
            INT("max_iterations", 400, 1, 10_000_000),
            INT("checkpoint_interval", 50, 0, 10_000_000),
            INT("eval_interval", 0, 0, 10_000_000),
            INT("eval_episodes", 5, 1, 10_000),
            INT("log_interval", 1, 1, 10_000_000),
            STRING("save_path", "./ppo_checkpoints"),
            STRING("resume_from", ""),
        ),
        (out("agent", "PPO_AGENT_OBJ"),),
        "rl.ppo_agent_compact", aliases=("PPOAgentCompact",),
        description="Compact style: one node that trains PPO on its env config.",
    ),
    # ---------------------------------------------------------------- ml
    NodeSpec(
        "RegressionDataNode", "Regression Data", "ml",
        (
            COMBO("function", ("sin", "poly", "linear")),
            INT("input_dim", 1, 1, 4096),
            INT("num_samples", 1024, 1, 10_000_000),
            INT("batch_size", 64, 1, 1_000_000),
            FLOAT("noise", 0.05, 0.0, 100.0),
            INT("seed", 0, 0, 2**31 - 1, seed=True),
            link("trigger", "SYNC", required=False, mode="gate",
                 tip="Wire the trainer's step_done here so each batch waits for the last update."),
        ),
        (out("features", "TENSOR"), out("targets", "TENSOR")),
        "ml.regression_data", aliases=("DatasetNode",), starts_cycle=True,
        description="Generates a synthetic regression data set and emits shuffled batches.",
    ),
    NodeSpec(
        "LinearLayerNode", "Linear Layer", "ml",
        (link("input", "TENSOR"), INT("output_size", 64, 1, 1_000_000), BOOL("bias", True),
         COMBO("activation", LAYER_ACTIVATIONS), FLOAT("dropout", 0.0, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.linear", aliases=("LinearLayer", "Linear"), stateless=True,
        description="A fully connected layer with optional activation and dropout.",
    ),
    NodeSpec(
        "ActivationNode", "Activation", "ml",
        (link("input", "TENSOR"),
         COMBO("activation", ("relu", "tanh", "sigmoid", "elu", "gelu", "leaky_relu"))),
        (out("output", "TENSOR"),),
        "ml.activation", aliases=("Activation",), stateless=True,
    ),
    NodeSpec(
        "DropoutNode", "Dropout", "ml",
        (link("input", "TENSOR"), FLOAT("p", 0.1, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.dropout", aliases=("Dropout",), stateless=True,
    ),
    NodeSpec(
        "BatchNormNode", "Batch Norm", "ml",
        (link("input", "TENSOR"), FLOAT("momentum", 0.1, 0.0, 1.0), FLOAT("eps", 1e-5, 0.0, 1.0)),
        (out("output", "TENSOR"),),
        "ml.batchnorm", aliases=("BatchNorm",), stateless=True,
    ),
    NodeSpec(
        "NetworkNode", "Network (MLP)", "ml",
        (link("input", "TENSOR"), STRING("hidden_sizes", "64,64"),
         INT("output_size", 1, 1, 1_000_000),
         COMBO("activation", ACTIVATIONS, "tanh")),
        (out("output", "TENSOR"),),
        "ml.network", aliases=("Network", "MLPNode"), stateless=True,
    ),
    NodeSpec(
        "SupervisedTrainerNode", "Supervised Trainer", "ml",
        (link("predictions", "TENSOR"), link("targets", "TENSOR"),
         COMBO("loss", ("mse", "l1", "huber")), COMBO("optimizer", ("adam", "sgd")),
         FLOAT("learning_rate", 1e-2, 0.0, 10.0), INT("log_interval", 100, 1, 10_000_000)),
        (out("loss", "TENSOR"), out("step_done", "SYNC")),
        "ml.supervised_trainer", aliases=("TrainerNode", "MSETrainer"),
        description="Minimises the loss of the upstream layers' predictions.",
    ),
)
