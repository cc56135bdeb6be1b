"""Reach: a planar two-link arm reaching a random target, on any physics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from ..physics.base import ModelSpec, Physics, Position
from .base import Task, asset_path

_isfinite = math.isfinite
_cos = math.cos
_sin = math.sin
_sqrt = math.sqrt


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
        """The observation (layout in :meth:`observation_space`) and the tip-target distance."""
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


REACH = ReachParams()


class Reach(Task):
    """Joints: shoulder then elbow, both actuated with ``gear`` N m per unit of action.

    Reward: ``-|tip - target| - ctrl_cost * |a|^2`` after the step; never terminates. The
    target is task state: drawn at reset, saved in checkpoints, drawn as a marker.
    """

    name = "Reach"
    observation_fields = {"cos_q": (0, 1), "sin_q": (2, 3), "q_dot": (4, 5), "target_pos": (6, 7),
                          "tip_to_target": (8, 9)}
    models = {
        "mujoco": ModelSpec(asset_path("reach.xml"), REACH.substeps, camera="top"),
        "pybullet": ModelSpec(
            asset_path("reach.urdf"),
            REACH.substeps,
            timestep=REACH.dt / REACH.substeps,
            gravity=0.0,
            gear=(REACH.gear, REACH.gear),
            damped=True,
            camera=((0.0, 0.0, 0.6), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
        ),
    }

    def __init__(self, params: ReachParams = REACH) -> None:
        self.params = params
        self.observation_space = params.observation_space()
        self.action_space = params.action_space()
        self._length = params.link_length
        self._ctrl_cost = params.ctrl_cost
        self.target = (0.0, 0.0)
        self._a = (0.0, 0.0)
        # Tip-to-target (dx, dy, distance), memoised on the qpos list and target it came from.
        self._tip_key: tuple[Any, Any] = (None, None)
        self._tip = (0.0, 0.0, 0.0)

    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        q1, q2, tx, ty = self.params.sample_reset(random)
        self.target = (tx, ty)
        physics.reset((q1, q2), (0.0, 0.0))

    def before_step(self, action: Any, physics: Physics) -> None:
        a0, a1 = action.tolist() if isinstance(action, np.ndarray) else action
        a0 = -1.0 if a0 < -1.0 else 1.0 if a0 > 1.0 else float(a0)
        a1 = -1.0 if a1 < -1.0 else 1.0 if a1 > 1.0 else float(a1)
        self._a = a = (a0, a1)
        physics.set_control(a)

    def state_is_finite(self, physics: Physics) -> bool:
        q1, q2 = physics.qpos
        w1, w2 = physics.qvel
        a0, a1 = self._a
        return _isfinite(q1 + q2 + w1 + w2 + a0 + a1)

    def _tip_error(self, physics: Physics) -> tuple[float, float, float]:
        """``(tip_x - tx, tip_y - ty, distance)`` for the current joint angles."""
        q, target = physics.qpos, self.target
        key = self._tip_key
        if q is not key[0] or target is not key[1]:
            q1, q2 = q
            tx, ty = target
            length = self._length
            dx = length * (_cos(q1) + _cos(q1 + q2)) - tx
            dy = length * (_sin(q1) + _sin(q1 + q2)) - ty
            self._tip = (dx, dy, _sqrt(dx * dx + dy * dy))
            self._tip_key = (q, target)
        return self._tip

    def get_observation(self, physics: Physics) -> np.ndarray:
        q1, q2 = physics.qpos
        w1, w2 = physics.qvel
        tx, ty = self.target
        dx, dy, _ = self._tip_error(physics)
        return np.array(
            (_cos(q1), _cos(q2), _sin(q1), _sin(q2), w1, w2, tx, ty, dx, dy), dtype=np.float32
        )

    def get_reward(self, physics: Physics) -> float:
        a0, a1 = self._a
        return -self._tip_error(physics)[2] - self._ctrl_cost * (a0 * a0 + a1 * a1)

    def markers(self) -> dict[str, Position]:
        tx, ty = self.target
        return {"target": (tx, ty, 0.0)}

    def get_state(self) -> dict[str, Any]:
        return {"target": list(self.target)}

    def set_state(self, state: dict[str, Any]) -> None:
        tx, ty = state["target"]
        self.target = (float(tx), float(ty))
