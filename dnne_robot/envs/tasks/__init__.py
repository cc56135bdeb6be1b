"""The tasks, each written once over the physics interface (dm_control's Task/Physics split).

One module per task holds the numbers every engine must agree on (a frozen ``*Params``
dataclass: masses, lengths, control period, limits, horizon) and the :class:`Task` that gives
them meaning: reset distribution, action, observation, reward, termination. The MJCF/URDF
assets encode the same numbers, and ``tests/envs`` checks the compiled models against these
constants. Spaces are built from the params, so every engine hands out equal spaces.
"""

from __future__ import annotations

from typing import Any

from ..errors import UnknownTaskError, did_you_mean
from .base import ASSET_DIR, Task, asset_path
from .cartpole import CARTPOLE, CartPole, CartPoleParams, cartpole_reset
from .franka import (
    CONTROL_TYPES,
    FRANKA,
    FRANKA_REACH,
    FrankaDNNE,
    FrankaParams,
    FrankaReach,
    FrankaReachParams,
)
from .model_file import ModelFile
from .pendulum import (
    PENDULUM,
    Pendulum,
    PendulumParams,
    angle_normalize,
    pendulum_cost,
    pendulum_reset,
)
from .reach import REACH, Reach, ReachParams

#: Every task class by name; ``TaskEnv(task="Reach", engine=...)`` looks them up here.
TASK_CLASSES: dict[str, type[Task]] = {
    cls.name: cls for cls in (CartPole, Pendulum, Reach, FrankaDNNE, FrankaReach, ModelFile)
}


def observation_fields(name: str, control_type: str | None = None) -> dict[str, tuple[int, int]]:
    """The named observation fields of task ``name`` (inclusive index ranges); a Franka task's
    depend on its ``control_type``."""
    cls = TASK_CLASSES.get(name)
    if cls is None:
        return {}
    if control_type is not None and issubclass(cls, FrankaDNNE):
        return cls.fields(control_type)
    return dict(cls.observation_fields)


def make_task(name: str, **options: Any) -> Task:
    """A new instance of the task called ``name`` (options go to its constructor)."""
    if name not in TASK_CLASSES:
        raise UnknownTaskError(
            f"unknown task {name!r}.{did_you_mean(name, TASK_CLASSES)}"
            f" Tasks: {', '.join(TASK_CLASSES)}."
        )
    return TASK_CLASSES[name](**options)


__all__ = [
    "ASSET_DIR",
    "CARTPOLE",
    "CONTROL_TYPES",
    "FRANKA",
    "FRANKA_REACH",
    "PENDULUM",
    "REACH",
    "TASK_CLASSES",
    "CartPole",
    "CartPoleParams",
    "FrankaDNNE",
    "FrankaParams",
    "FrankaReach",
    "FrankaReachParams",
    "ModelFile",
    "Pendulum",
    "PendulumParams",
    "Reach",
    "ReachParams",
    "Task",
    "angle_normalize",
    "asset_path",
    "cartpole_reset",
    "make_task",
    "observation_fields",
    "pendulum_cost",
    "pendulum_reset",
]
