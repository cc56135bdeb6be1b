"""Pendulum's hooks: scored before the step, velocity clipped after it."""

from __future__ import annotations

import numpy as np
import pytest

from dnne_robot.envs import engine_installed
from dnne_robot.envs.physics import physics_class
from dnne_robot.envs.tasks import PENDULUM, Pendulum, pendulum_cost

from ..physics.fake import FakePhysics


def test_reward_scores_the_state_before_the_step() -> None:
    task, physics = Pendulum(), FakePhysics(1)
    physics.reset((3.0,), (0.5,))
    task.before_step(np.array([5.0], dtype=np.float32), physics)  # clipped to 2
    assert physics.control == (2.0,)
    physics.step()
    assert task.get_reward(physics) == -pendulum_cost(3.0, 0.5, 2.0)


def test_nan_torque_is_not_finite() -> None:
    task, physics = Pendulum(), FakePhysics(1)
    task.before_step(np.array([np.nan]), physics)
    assert not task.state_is_finite(physics)


@pytest.mark.parametrize("engine", ["fake", "mujoco", "pybullet"])
def test_velocity_clip_after_the_step(engine: str) -> None:
    task = Pendulum()
    if engine == "fake":
        physics = FakePhysics(1)
    elif not engine_installed(engine):
        pytest.skip(f"no {engine}")
    else:
        physics = physics_class(engine)(task.model(engine))
    physics.reset((0.3,), (20.0,))
    task.after_step(physics)
    assert physics.qvel == pytest.approx([PENDULUM.max_speed])
    assert physics.qpos == pytest.approx([0.3])
    physics.reset((0.3,), (-20.0,))
    task.after_step(physics)
    assert physics.qvel[0] == -PENDULUM.max_speed
    before = physics.qvel
    task.after_step(physics)  # within the limit: untouched
    assert physics.qvel is before
    physics.close()
