"""ModelFile: the generic env around any model file (``make_env("robot.xml", "mujoco")``).

Not a task in the registry's sense (nothing to solve): reward 0, never terminates, the horizon
comes from the TimeLimit. It is still written once over :class:`Physics`; what differs between
engines is what each physics calls its state and its controls (see ``Physics.state_vector`` and
``Physics.control_bounds``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces

from ..errors import ModelFileError
from ..physics.base import ModelSpec, Physics
from ..stability import UnstableStep
from .base import Task


class ModelFile(Task):
    """Observation: ``physics.state_vector()`` as float32. Action: the physics' controls.

    Reset: the model's reference joint positions plus uniform noise of ``reset_noise``, and
    velocities of the same noise. ``frame_skip`` defaults to about 20 ms of an MJCF's timestep,
    and to 4 (of ``timestep``, 5 ms by default) for a URDF. The
    URDF-only options (``fixed_base``, ``base_position``, ``timestep``, ``gravity``, ``ground``)
    are refused for an MJCF, which states them itself.
    """

    name = "ModelFile"
    #: Where to look from, by engine; an MJCF names its own cameras.
    cameras = {"pybullet": ((1.5, -1.5, 1.2), (0.0, 0.0, 0.3), (0.0, 0.0, 1.0))}

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        frame_skip: int | None = None,
        reset_noise: float = 0.01,
        torque_limit: float | None = None,
        fixed_base: bool = True,
        base_position: tuple[float, float, float] | None = None,
        timestep: float | None = None,
        gravity: float | None = None,
        ground: bool | None = None,
    ) -> None:
        if model_path is None:
            raise ModelFileError(
                "the generic model-file env needs model_path=<an MJCF .xml file (mujoco) "
                "or a .urdf file (pybullet)>"
            )
        self.model_path = model_path
        self.reset_noise = float(reset_noise)
        self.torque_limit = torque_limit
        self._options: dict[str, Any] = {
            "substeps": frame_skip,
            "timestep": timestep,
            "gravity": gravity,
            "fixed_base": fixed_base,
            "base_position": base_position,
            "ground": ground,
        }
        self._low = self._high = np.zeros(0)

    def model(self, engine: str) -> ModelSpec:
        # URDF joints are often damped: torques go in before every physics step.
        return ModelSpec(
            self.model_path, damped=True, camera=self.cameras.get(engine), **self._options
        )

    def setup(self, physics: Physics) -> None:
        self._low, self._high = physics.control_bounds(self.torque_limit)
        self.action_space = spaces.Box(self._low.astype(np.float32), self._high.astype(np.float32))
        n = physics.state_vector().size
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)

    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        n = self.reset_noise
        qpos = physics.initial_qpos() + random.uniform(-n, n, size=physics.nq)
        qvel = random.uniform(-n, n, size=physics.nv)
        physics.reset(qpos, qvel)

    def before_step(self, action: Any, physics: Physics) -> None:
        a = np.clip(np.asarray(action, dtype=np.float64), self._low, self._high)
        if not np.isfinite(a).all():
            raise UnstableStep  # a NaN control never reaches the engine
        physics.set_control(a.tolist())

    def state_is_finite(self, physics: Physics) -> bool:
        return bool(np.isfinite(self.get_observation(physics)).all())

    def get_observation(self, physics: Physics) -> np.ndarray:
        return physics.state_vector().astype(np.float32)

    def get_reward(self, physics: Physics) -> float:
        return 0.0
