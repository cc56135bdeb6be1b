"""The PyBullet physics: torque control, per-substep calls for damped joints, markers."""

from __future__ import annotations

import numpy as np
import pytest

from dnne_robot.envs import ModelFileError
from dnne_robot.envs.physics.base import ModelSpec
from dnne_robot.envs.tasks import CARTPOLE, REACH, CartPole, Reach, asset_path

p = pytest.importorskip("pybullet")

from dnne_robot.envs.physics.pybullet import PyBulletPhysics  # noqa: E402


def _engine_parameters(physics: PyBulletPhysics) -> dict:
    return p.getPhysicsEngineParameters(physicsClientId=physics.client)


def test_undamped_model_runs_a_period_as_one_call_with_substeps() -> None:
    physics = PyBulletPhysics(CartPole().model("pybullet"))
    params = _engine_parameters(physics)
    assert params["numSubSteps"] == CARTPOLE.substeps
    assert params["fixedTimeStep"] == pytest.approx(CARTPOLE.dt)
    assert physics.actuated == (0,)  # the slider only; the hinge swings free


def test_damped_model_steps_once_per_substep_with_torques_each_time() -> None:
    """Same result as a hand-written loop that re-applies the torques before every step."""
    physics = PyBulletPhysics(Reach().model("pybullet"))
    assert _engine_parameters(physics)["numSubSteps"] == 0 and physics.substep_calls
    physics.reset((0.1, -0.2), (0.0, 0.0))
    physics.set_control((1.0, -1.0))
    physics.step()
    by_hand = PyBulletPhysics(Reach().model("pybullet"))
    by_hand.reset((0.1, -0.2), (0.0, 0.0))
    body, joints, cid = by_hand.body, by_hand.joints, by_hand.client
    for _ in range(REACH.substeps):
        forces = [REACH.gear, -REACH.gear]
        p.setJointMotorControlArray(
            body, joints, p.TORQUE_CONTROL, forces=forces, physicsClientId=cid
        )
        p.stepSimulation(physicsClientId=cid)
    states = p.getJointStates(body, joints, physicsClientId=cid)
    assert list(physics.qpos) == [s[0] for s in states]
    assert list(physics.qvel) == [s[1] for s in states]


def test_marker_is_created_on_first_render_only() -> None:
    physics = PyBulletPhysics(Reach().model("pybullet"))
    bodies = p.getNumBodies(physicsClientId=physics.client)
    physics.reset((0.0, 0.0), (0.0, 0.0))
    physics.step()
    assert p.getNumBodies(physicsClientId=physics.client) == bodies
    physics.render({"target": (0.1, 0.0, 0.0)})
    physics.render({"target": (0.0, 0.1, 0.0)})
    assert p.getNumBodies(physicsClientId=physics.client) == bodies + 1


def test_floating_base_with_ground_returns_to_its_start_on_reset() -> None:
    physics = PyBulletPhysics(ModelSpec("r2d2.urdf", fixed_base=False))
    assert p.getNumBodies(physicsClientId=physics.client) == 2  # the robot and the ground
    k = len(physics.joints)
    assert physics.state_vector().size == 2 * k + 13
    physics.set_control([0.0] * k)
    for _ in range(10):
        physics.step()
    physics.reset(np.zeros(k), np.zeros(k))
    np.testing.assert_allclose(physics.state_vector()[2 * k : 2 * k + 3], [0.0, 0.0, 1.0])
    assert physics.capture()["base"] is not None


def test_efforts_bound_the_controls_unless_a_limit_is_given() -> None:
    physics = PyBulletPhysics(ModelSpec("kuka_iiwa/model.urdf"))
    lo, hi = physics.control_bounds(None)
    assert (hi > 0).all() and (lo == -hi).all() and hi.tolist() != [1.0] * len(hi)
    assert physics.control_bounds(2.0)[1].tolist() == [2.0] * len(hi)


def test_urdf_errors(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        PyBulletPhysics.check_model_file(tmp_path / "missing.urdf")
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot><link name='a'>")
    with pytest.raises(ModelFileError, match="pybullet cannot load"):
        PyBulletPhysics(ModelSpec(bad))
    with pytest.raises(ValueError, match="substeps must be >= 1"):
        PyBulletPhysics(ModelSpec(asset_path("reach.urdf"), substeps=0))
