"""The Task/Physics split: each task is written once and runs unchanged on every physics."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import dnne_robot.envs.tasks as tasks_pkg
from dnne_robot.envs import TaskNotOnEngineError, UnknownTaskError, engine_installed
from dnne_robot.envs.physics import physics_class
from dnne_robot.envs.physics.base import Physics
from dnne_robot.envs.tasks import TASK_CLASSES, CartPole, Pendulum, Reach, Task, make_task

from ..helpers import cartpole_pd, pendulum_swing_up, reach_jacobian
from ..physics.fake import FakePhysics

TASKS_DIR = Path(tasks_pkg.__file__).parent
POLICIES = {"CartPole": cartpole_pd, "Pendulum": pendulum_swing_up, "Reach": reach_jacobian}
PHYSICS_ENGINES = [
    pytest.param(e, marks=pytest.mark.skipif(not engine_installed(e), reason=f"no {e}"))
    for e in ("mujoco", "pybullet")
]


def run(task: Task, physics: Physics, act, steps: int, seed: int = 0) -> list[tuple]:
    """Drive the hooks in TaskEnv's order; (obs, reward, terminated) per step, reset first."""
    task.setup(physics)
    task.initialize_episode(physics, np.random.default_rng(seed))
    obs = task.get_observation(physics)
    out = [(obs, 0.0, False)]
    for _ in range(steps):
        task.before_step(act(obs[None])[0], physics)
        physics.step()
        assert task.state_is_finite(physics)
        task.after_step(physics)
        obs = task.get_observation(physics)
        out.append((obs, task.get_reward(physics), task.get_termination(physics)))
    return out


@pytest.mark.parametrize("module", sorted(p.name for p in TASKS_DIR.glob("*.py")))
def test_tasks_never_touch_an_engine(module: str) -> None:
    """A task module imports neither an engine nor an engine's physics module."""
    tree = ast.parse((TASKS_DIR / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & {"mujoco", "pybullet"}
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[-1] not in {"mujoco", "pybullet"}, module
            assert not {a.name for a in node.names} & {"mujoco", "pybullet", "physics_class"}


@pytest.mark.parametrize("name", ["CartPole", "Pendulum", "Reach"])
def test_task_runs_on_a_physics_without_an_engine(name: str) -> None:
    """The fake physics has no engine at all: the task needs nothing but the interface."""
    task = make_task(name)
    n = 2 if name != "Pendulum" else 1
    spec = task.model("pybullet")  # any engine's spec gives the stepping
    physics = FakePhysics.from_spec(spec, n)
    trajectory = run(task, physics, POLICIES[name], 20)
    for obs, reward, terminated in trajectory:
        assert task.observation_space.contains(obs) or name == "Reach"
        assert isinstance(reward, float) and isinstance(terminated, bool)
    assert physics.calls[0] == "reset" and physics.calls.count("step") == 20


@pytest.mark.parametrize("name", ["CartPole", "Pendulum", "Reach"])
def test_same_task_class_on_every_engine(name: str) -> None:
    """One task class, two physics: same initial state, trajectories within 1e-4."""
    for engine in ("mujoco", "pybullet"):
        if not engine_installed(engine):
            pytest.skip(f"no {engine}")
    trajectories = {}
    for engine in ("mujoco", "pybullet"):
        task = TASK_CLASSES[name]()
        physics = physics_class(engine)(task.model(engine))
        trajectories[engine] = run(task, physics, POLICIES[name], 60, seed=3)
        physics.close()
    mj, pb = trajectories["mujoco"], trajectories["pybullet"]
    np.testing.assert_array_equal(mj[0][0], pb[0][0])
    for (o1, r1, t1), (o2, r2, t2) in zip(mj, pb, strict=True):
        np.testing.assert_allclose(o1, o2, atol=1e-4)
        assert abs(r1 - r2) < 1e-4 and t1 == t2


@pytest.mark.parametrize("engine", PHYSICS_ENGINES)
def test_task_instances_do_not_share_state(engine: str) -> None:
    a, b = Reach(), Reach()
    pa, pb = (physics_class(engine)(t.model(engine)) for t in (a, b))
    a.initialize_episode(pa, np.random.default_rng(0))
    b.initialize_episode(pb, np.random.default_rng(1))
    assert a.target != b.target
    pa.close()
    pb.close()


def test_task_registry_and_errors() -> None:
    assert set(TASK_CLASSES) == {"CartPole", "Pendulum", "Reach", "FrankaDNNE", "FrankaReach",
                                 "ModelFile"}
    assert isinstance(make_task("CartPole"), CartPole)
    with pytest.raises(UnknownTaskError, match="Did you mean 'Pendulum'"):
        make_task("Pendulm")
    with pytest.raises(TaskNotOnEngineError, match="it exists on: mujoco, pybullet"):
        Pendulum().model("gymnasium")
    with pytest.raises(TypeError):
        make_task("CartPole", model_path="x.xml")


def test_base_hooks_default_to_nothing() -> None:
    class Minimal(Task):
        name = "Minimal"

    task, physics = Minimal(), FakePhysics(1)
    assert task.markers() == {} and task.get_state() == {}
    assert task.get_termination(physics) is False
    task.after_step(physics)
    task.set_state({})
    with pytest.raises(NotImplementedError):
        task.initialize_episode(physics, np.random.default_rng(0))
