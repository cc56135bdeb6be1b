"""Reach's hooks: a random target that is task state, markers, and the reward."""

from __future__ import annotations

import math

import numpy as np

from dnne_robot.envs.tasks import REACH, Reach

from ..physics.fake import FakePhysics


def test_target_is_drawn_in_the_annulus_and_kept_as_task_state() -> None:
    task, physics = Reach(), FakePhysics(2)
    rng = np.random.default_rng(0)
    for _ in range(50):
        task.initialize_episode(physics, rng)
        r = math.hypot(*task.target)
        assert REACH.target_radius[0] <= r <= REACH.target_radius[1]
        assert all(abs(q) <= REACH.joint_reset for q in physics.qpos)
        assert physics.qvel == (0.0, 0.0)
    tx, ty = task.target
    assert task.markers() == {"target": (tx, ty, 0.0)}
    assert task.get_state() == {"target": [tx, ty]}


def test_observation_and_reward_follow_the_target() -> None:
    task, physics = Reach(), FakePhysics(2)
    physics.reset((0.2, -0.4), (0.1, 0.3))
    task.before_step(np.array([2.0, -0.5], dtype=np.float32), physics)  # clipped to 1
    assert physics.control == (1.0, -0.5)
    for target in ((0.1, 0.05), (-0.12, 0.0)):
        task.set_state({"target": list(target)})
        obs = task.get_observation(physics)
        expected, dist = REACH.observation(physics.qpos, physics.qvel, target)
        np.testing.assert_array_equal(obs, expected)
        assert task.get_reward(physics) == -dist - REACH.ctrl_cost * (1.0 + 0.25)
