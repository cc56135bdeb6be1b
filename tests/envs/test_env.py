"""TaskEnv: a Task joined to a Physics, walked over every registered task and engine."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from dnne_robot.envs import (
    TASK_ENGINES,
    StateNotSupportedError,
    engine_installed,
    env_id,
    make_env,
)
from dnne_robot.envs.env import TaskEnv
from dnne_robot.envs.tasks import TASK_CLASSES, CartPole

from .helpers import cartpole_pd, franka_osc_reach, franka_still, pendulum_swing_up, reach_jacobian

POLICIES = {"CartPole": cartpole_pd, "Pendulum": pendulum_swing_up, "Reach": reach_jacobian,
            "FrankaDNNE": franka_still, "FrankaReach": franka_osc_reach}
#: The step info each task reports.
INFO_KEYS = {"FrankaReach": {"is_success"}}
TASK_X_ENGINE = [
    pytest.param(
        task,
        engine,
        marks=pytest.mark.skipif(not engine_installed(engine), reason=f"no {engine}"),
        id=f"{task}-{engine}",
    )
    for task, engines in TASK_ENGINES.items()
    for engine in engines
]


@pytest.mark.parametrize(("task", "engine"), TASK_X_ENGINE)
def test_every_task_on_every_engine(task: str, engine: str) -> None:
    """Made by id, the env is that task on that engine, and a policy episode behaves."""
    env = gym.make(env_id(task, engine))
    base = env.unwrapped
    if engine == "gymnasium":  # gymnasium's own class: no physics module involved
        assert not isinstance(base, TaskEnv)
    else:
        assert isinstance(base, TaskEnv) and base.engine == engine
        assert type(base.task) is TASK_CLASSES[task] and base.physics.engine == engine
        assert base.observation_space == base.task.observation_space
        assert base.metadata["render_fps"] == round(1 / base.dt)
    obs, _ = env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(POLICIES[task](obs[None])[0])
        assert env.observation_space.contains(obs) or task == "Reach"
        assert isinstance(terminated, bool) and isinstance(float(reward), float)
        assert set(info) == INFO_KEYS.get(task, set())
        steps += 1
    # Every scripted policy lasts the whole episode, on every engine.
    assert truncated and not terminated and steps == env.spec.max_episode_steps
    env.close()


@pytest.mark.parametrize(("task", "engine"), [p for p in TASK_X_ENGINE if "gymnasium" not in p.id])
def test_step_returns_what_the_task_hooks_say(task: str, engine: str) -> None:
    env = TaskEnv(task, engine)
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs, env.task.get_observation(env.physics))
    action = env.action_space.sample()
    obs, reward, terminated, _, _ = env.step(action)
    physics = env.physics
    np.testing.assert_array_equal(obs, env.task.get_observation(physics))
    assert reward == env.task.get_reward(physics)
    assert terminated == env.task.get_termination(physics)
    env.close()


def test_hooks_run_in_the_documented_order() -> None:
    pytest.importorskip("mujoco")
    calls: list[str] = []

    class Recorded(CartPole):
        def initialize_episode(self, physics, random):  # type: ignore[no-untyped-def]
            calls.append("initialize_episode")
            super().initialize_episode(physics, random)

        def before_step(self, action, physics):  # type: ignore[no-untyped-def]
            calls.append("before_step")
            super().before_step(action, physics)

        def state_is_finite(self, physics):  # type: ignore[no-untyped-def]
            calls.append("state_is_finite")
            return super().state_is_finite(physics)

        def after_step(self, physics):  # type: ignore[no-untyped-def]
            calls.append("after_step")

        def get_observation(self, physics):  # type: ignore[no-untyped-def]
            calls.append("get_observation")
            return super().get_observation(physics)

        def get_reward(self, physics):  # type: ignore[no-untyped-def]
            calls.append("get_reward")
            return super().get_reward(physics)

        def get_termination(self, physics):  # type: ignore[no-untyped-def]
            calls.append("get_termination")
            return super().get_termination(physics)

    env = TaskEnv(Recorded(), "mujoco")
    env.reset(seed=0)
    env.step(1)
    assert calls == [
        "initialize_episode",
        "get_observation",
        "before_step",
        "state_is_finite",
        "after_step",
        "get_observation",
        "get_reward",
        "get_termination",
    ]
    with pytest.raises(TypeError, match="by name"):
        TaskEnv(Recorded(), "mujoco", model_path="x.xml")


def test_unstable_label_and_state_names_the_task() -> None:
    pytest.importorskip("pybullet")
    a, b = TaskEnv("CartPole", "pybullet"), TaskEnv("Reach", "pybullet")
    a.reset(seed=0)
    b.reset(seed=0)
    state = json.loads(json.dumps(a.capture_sim_state()))
    assert state["task_name"] == "CartPole" and state["engine"] == "pybullet"
    with pytest.raises(StateNotSupportedError, match="Reach on pybullet: .* task 'CartPole'"):
        b.restore_sim_state(state)  # same joint count: only the task name tells them apart
    with pytest.warns(RuntimeWarning, match="^CartPole on pybullet: simulation went unstable"):
        a.physics.reset((0.0, 0.0), (np.nan, 0.0))
        a.physics.step()
        a.step(1)


def test_render_draws_the_task_markers() -> None:
    pytest.importorskip("pybullet")
    vec = make_env("Reach", "pybullet", render_mode="rgb_array", seed=0)
    vec.reset()
    env = vec.envs[0].unwrapped
    frame = env.render()
    assert frame.shape == (300, 400, 3)
    assert len(env.physics._markers) == 1  # the target
    assert TaskEnv("Reach", "pybullet").render() is None  # no render_mode
    with pytest.raises(ValueError, match="render_mode"):
        TaskEnv("Reach", "pybullet", render_mode="human")
    vec.close()


def test_a_task_written_elsewhere_runs_too() -> None:
    """Any Task subclass works unchanged on every engine: here a CartPole on a 1 cm rail."""
    from dnne_robot.envs.tasks import CartPoleParams

    class ShortRail(CartPole):
        def __init__(self) -> None:
            super().__init__(CartPoleParams(x_threshold=0.01))

    for engine in ("mujoco", "pybullet"):
        if not engine_installed(engine):
            continue
        env = TaskEnv(ShortRail(), engine)
        env.reset(seed=0)
        env.physics.reset((0.0, 0.0), (0.0, 0.0))
        terminated = [env.step(1)[2] for _ in range(5)]
        assert terminated == [False, False, True, True, True], engine  # x > 1 cm at step 3
        env.close()
