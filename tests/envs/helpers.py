"""Shared bits of the envs tests: kwargs for the model-file ids, scripted controllers."""

from __future__ import annotations

from typing import Any

import numpy as np

from dnne_robot.envs import MODEL_FILE_IDS
from dnne_robot.envs.tasks import asset_path

#: Extra kwargs the registry walk passes to ids that need them.
MODEL_KWARGS: dict[str, dict[str, Any]] = {
    MODEL_FILE_IDS["mujoco"]: {"model_path": str(asset_path("reach.xml"))},
    MODEL_FILE_IDS["pybullet"]: {"model_path": str(asset_path("reach.urdf"))},
}


def cartpole_pd(obs: np.ndarray) -> np.ndarray:
    """Push right (1) when the pole leans or falls right, with small cart-centering terms.

    Moving the cart back to the middle needs the pole leaned toward the middle first, so the
    x terms push *away* from the middle (the non-minimum-phase trick).
    """
    x, x_dot, theta, theta_dot = obs.T
    return (theta + 0.5 * theta_dot + 0.1 * x + 0.2 * x_dot > 0).astype(np.int64)


def cartpole_wrong_sign(obs: np.ndarray) -> np.ndarray:
    """The same controller with the sign flipped: must drop the pole on every engine."""
    return 1 - cartpole_pd(obs)


def pendulum_swing_up(obs: np.ndarray) -> np.ndarray:
    """Energy pumping far from the top, PD near it: swings Pendulum-v1 up (return about -130)."""
    cos, sin, theta_dot = obs.T
    theta = np.arctan2(sin, cos)
    energy = theta_dot**2 / 6.0 + 5.0 * cos  # I = m l^2 / 3, m g l / 2 = 5; 5 is upright at rest
    pump = (5.0 - energy) * np.sign(theta_dot + 1e-6)
    pd = -10.0 * theta - 2.0 * theta_dot
    return np.clip(np.where(cos > 0.85, pd, pump), -2.0, 2.0)[:, None].astype(np.float32)


def reach_jacobian(obs: np.ndarray) -> np.ndarray:
    """Torque along J^T (target - fingertip), with joint damping (return about -6 vs -26 idle)."""
    c1, c2, s1, s2, w1, w2, tx, ty, dx, dy = obs.T
    length = 0.1
    s12 = s1 * c2 + c1 * s2
    c12 = c1 * c2 - s1 * s2
    j11, j12 = -length * (s1 + s12), -length * s12
    j21, j22 = length * (c1 + c12), length * c12
    ex, ey = -dx, -dy
    a = np.stack(
        [200.0 * (j11 * ex + j21 * ey) - 0.3 * w1, 200.0 * (j12 * ex + j22 * ey) - 0.3 * w2], 1
    )
    return np.clip(a, -1.0, 1.0).astype(np.float32)


def franka_still(obs: np.ndarray) -> np.ndarray:
    """FrankaDNNE's null action: no torque, no end-effector delta, gripper open."""
    a = np.zeros((len(obs), 7), dtype=np.float32)
    a[:, 6] = 1.0
    return a


def franka_osc_reach(obs: np.ndarray) -> np.ndarray:
    """An osc action toward the target: the grip site's position error over 0.1 m, clipped."""
    a = franka_still(obs)
    a[:, :3] = np.clip((obs[:, 0:3] - obs[:, 3:6]) / 0.1, -1.0, 1.0)
    return a


def assert_plain(value: Any, where: str = "state") -> None:
    """Only dict/list/str/int/float/bool/None, all the way down."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), where
            assert_plain(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_plain(v, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), (where, type(value))
