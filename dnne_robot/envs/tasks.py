"""What each task means, independent of the engine that simulates it.

One frozen dataclass per task holds the numbers every engine must agree on (masses, lengths,
control period, limits, horizon). The MJCF/URDF assets encode the same numbers, and
``tests/envs`` checks the compiled models against these constants. Spaces are built here once so
that every engine hands out equal ``observation_space`` / ``action_space`` objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gymnasium import spaces


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


def angle_normalize(x: float) -> float:
    """Wrap an angle to [-pi, pi), as Pendulum-v1 does before scoring it."""
    return ((x + math.pi) % (2 * math.pi)) - math.pi


def pendulum_cost(theta: float, theta_dot: float, u: float) -> float:
    """Pendulum-v1 cost of the state *before* the step and the clipped torque."""
    return angle_normalize(theta) ** 2 + 0.1 * theta_dot * theta_dot + 0.001 * u * u


@dataclass(frozen=True)
class ReachParams:
    """A planar two-link arm (horizontal plane, no gravity) reaching a random target."""

    link_length: float = 0.1
    link_mass: float = 0.1
    joint_damping: float = 0.01
    #: Torque in N m per unit of action.
    gear: float = 0.05
    dt: float = 0.02
    ctrl_cost: float = 0.01
    #: Initial joint angles are uniform in +-joint_reset (rad); joint velocities start at 0.
    joint_reset: float = 0.1
    #: The target is uniform over the annulus target_radius[0] < r < target_radius[1].
    target_radius: tuple[float, float] = (0.05, 0.19)
    max_episode_steps: int = 100
    #: Physics steps per control period on mujoco / pybullet (5 ms each).
    substeps: int = 4

    def observation_space(self) -> spaces.Box:
        """``[cos q1, cos q2, sin q1, sin q2, q1_dot, q2_dot, tx, ty, fx - tx, fy - ty]``."""
        return spaces.Box(-np.inf, np.inf, shape=(10,), dtype=np.float32)

    def action_space(self) -> spaces.Box:
        """Normalised joint torques; 1.0 is ``gear`` N m."""
        return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def sample_reset(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        """Draw ``(q1, q2, target_x, target_y)`` from ``rng`` with a fixed number of draws."""
        r_lo, r_hi = self.target_radius
        j = self.joint_reset
        q1, q2, r2, phi = rng.uniform(
            low=(-j, -j, r_lo * r_lo, -math.pi), high=(j, j, r_hi * r_hi, math.pi)
        ).tolist()
        r = math.sqrt(r2)
        return q1, q2, r * math.cos(phi), r * math.sin(phi)

    def observation(
        self, q: tuple[float, float], qdot: tuple[float, float], target: tuple[float, float]
    ) -> tuple[np.ndarray, float]:
        """The observation (layout in :meth:`observation_space`) and the tip-target distance.

        Every engine's Reach builds its observation here, so the layout cannot drift.
        """
        q1, q2 = q
        tx, ty = target
        cos, sin, length = math.cos, math.sin, self.link_length
        c1, s1 = cos(q1), sin(q1)
        dx = length * (c1 + cos(q1 + q2)) - tx
        dy = length * (s1 + sin(q1 + q2)) - ty
        obs = np.array(
            (c1, cos(q2), s1, sin(q2), qdot[0], qdot[1], tx, ty, dx, dy), dtype=np.float32
        )
        return obs, math.sqrt(dx * dx + dy * dy)

    def fingertip(self, q1: float, q2: float) -> tuple[float, float]:
        """Forward kinematics of the tip of link 2 (m)."""
        length = self.link_length
        return (
            length * (math.cos(q1) + math.cos(q1 + q2)),
            length * (math.sin(q1) + math.sin(q1 + q2)),
        )


CARTPOLE = CartPoleParams()
PENDULUM = PendulumParams()
REACH = ReachParams()


def cartpole_reset(rng: np.random.Generator) -> list[float]:
    """Initial ``[x, x_dot, theta, theta_dot]``, drawn exactly as CartPole-v1 draws it."""
    b = CARTPOLE.reset_bound
    return rng.uniform(low=-b, high=b, size=(4,)).tolist()


def pendulum_reset(rng: np.random.Generator) -> list[float]:
    """Initial ``[theta, theta_dot]``, drawn exactly as Pendulum-v1 draws it."""
    high = np.array(PENDULUM.reset_high)
    return rng.uniform(low=-high, high=high).tolist()


ASSET_DIR = Path(__file__).resolve().parent / "assets"


def asset_path(name: str) -> Path:
    """Absolute path of a bundled model file, e.g. ``asset_path("cartpole.xml")``."""
    return ASSET_DIR / name
