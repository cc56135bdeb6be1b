"""CartPole's hooks, on a physics with no engine behind it."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from dnne_robot.envs.tasks import CARTPOLE, CartPole

from ..physics.fake import FakePhysics


def test_reset_draws_as_cartpole_v1() -> None:
    task, physics = CartPole(), FakePhysics(2)
    task.initialize_episode(physics, np.random.default_rng(7))
    reference = CartPoleEnv()
    reference.np_random = np.random.default_rng(7)
    obs, _ = reference.reset()
    np.testing.assert_array_equal(task.get_observation(physics), obs)


def test_actions_push_with_force_mag() -> None:
    task, physics = CartPole(), FakePhysics(2)
    task.before_step(1, physics)
    assert physics.control == (CARTPOLE.force_mag,)
    task.before_step(np.int64(0), physics)
    assert physics.control == (-CARTPOLE.force_mag,)
    with pytest.raises(ValueError, match="0 or 1"):
        task.before_step(2, physics)


@pytest.mark.parametrize(
    ("x", "theta", "terminated"),
    [(0.0, 0.0, False), (2.41, 0.0, True), (-2.41, 0.0, True), (0.0, 0.21, True),
     (2.39, -0.2, False)],
)  # fmt: skip
def test_termination_and_reward(x: float, theta: float, terminated: bool) -> None:
    task, physics = CartPole(), FakePhysics(2)
    physics.reset((x, theta), (0.5, -0.5))
    assert task.get_termination(physics) is terminated
    assert task.get_reward(physics) == 1.0
    np.testing.assert_array_equal(
        task.get_observation(physics), np.array([x, 0.5, theta, -0.5], dtype=np.float32)
    )


def test_non_finite_state() -> None:
    task, physics = CartPole(), FakePhysics(2)
    physics.reset((0.0, 0.0), (np.nan, 0.0))
    assert not task.state_is_finite(physics)
