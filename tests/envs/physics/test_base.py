"""The Physics contract, checked on every engine's implementation (and the fake one)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dnne_robot.envs import StateNotSupportedError, engine_installed
from dnne_robot.envs.physics import physics_class
from dnne_robot.envs.physics.base import ModelSpec, Physics
from dnne_robot.envs.tasks import Reach

from .fake import FakePhysics

ENGINES = [
    pytest.param(e, marks=pytest.mark.skipif(not engine_installed(e), reason=f"no {e}"))
    for e in ("mujoco", "pybullet")
]


def reach_physics(engine: str) -> Physics:
    """The Reach arm (two damped hinges, both actuated) on ``engine``."""
    if engine == "fake":
        return FakePhysics(2, (0, 1))
    return physics_class(engine)(Reach().model(engine))


@pytest.fixture(params=[*ENGINES, "fake"])
def physics(request: pytest.FixtureRequest):
    made = reach_physics(request.param)
    yield made
    made.close()


def test_implementations_are_complete() -> None:
    for engine in ("mujoco", "pybullet"):
        cls = physics_class(engine)
        assert issubclass(cls, Physics) and not cls.__abstractmethods__
        assert cls.engine == engine


def test_reset_sets_exactly_the_joints(physics: Physics) -> None:
    physics.reset((0.1, -0.2), (0.3, -0.4))
    assert list(physics.qpos) == [0.1, -0.2] and list(physics.qvel) == [0.3, -0.4]
    assert (physics.nq, physics.nv) == (2, 2)
    np.testing.assert_array_equal(physics.state_vector(), [0.1, -0.2, 0.3, -0.4])
    np.testing.assert_array_equal(physics.initial_qpos(), [0.0, 0.0])


def test_every_change_of_state_gives_new_sequences(physics: Physics) -> None:
    physics.reset((0.1, 0.2), (0.0, 0.0))
    seen = [(physics.qpos, physics.qvel)]
    physics.set_control((0.5, -0.5))
    physics.step()
    seen.append((physics.qpos, physics.qvel))
    physics.set_joint_velocity(1, 0.25)
    assert physics.qvel[1] == 0.25 and physics.qpos is seen[-1][0]
    seen.append((physics.qpos, physics.qvel))
    physics.restore(physics.capture())
    seen.append((physics.qpos, physics.qvel))
    for (_, v0), (_, v1) in zip(seen, seen[1:], strict=False):
        assert v0 is not v1
    assert seen[0][0] is not seen[1][0]


def test_controls_move_the_joints_that_way(physics: Physics) -> None:
    physics.reset((0.0, 0.0), (0.0, 0.0))
    physics.set_control((1.0, -1.0))
    physics.step()
    assert physics.qvel[0] > 0 and physics.qpos[0] > 0
    assert physics.dt == pytest.approx(0.02)


def test_capture_restore_continues_identically(physics: Physics) -> None:
    physics.reset((0.1, 0.2), (0.3, 0.4))
    physics.set_control((0.7, 0.2))
    physics.step()
    saved = json.loads(json.dumps(physics.capture()))
    physics.step()
    ahead = (physics.qpos, physics.qvel)
    physics.reset((0.0, 0.0), (0.0, 0.0))
    physics.restore(saved)
    physics.set_control((0.7, 0.2))
    physics.step()
    assert (list(physics.qpos), list(physics.qvel)) == (list(ahead[0]), list(ahead[1]))
    with pytest.raises(StateNotSupportedError):
        physics.restore({"engine": "other"})


@pytest.mark.parametrize("engine", ENGINES)
def test_render_and_close(engine: str) -> None:
    physics = reach_physics(engine)
    try:
        frame = physics.render({"target": (0.1, 0.05, 0.0)})
    except Exception as err:  # MuJoCo without a GL backend here
        pytest.skip(str(err))
    assert frame.dtype == np.uint8 and frame.shape == (300, 400, 3) and frame.std() > 0
    physics.close()
    physics.close()


def test_model_spec_defaults() -> None:
    spec = ModelSpec("robot.urdf")
    assert spec.substeps is None and spec.fixed_base and not spec.damped


def test_reset_clears_the_controls(physics: Physics) -> None:
    """After a reset, stepping without new controls is the free motion of the model."""
    physics.reset((0.1, 0.2), (0.0, 0.0))
    physics.set_control((1.0, 1.0))
    physics.reset((0.1, 0.2), (0.0, 0.0))
    physics.step()
    free = (physics.qpos, physics.qvel)
    physics.reset((0.1, 0.2), (0.0, 0.0))
    physics.set_control((0.0, 0.0))
    physics.step()
    assert (physics.qpos, physics.qvel) == free
