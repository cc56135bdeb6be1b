"""Simulators for dnne-robot: one task, three engines.

Tasks (``CartPole``, ``Pendulum``, ``Reach``) mean the same thing on every engine that has them
(``gymnasium``, ``mujoco``, ``pybullet``): same observation layout and units, action space,
reward, termination, truncation and control period. See ``docs/tasks.md``.

    from dnne_robot.envs import make_env
    vec = make_env("CartPole", "pybullet", num_envs=8, seed=0)
    obs, info = vec.reset()

Each task is written once (``tasks/``: reset, action, observation, reward, termination) over a
small physics interface (``physics/base.py``) that each engine implements in its own module
(``physics/mujoco.py``, ``physics/pybullet.py``); ``TaskEnv`` (``env.py``) joins the two into a
gymnasium env. The engines are declared once, as data, in ``engines.py`` (:data:`ENGINE_SPECS`).

This package is copied verbatim into every exported project (as ``framework/envs``), possibly
without the physics modules of engines the export does not use: it imports only the standard
library, numpy and gymnasium at import time; mujoco and pybullet are imported by their physics
module, when an env on that engine is made, and imageio by ``record_rollout``.
"""

from __future__ import annotations

from .engines import (
    ENGINE_SPECS,
    ENGINES,
    PIP_INSTALL,
    Engine,
    check_engine,
    engine_installed,
    get_engine,
    physics_available,
    prefer_headless_gl,
)
from .errors import (
    EngineNotExportedError,
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
from .make import make_env, required_engines, resolve_spec
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
from .tasks import observation_fields

# Headless machines: let MuJoCo pick EGL before anything imports it (no-op with a display).
prefer_headless_gl()

__all__ = [
    "ENGINES",
    "ENGINE_SPECS",
    "ISAAC_TASKS",
    "MODEL_FILE_IDS",
    "PIP_INSTALL",
    "REGISTERED_IDS",
    "TASKS",
    "TASK_ENGINES",
    "Engine",
    "EngineNotExportedError",
    "EngineNotInstalledError",
    "EnvError",
    "ModelFileError",
    "RenderUnavailableError",
    "StateNotSupportedError",
    "TaskNotOnEngineError",
    "UnknownEngineError",
    "UnknownTaskError",
    "capture_state",
    "check_engine",
    "engine_installed",
    "env_id",
    "evaluate_policy",
    "format_table",
    "get_engine",
    "isaac_task",
    "list_tasks",
    "observation_fields",
    "make_env",
    "physics_available",
    "record_rollout",
    "register_envs",
    "required_engines",
    "resolve_spec",
    "restore_state",
    "sim_to_sim_table",
]
