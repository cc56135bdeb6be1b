"""The MuJoCo physics: actuators with gear, joint forces without, bit-exact snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from dnne_robot.envs import ModelFileError
from dnne_robot.envs.physics.base import ModelSpec
from dnne_robot.envs.tasks import REACH, Reach, asset_path

pytest.importorskip("mujoco")

from dnne_robot.envs.physics.mujoco import MujocoPhysics  # noqa: E402

NO_ACTUATORS = """<mujoco><option timestep="0.004"/><worldbody><body>
<joint name="h" type="hinge" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.5"
size="0.02" mass="1"/><body pos="0 0 -0.5"><joint type="ball"/><joint name="s" type="slide"/>
<geom type="sphere" size="0.05" mass="0.2"/></body></body></worldbody></mujoco>"""


def test_controls_go_through_the_actuators_with_gear() -> None:
    physics = MujocoPhysics(Reach().model("mujoco"))
    physics.set_control((1.0, -0.5))
    np.testing.assert_array_equal(physics.data.ctrl, [1.0, -0.5])
    physics.step()
    np.testing.assert_allclose(physics.data.qfrc_actuator, [REACH.gear, -0.5 * REACH.gear])
    lo, hi = physics.control_bounds(None)
    assert lo.tolist() == [-1.0, -1.0] and hi.tolist() == [1.0, 1.0]


def test_without_actuators_forces_go_on_hinge_and_slide_dofs(tmp_path) -> None:
    path = tmp_path / "free.xml"
    path.write_text(NO_ACTUATORS)
    physics = MujocoPhysics(ModelSpec(path))
    assert physics.substeps == 5  # about 20 ms of 4 ms steps
    lo, hi = physics.control_bounds(2.5)
    assert hi.tolist() == [2.5, 2.5]  # the hinge and the slide, not the ball joint
    physics.set_control((1.0, -1.0))
    np.testing.assert_array_equal(physics.data.qfrc_applied, [1.0, 0.0, 0.0, 0.0, -1.0])
    assert physics.nq == 6 and physics.nv == 5
    np.testing.assert_array_equal(physics.initial_qpos(), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0])


def test_capture_is_the_full_integration_state() -> None:
    physics = MujocoPhysics(Reach().model("mujoco"))
    physics.reset((0.1, 0.2), (0.0, 0.0))
    physics.set_control((0.3, 0.4))
    physics.step()
    state = physics.capture()
    assert state["engine"] == "mujoco" and (state["nq"], state["nv"]) == (2, 2)
    assert state["physics"][0] == pytest.approx(0.02)  # time leads the integration state
    again = MujocoPhysics(Reach().model("mujoco"))
    again.restore(state)
    np.testing.assert_array_equal(again.data.ctrl, [0.3, 0.4])  # controls are state too
    np.testing.assert_array_equal(again.data.qacc_warmstart, physics.data.qacc_warmstart)


def test_mjcf_refuses_urdf_only_options() -> None:
    with pytest.raises(TypeError, match="gravity, fixed_base do not apply to an MJCF"):
        MujocoPhysics(ModelSpec(asset_path("reach.xml"), gravity=1.0, fixed_base=False))
    with pytest.raises(ValueError, match="frame_skip must be >= 1"):
        MujocoPhysics(ModelSpec(asset_path("reach.xml"), substeps=0))


def test_model_file_errors(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        MujocoPhysics.check_model_file(tmp_path / "missing.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<mujoco><worldbody>")
    with pytest.raises(ModelFileError, match="mujoco cannot load"):
        MujocoPhysics(ModelSpec(bad))
