"""``TaskEnv``: one gymnasium env class for every task on every physics engine.

It joins a :class:`~.tasks.base.Task` (what the task means) and a
:class:`~.physics.base.Physics` (how an engine simulates it) and adds what every env shares:
seeding, the unstable-episode rule, state snapshots for ``envs/state.py``, rendering, ``dt``.
The registry makes one per id, e.g. ``dnne/Reach-pybullet-v0`` is
``TaskEnv(task="Reach", engine="pybullet")``. The engine's physics module is imported here, when
the env is made, never when ``envs`` is imported.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from .engines import check_engine
from .errors import StateNotSupportedError
from .physics import physics_class
from .stability import EndsUnstableEpisodes, UnstableStep
from .tasks import Task, make_task


class TaskEnv(EndsUnstableEpisodes, gym.Env[np.ndarray, Any]):
    """A :class:`Task` on one engine's :class:`Physics`.

    Args:
        task: a task name (``"CartPole"``, ``"ModelFile"``, ...) or a Task instance.
        engine: an engine with a physics module (``"mujoco"``, ``"pybullet"``).
        render_mode: None or ``"rgb_array"``.
        width, height: frame size in pixels (MuJoCo caps them at the model's offscreen size).
        camera: overrides the task's camera (an MJCF camera name, or PyBullet's
            ``(eye, target, up)``).
        **options: passed to the task's constructor (``model_path=...`` for ``ModelFile``).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        task: str | Task,
        engine: str,
        *,
        render_mode: str | None = None,
        width: int = 400,
        height: int = 300,
        camera: Any = None,
        **options: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if isinstance(task, str):
            task = make_task(task, **options)
        elif options:
            raise TypeError(f"options {sorted(options)} go to a task by name, not an instance")
        self.engine = check_engine(engine)
        self.task = task
        cls = physics_class(engine)
        self.physics = physics = cls(task.model(engine), width=width, height=height, camera=camera)
        try:
            task.setup(physics)
        except BaseException:
            physics.close()
            raise
        self.observation_space = task.observation_space
        self.action_space = task.action_space
        self.dt = physics.dt
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.dt)}
        self.render_mode = render_mode
        self.unstable_count = 0
        self._obs_size = int(np.prod(self.observation_space.shape))
        # Bound once: step() is the hot path (a few microseconds of physics per call). The
        # base class's after_step and get_termination do nothing, so they are not called.
        self._before_step = task.before_step
        self._physics_step = physics.step
        self._state_is_finite = task.state_is_finite
        self._after_step = None if type(task).after_step is Task.after_step else task.after_step
        self._get_observation = task.get_observation
        self._get_reward = task.get_reward
        self._get_termination = (
            None if type(task).get_termination is Task.get_termination else task.get_termination
        )
        self._get_info = None if type(task).get_info is Task.get_info else task.get_info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.task.initialize_episode(self.physics, self.np_random)
        return self.task.get_observation(self.physics), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        physics = self.physics
        try:
            self._before_step(action, physics)
        except UnstableStep:
            return self._unstable(self._obs_size)
        self._physics_step()
        if not self._state_is_finite(physics):
            return self._unstable(self._obs_size)
        if self._after_step is not None:
            self._after_step(physics)
        obs = self._get_observation(physics)
        reward = self._get_reward(physics)
        terminated = self._get_termination is not None and self._get_termination(physics)
        info = {} if self._get_info is None else self._get_info(physics)
        return obs, reward, terminated, False, info

    def _unstable_label(self) -> str:
        return f"{self.task.name} on {self.engine}"

    def render(self) -> np.ndarray | None:
        """An RGB frame ``(height, width, 3)`` when ``render_mode="rgb_array"``, else None."""
        if self.render_mode != "rgb_array":
            return None
        return self.physics.render(self.task.markers())

    def close(self) -> None:
        self.physics.close()

    # -- state snapshots -------------------------------------------------------------------
    def capture_sim_state(self) -> dict[str, Any]:
        """The physics' snapshot plus the task's own state (and name, checked on restore)."""
        task = self.task
        return {**self.physics.capture(), "task_name": task.name, "task": task.get_state()}

    def restore_sim_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture_sim_state`."""
        where = f"{self.task.name} on {self.engine}"
        if state.get("task_name") != self.task.name:
            raise StateNotSupportedError(
                f"{where}: the saved state is of task {state.get('task_name')!r}"
            )
        try:
            self.physics.restore(state)
        except StateNotSupportedError as err:
            raise StateNotSupportedError(f"{where}: {err}") from err
        self.task.set_state(state["task"])
