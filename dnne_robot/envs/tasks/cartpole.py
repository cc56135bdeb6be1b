"""CartPole: CartPole-v1's system and rules, on any physics (gymnasium runs its own class)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from ..physics.base import ModelSpec, Physics
from .base import Task, asset_path

_isfinite = math.isfinite


@dataclass(frozen=True)
class CartPoleParams:
    """The CartPole-v1 system: a cart on a frictionless rail with a uniform pole on a hinge."""

    gravity: float = 9.8
    cart_mass: float = 1.0
    pole_mass: float = 0.1
    pole_half_length: float = 0.5
    force_mag: float = 10.0
    dt: float = 0.02
    x_threshold: float = 2.4
    theta_threshold: float = 12 * 2 * math.pi / 360
    reset_bound: float = 0.05
    max_episode_steps: int = 500
    #: Physics steps per control period on mujoco / pybullet (5 ms each).
    substeps: int = 4

    def observation_space(self) -> spaces.Box:
        """``[x, x_dot, theta, theta_dot]``, bounded like CartPole-v1."""
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold * 2, np.inf], dtype=np.float32
        )
        return spaces.Box(-high, high, dtype=np.float32)

    def action_space(self) -> spaces.Discrete:
        """0 pushes the cart toward -x, 1 toward +x, with ``force_mag`` newtons."""
        return spaces.Discrete(2)


CARTPOLE = CartPoleParams()


def cartpole_reset(rng: np.random.Generator) -> list[float]:
    """Initial ``[x, x_dot, theta, theta_dot]``, drawn exactly as CartPole-v1 draws it."""
    b = CARTPOLE.reset_bound
    return rng.uniform(low=-b, high=b, size=(4,)).tolist()


class CartPole(Task):
    """Joints: the cart's slider (x, actuated) then the pole's hinge (theta).

    Action 1 pushes +``force_mag`` N along x, 0 pushes -``force_mag``; reward 1 every step;
    terminates when ``|x| > x_threshold`` or ``|theta| > theta_threshold``.
    """

    name = "CartPole"
    observation_fields = {"cart_position": (0, 0), "cart_velocity": (1, 1), "pole_angle": (2, 2),
                          "pole_angular_velocity": (3, 3)}
    models = {
        "mujoco": ModelSpec(asset_path("cartpole.xml"), CARTPOLE.substeps, camera="track"),
        "pybullet": ModelSpec(
            asset_path("cartpole.urdf"),
            CARTPOLE.substeps,
            timestep=CARTPOLE.dt / CARTPOLE.substeps,
            gravity=CARTPOLE.gravity,
            actuated=(0,),  # the slider; the hinge is free
            camera=((0.0, -4.5, 0.6), (0.0, 0.0, 0.6), (0.0, 0.0, 1.0)),
        ),
    }

    def __init__(self, params: CartPoleParams = CARTPOLE) -> None:
        self.params = params
        self.observation_space = params.observation_space()
        self.action_space = params.action_space()
        self._push = (params.force_mag,)
        self._pull = (-params.force_mag,)
        self._x_limit = params.x_threshold
        self._theta_limit = params.theta_threshold

    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        x, x_dot, theta, theta_dot = cartpole_reset(random)
        physics.reset((x, theta), (x_dot, theta_dot))

    def before_step(self, action: Any, physics: Physics) -> None:
        if action == 1:
            physics.set_control(self._push)
        elif action == 0:
            physics.set_control(self._pull)
        else:
            raise ValueError(f"CartPole action must be 0 or 1, got {action!r}")

    def state_is_finite(self, physics: Physics) -> bool:
        x, theta = physics.qpos
        x_dot, theta_dot = physics.qvel
        return _isfinite(x + x_dot + theta + theta_dot)

    def get_observation(self, physics: Physics) -> np.ndarray:
        x, theta = physics.qpos
        x_dot, theta_dot = physics.qvel
        return np.array((x, x_dot, theta, theta_dot), dtype=np.float32)

    def get_reward(self, physics: Physics) -> float:
        return 1.0

    def get_termination(self, physics: Physics) -> bool:
        x, theta = physics.qpos
        xl, tl = self._x_limit, self._theta_limit
        return x < -xl or x > xl or theta < -tl or theta > tl
