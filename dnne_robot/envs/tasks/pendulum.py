"""Pendulum: Pendulum-v1's swing-up, on any physics (gymnasium runs its own class)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from ..physics.base import ModelSpec, Physics
from .base import Task, asset_path

_isfinite = math.isfinite
_cos = math.cos
_sin = math.sin
_pi = math.pi
_two_pi = 2 * math.pi


@dataclass(frozen=True)
class PendulumParams:
    """The Pendulum-v1 system: a uniform rod on a hinge at one end, theta = 0 upright."""

    gravity: float = 10.0
    mass: float = 1.0
    length: float = 1.0
    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    reset_high: tuple[float, float] = (math.pi, 1.0)
    max_episode_steps: int = 200
    #: Physics steps per control period on mujoco / pybullet (10 ms each).
    substeps: int = 5

    def observation_space(self) -> spaces.Box:
        """``[cos theta, sin theta, theta_dot]``, bounded like Pendulum-v1."""
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        return spaces.Box(low=-high, high=high, dtype=np.float32)

    def action_space(self) -> spaces.Box:
        """The hinge torque in N m."""
        return spaces.Box(low=-self.max_torque, high=self.max_torque, shape=(1,), dtype=np.float32)


PENDULUM = PendulumParams()


def angle_normalize(x: float) -> float:
    """Wrap an angle to [-pi, pi), as Pendulum-v1 does before scoring it."""
    return ((x + math.pi) % (2 * math.pi)) - math.pi


def pendulum_cost(theta: float, theta_dot: float, u: float) -> float:
    """Pendulum-v1 cost of the state *before* the step and the clipped torque."""
    return angle_normalize(theta) ** 2 + 0.1 * theta_dot * theta_dot + 0.001 * u * u


def pendulum_reset(rng: np.random.Generator) -> list[float]:
    """Initial ``[theta, theta_dot]``, drawn exactly as Pendulum-v1 draws it."""
    high = np.array(PENDULUM.reset_high)
    return rng.uniform(low=-high, high=high).tolist()


class Pendulum(Task):
    """One joint, the hinge (theta = 0 upright), actuated with the clipped torque.

    Pendulum-v1 scores the state *before* the step (``before_step`` computes the reward) and
    clips the velocity to ``max_speed`` *after* it (``after_step``). Never terminates.
    """

    name = "Pendulum"
    observation_fields = {"cos_theta": (0, 0), "sin_theta": (1, 1), "theta_dot": (2, 2)}
    models = {
        "mujoco": ModelSpec(asset_path("pendulum.xml"), PENDULUM.substeps, camera="front"),
        "pybullet": ModelSpec(
            asset_path("pendulum.urdf"),
            PENDULUM.substeps,
            timestep=PENDULUM.dt / PENDULUM.substeps,
            gravity=PENDULUM.gravity,
            camera=((0.0, -3.5, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
        ),
    }

    def __init__(self, params: PendulumParams = PENDULUM) -> None:
        self.params = params
        self.observation_space = params.observation_space()
        self.action_space = params.action_space()
        self._max_torque = params.max_torque
        self._max_speed = params.max_speed
        self._u = 0.0
        self._reward = 0.0

    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        theta, theta_dot = pendulum_reset(random)
        physics.reset((theta,), (theta_dot,))

    def before_step(self, action: Any, physics: Physics) -> None:
        u = float(action[0])
        mt = self._max_torque
        u = -mt if u < -mt else mt if u > mt else u
        (theta,) = physics.qpos
        (theta_dot,) = physics.qvel
        # pendulum_cost, inlined: the state before the step is what Pendulum-v1 scores.
        th = ((theta + _pi) % _two_pi) - _pi
        self._reward = -(th * th + 0.1 * theta_dot * theta_dot + 0.001 * u * u)
        self._u = u
        physics.set_control((u,))

    def state_is_finite(self, physics: Physics) -> bool:
        (theta,) = physics.qpos
        (theta_dot,) = physics.qvel
        return _isfinite(theta + theta_dot + self._u)

    def after_step(self, physics: Physics) -> None:
        (theta_dot,) = physics.qvel
        ms = self._max_speed
        if theta_dot > ms or theta_dot < -ms:
            physics.set_joint_velocity(0, ms if theta_dot > ms else -ms)

    def get_observation(self, physics: Physics) -> np.ndarray:
        (theta,) = physics.qpos
        (theta_dot,) = physics.qvel
        return np.array((_cos(theta), _sin(theta), theta_dot), dtype=np.float32)

    def get_reward(self, physics: Physics) -> float:
        return self._reward
