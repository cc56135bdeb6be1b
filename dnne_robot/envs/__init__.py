"""Simulators for dnne-robot: one task, three engines.

Tasks (``CartPole``, ``Pendulum``, ``Reach``) mean the same thing on every engine that has them
(``gymnasium``, ``mujoco``, ``pybullet``): same observation layout and units, action space,
reward, termination, truncation and control period. See ``docs/tasks.md``.

    from dnne_robot.envs import make_env
    vec = make_env("CartPole", "pybullet", num_envs=8, seed=0)
    obs, info = vec.reset()

This package is copied verbatim into every exported project (as ``framework/envs``): it imports
only the standard library, numpy and gymnasium at import time; mujoco, pybullet and imageio are
imported inside the adapters that need them.
"""

from __future__ import annotations

from .engines import ENGINES, PIP_INSTALL, engine_installed, prefer_headless_gl
from .errors import (
    EngineNotInstalledError,
    EnvError,
    ModelFileError,
    RenderUnavailableError,
    StateNotSupportedError,
    TaskNotOnEngineError,
    UnknownEngineError,
    UnknownTaskError,
)
from .evaluate import evaluate_policy, format_table, sim_to_sim_table
from .make import make_env, resolve_spec
from .record import record_rollout
from .registry import (
    ISAAC_TASKS,
    MODEL_FILE_IDS,
    REGISTERED_IDS,
    TASK_ENGINES,
    TASKS,
    env_id,
    isaac_task,
    list_tasks,
    register_envs,
)
from .state import capture_state, restore_state

# Headless machines: let MuJoCo pick EGL before anything imports it (no-op with a display).
prefer_headless_gl()

__all__ = [
    "ENGINES",
    "ISAAC_TASKS",
    "MODEL_FILE_IDS",
    "PIP_INSTALL",
    "REGISTERED_IDS",
    "TASKS",
    "TASK_ENGINES",
    "EngineNotInstalledError",
    "EnvError",
    "ModelFileError",
    "RenderUnavailableError",
    "StateNotSupportedError",
    "TaskNotOnEngineError",
    "UnknownEngineError",
    "UnknownTaskError",
    "capture_state",
    "engine_installed",
    "env_id",
    "evaluate_policy",
    "format_table",
    "isaac_task",
    "list_tasks",
    "make_env",
    "record_rollout",
    "register_envs",
    "resolve_spec",
    "restore_state",
    "sim_to_sim_table",
]
