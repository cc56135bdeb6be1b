"""ModelFile: the generic model-file env as a task over any physics."""

from __future__ import annotations

import numpy as np
import pytest

from dnne_robot.envs import ModelFileError
from dnne_robot.envs.stability import UnstableStep
from dnne_robot.envs.tasks import ModelFile, asset_path

from ..physics.fake import FakePhysics


def test_needs_a_model_path() -> None:
    with pytest.raises(ModelFileError, match="model_path"):
        ModelFile()


def test_spaces_and_reset_come_from_the_physics() -> None:
    task, physics = ModelFile(asset_path("reach.xml"), torque_limit=3.0), FakePhysics(2, (0, 1))
    task.setup(physics)
    assert task.action_space.shape == (2,) and task.action_space.high.tolist() == [3.0, 3.0]
    assert task.observation_space.shape == (4,)
    task.initialize_episode(physics, np.random.default_rng(0))
    assert max(abs(v) for v in (*physics.qpos, *physics.qvel)) <= 0.01
    np.testing.assert_array_equal(
        task.get_observation(physics), physics.state_vector().astype(np.float32)
    )


def test_nan_action_never_reaches_the_physics() -> None:
    task, physics = ModelFile("robot.urdf"), FakePhysics(2, (0, 1))
    task.setup(physics)
    with pytest.raises(UnstableStep):
        task.before_step(np.array([np.nan, 0.0]), physics)
    assert "set_control" not in physics.calls
    task.before_step(np.array([5.0, -5.0]), physics)
    assert physics.control == (1.0, -1.0)


def test_model_spec_carries_the_options() -> None:
    spec = ModelFile("r2d2.urdf", frame_skip=3, fixed_base=False, gravity=1.6).model("pybullet")
    assert (spec.substeps, spec.fixed_base, spec.gravity, spec.damped) == (3, False, 1.6, True)
    assert spec.camera is not None
    assert ModelFile("robot.xml").model("mujoco").camera is None
