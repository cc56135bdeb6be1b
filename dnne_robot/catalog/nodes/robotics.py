"""Robotics node types: simulators, their steps, actions and rewards.

The stream-style nodes are dnne-robot's own; ``IsaacGymEnvs`` and ``IsaacGymSim`` are DNNE's
(``custom_nodes/isaac_gym_*_visnode.py``), with its names, widget order and defaults.
"""

from __future__ import annotations

from ...envs import ENGINES
from ..spec import NodeSpec
from .fields import BOOL, COMBO, FLOAT, INT, ISAAC_ONLY, STRING, link, out

#: DNNE's task list (IsaacGymEnvs' task YAMLs); which of them run here is the exporter's call.
ISAAC_GYM_TASKS = (
    "FrankaDNNE", "Cartpole", "AllegroHand", "Ant", "Anymal", "AnymalTerrain", "BallBalance",
    "FrankaCabinet", "FrankaCubeStack", "Humanoid", "HumanoidAMP", "Ingenuity", "Quadcopter",
    "ShadowHand", "Trifinger",
)

ROBOTICS: tuple[NodeSpec, ...] = (
    # ---------------------------------------------------------------- dnne-robot stream style
    NodeSpec(
        "IsaacGymEnvNode", "Simulator Env", "robotics",
        (
            STRING("env_name", "Cartpole", tip="Task: a dnne task (CartPole, Pendulum, Reach), "
                   "an Isaac Gym task name, a gymnasium id, or an MJCF/URDF file path."),
            INT("num_envs", 8, 1, 4096, tip="Parallel environments (gymnasium.vector)."),
            STRING("isaac_gym_path", "", unused="Isaac Gym is not used: the task runs on --sim"),
            STRING("isaac_gym_envs_path", "",
                   unused="Isaac Gym is not used: the task runs on --sim"),
            BOOL("headless", True,
                 unused="simulators run headless; `runner.py record` shows a rollout"),
            COMBO("device", ("cuda", "cpu"), "cpu",
                  unused="simulation runs on the CPU; learning uses `train --device`"),
            COMBO("physics_engine", ("physx", "flex"), unused=ISAAC_ONLY),
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
    # ---------------------------------------------------------------- DNNE
    NodeSpec(
        "IsaacGymEnvs", "Isaac Gym Environment Config", "robotics",
        (
            COMBO("task", ISAAC_GYM_TASKS, "Cartpole",
                  tip="Isaac Gym task; Cartpole runs as dnne-robot's CartPole on --sim."),
            STRING("dynamic_1", "none", required=False, tip="First schema level (subtask)."),
            STRING("dynamic_2", "none", required=False,
                   tip="Second schema level (control type)."),
            STRING("dynamic_3", "none", required=False, tip="Third schema level."),
            FLOAT("dt", 0.01667, 0.001, 0.1, required=False,
                  unused="the task's own control period is used on every engine"),
            INT("num_envs", 64, 1, 8192, required=False, tip="Parallel environments."),
            INT("seed", 42, 0, 1_000_000, required=False, tip="Added to the run's seed."),
            COMBO("seed_control", ("fixed", "randomize", "increment", "decrement"),
                  required=False, unused="the seed is fixed: runs are reproducible"),
            BOOL("headless", True, required=False,
                 unused="simulators run headless; `runner.py record` shows a rollout"),
            INT("graphics_device_id", 0, 0, 7, required=False, unused=ISAAC_ONLY),
            STRING("sim_device", "cuda:0", required=False,
                   unused="simulation runs on the CPU; learning uses `train --device`"),
            COMBO("physics_engine", ("physx", "flex"), required=False, unused=ISAAC_ONLY),
            BOOL("multi_gpu", False, required=False, unused=ISAAC_ONLY),
            BOOL("enable_cameras", False, required=False, unused=ISAAC_ONLY),
            BOOL("force_render", False, required=False, unused=ISAAC_ONLY),
            BOOL("use_gpu_pipeline", True, required=False, unused=ISAAC_ONLY),
            INT("num_threads", 0, 0, 64, required=False, unused=ISAAC_ONLY),
            INT("solver_type", 1, 0, 2, required=False, unused=ISAAC_ONLY),
            INT("num_subscenes", 0, 0, 32, required=False, unused=ISAAC_ONLY),
            STRING("schema_display", "", required=False, unused="text the editor shows"),
        ),
        (out("env", "ISAAC_ENV_CONFIG_PYDICT"),),
        "robotics.env_config", aliases=("EnvConfig",), source="dnne", virtual=True,
        description="The simulated task and its settings, for a PPO Agent or a simulator.",
    ),
    NodeSpec(
        "IsaacGymSim", "Isaac Gym Simulator", "robotics",
        (
            link("env_config", "ISAAC_ENV_CONFIG_PYDICT", virtual=True,
                 tip="The task, from an Isaac Gym Environment Config node."),
            link("action", "*TENSOR", mode="any", tip="One action per step."),
            link("reset", "*TRIGGER", required=False, mode="any",
                 tip="Any message resets the episode."),
            BOOL("reset_when_done", True, required=False,
                 tip="Start a new episode when one ends."),
            BOOL("render", False, required=False,
                 unused="simulators run headless; `runner.py record` shows a rollout"),
            STRING("null_action", "", required=False,
                   tip="Comma-separated action of the bootstrap step (default: zeros)."),
            STRING("camera_position", "1.2, 1.2, 1.0", required=False,
                   unused="simulators run headless"),
            STRING("camera_target", "0.0, 0.0, 0.5", required=False,
                   unused="simulators run headless"),
        ),
        (out("observation", "SIM_OBSERVATION_TENSOR"), out("done", "SIM_DONE_TRIGGER")),
        "robotics.isaac_gym_sim", starts_cycle=True, source="dnne",
        description="Steps one environment per action; starts with a null-action step.",
    ),
)
