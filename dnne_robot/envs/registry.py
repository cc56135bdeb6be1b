"""Every environment this package provides, registered gymnasium style, in one place.

Ids read ``dnne/<Task>-<engine>-v0``. A task means the same thing on every engine that has it:
the same observation layout and units, action space, reward, termination, truncation and
control period (see ``docs/tasks.md``). The gymnasium rows alias the classic-control classes
themselves; the mujoco and pybullet rows are :class:`~.env.TaskEnv` (a task over that engine's
physics), imported only when made. Behaviour changes get a new version (``-v1`` beside
``-v0``), never an edit in place.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym

from .engines import ENGINES, check_engine
from .env import TaskEnv
from .errors import TaskNotOnEngineError, UnknownTaskError, did_you_mean

# "dnne_robot.envs" here, "framework.envs" inside an exported package.
_PKG = __name__.rpartition(".")[0]
#: Every task on a physics engine is a TaskEnv; importing it imports no engine (an export
#: copies the modules its registry imports, so this is an import, not an entry-point string).
_TASK_ENV = TaskEnv
_ID = re.compile(r"^dnne/(?P<task>\w+)-(?P<engine>\w+)-v(?P<version>\d+)$")

#: Every id registered by :func:`register_envs`, in registration order.
REGISTERED_IDS: list[str] = []


def _register(
    id: str,  # noqa: A002 - the name gymnasium.register uses
    entry_point: Any,
    max_episode_steps: int,
    reward_threshold: float | None = None,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """``gymnasium.register`` that skips an id that is already there (re-import safe)."""
    if id not in REGISTERED_IDS:
        REGISTERED_IDS.append(id)
    if id in gym.registry:
        return
    gym.register(
        id=id,
        entry_point=entry_point,
        max_episode_steps=max_episode_steps,
        reward_threshold=reward_threshold,
        kwargs=kwargs or {},
    )


# fmt: off
def register_envs() -> None:
    """Register every dnne environment. Called on ``import dnne_robot.envs``; idempotent."""
    # CartPole: CartPole-v1 physics and rules. Discrete(2) push of 10 N, dt 0.02 s, 500 steps.
    _register(id="dnne/CartPole-gymnasium-v0",
              entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
              max_episode_steps=500, reward_threshold=475.0)
    _register(id="dnne/CartPole-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=500, reward_threshold=475.0,
              kwargs={"task": "CartPole", "engine": "mujoco"})
    _register(id="dnne/CartPole-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=500, reward_threshold=475.0,
              kwargs={"task": "CartPole", "engine": "pybullet"})

    # Pendulum: Pendulum-v1 swing-up. Box(-2, 2) torque, dt 0.05 s, 200 steps, g = 10.
    _register(id="dnne/Pendulum-gymnasium-v0",
              entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv",
              max_episode_steps=200, kwargs={"g": 10.0})
    _register(id="dnne/Pendulum-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=200, kwargs={"task": "Pendulum", "engine": "mujoco"})
    _register(id="dnne/Pendulum-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=200, kwargs={"task": "Pendulum", "engine": "pybullet"})

    # Reach: planar two-link arm to a random target. Box(-1, 1)^2 torques, dt 0.02 s, 100 steps.
    _register(id="dnne/Reach-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=100, kwargs={"task": "Reach", "engine": "mujoco"})
    _register(id="dnne/Reach-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=100, kwargs={"task": "Reach", "engine": "pybullet"})

    # FrankaDNNE: DNNE's Franka Panda (Isaac Gym) reaching a random target. 7 actions (osc by
    # default; control_type="joint_tor"), dt 0.01667 s, done at 599 steps as DNNE's
    # progress_buf >= episodeLength - 1. No reward. FrankaReach: the same, with a reward.
    _register(id="dnne/FrankaDNNE-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=599, kwargs={"task": "FrankaDNNE", "engine": "mujoco"})
    _register(id="dnne/FrankaDNNE-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=599, kwargs={"task": "FrankaDNNE", "engine": "pybullet"})
    _register(id="dnne/FrankaReach-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=150, kwargs={"task": "FrankaReach", "engine": "mujoco"})
    _register(id="dnne/FrankaReach-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=150, kwargs={"task": "FrankaReach", "engine": "pybullet"})

    # Any model file: make_env("robot.xml", "mujoco") / make_env("robot.urdf", "pybullet").
    _register(id="dnne/ModelFile-mujoco-v0", entry_point=_TASK_ENV,
              max_episode_steps=1000, kwargs={"task": "ModelFile", "engine": "mujoco"})
    _register(id="dnne/ModelFile-pybullet-v0", entry_point=_TASK_ENV,
              max_episode_steps=1000, kwargs={"task": "ModelFile", "engine": "pybullet"})
# fmt: on


register_envs()

#: Ids of the generic model-file envs, by engine. They are not tasks.
MODEL_FILE_IDS: dict[str, str] = {
    "mujoco": "dnne/ModelFile-mujoco-v0",
    "pybullet": "dnne/ModelFile-pybullet-v0",
}

#: Task name -> engines that implement it, read off the registered ids.
TASK_ENGINES: dict[str, tuple[str, ...]] = {}
for _id in REGISTERED_IDS:
    _m = _ID.match(_id)
    if _m and _id not in MODEL_FILE_IDS.values():
        TASK_ENGINES[_m["task"]] = (*TASK_ENGINES.get(_m["task"], ()), _m["engine"])

TASKS: tuple[str, ...] = tuple(TASK_ENGINES)

#: Isaac Gym / Isaac Lab task names that have a real counterpart here. Their own observation
#: and action conventions differ; the alias picks our task, with our semantics.
ISAAC_TASKS: dict[str, str] = {
    "Cartpole": "CartPole",  # IsaacGymEnvs
    "Isaac-Cartpole-v0": "CartPole",  # Isaac Lab, manager-based
    "Isaac-Cartpole-Direct-v0": "CartPole",  # Isaac Lab, direct
    "FrankaDNNE": "FrankaDNNE",  # DNNE's IsaacGymEnvs task: the same name, the same semantics
}


def list_tasks() -> list[str]:
    """Names of every task, in registration order."""
    return list(TASKS)


def isaac_task(name: str) -> str:
    """Translate an Isaac task name to ours; ``UnknownTaskError`` lists the mapped ones."""
    if name in ISAAC_TASKS:
        return ISAAC_TASKS[name]
    raise UnknownTaskError(
        f"Isaac task {name!r} has no counterpart here.{did_you_mean(name, ISAAC_TASKS)}"
        f" Isaac tasks with a counterpart: {', '.join(ISAAC_TASKS)};"
        f" dnne tasks: {', '.join(TASKS)}."
    )


def resolve_task(name: str) -> str:
    """A dnne task name for ``name`` (a dnne name or an Isaac alias), else ``UnknownTaskError``."""
    if name in TASK_ENGINES:
        return name
    if name in ISAAC_TASKS:
        return ISAAC_TASKS[name]
    raise UnknownTaskError(
        f"unknown task {name!r}.{did_you_mean(name, [*TASKS, *ISAAC_TASKS])}"
        f" Tasks: {', '.join(TASKS)} (Isaac aliases: {', '.join(ISAAC_TASKS)})."
    )


def env_id(task: str, engine: str) -> str:
    """The registered id of ``task`` on ``engine``, e.g. ``env_id("Cartpole", "mujoco")``.

    Raises:
        UnknownTaskError: ``task`` is neither a dnne task nor a mapped Isaac task.
        UnknownEngineError: ``engine`` is not one of ``ENGINES``.
        TaskNotOnEngineError: the task exists but not on that engine.
    """
    check_engine(engine)
    name = resolve_task(task)
    if engine not in TASK_ENGINES[name]:
        raise TaskNotOnEngineError(
            f"task {name!r} is not available on engine {engine!r};"
            f" it exists on: {', '.join(TASK_ENGINES[name])}."
        )
    return f"dnne/{name}-{engine}-v0"


__all__ = [
    "ENGINES",
    "ISAAC_TASKS",
    "MODEL_FILE_IDS",
    "REGISTERED_IDS",
    "TASKS",
    "TASK_ENGINES",
    "env_id",
    "isaac_task",
    "list_tasks",
    "register_envs",
    "resolve_task",
]
