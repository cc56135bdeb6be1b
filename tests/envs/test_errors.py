"""Typed, helpful errors, and instability that ends an episode instead of crashing."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest

from dnne_robot.envs import (
    EngineNotInstalledError,
    EnvError,
    ModelFileError,
    StateNotSupportedError,
    TaskNotOnEngineError,
    UnknownEngineError,
    UnknownTaskError,
    capture_state,
    env_id,
    isaac_task,
    make_env,
    restore_state,
)

from .helpers import MODEL_KWARGS


def test_errors_share_one_base() -> None:
    for cls in (
        UnknownTaskError,
        UnknownEngineError,
        TaskNotOnEngineError,
        EngineNotInstalledError,
        ModelFileError,
        StateNotSupportedError,
    ):
        assert issubclass(cls, EnvError)
    assert issubclass(EngineNotInstalledError, ImportError)


def test_unknown_task_suggests_and_lists() -> None:
    with pytest.raises(UnknownTaskError) as err:
        make_env("CartPol")
    message = str(err.value)
    assert "Did you mean 'CartPole'?" in message
    for task in ("CartPole", "Pendulum", "Reach"):
        assert task in message
    with pytest.raises(UnknownTaskError, match="Did you mean 'Pendulum'"):
        make_env("Pendulm", "mujoco")
    with pytest.raises(UnknownTaskError, match="Did you mean 'CartPole-v1'"):
        make_env("CartPole-v9")


def test_unknown_engine_suggests_and_lists() -> None:
    with pytest.raises(UnknownEngineError) as err:
        make_env("CartPole", "mujuco")
    assert "Did you mean 'mujoco'?" in str(err.value)
    assert "gymnasium, mujoco, pybullet" in str(err.value)
    with pytest.raises(UnknownEngineError):
        env_id("CartPole", "isaac")


def test_task_not_on_engine_names_where_it_exists() -> None:
    with pytest.raises(TaskNotOnEngineError, match="it exists on: mujoco, pybullet"):
        env_id("Reach", "gymnasium")


def test_unknown_isaac_task_lists_mapped_ones() -> None:
    with pytest.raises(UnknownTaskError) as err:
        isaac_task("Ant")
    assert "Cartpole" in str(err.value) and "Isaac-Cartpole-v0" in str(err.value)
    assert isaac_task("Cartpole") == "CartPole"


@pytest.mark.parametrize(
    ("engine", "package", "command"),
    [("mujoco", "mujoco", "pip install mujoco"), ("pybullet", "pybullet", "pip install pybullet")],
)
def test_missing_engine_names_pip_install(
    monkeypatch: pytest.MonkeyPatch, engine: str, package: str, command: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import <package>` fail
    with pytest.raises(EngineNotInstalledError, match=command):
        make_env("CartPole", engine)


def test_missing_mujoco_for_gymnasium_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mujoco", None)
    for name in [m for m in sys.modules if m.startswith("gymnasium.envs.mujoco")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(EngineNotInstalledError, match=r'pip install "gymnasium\[mujoco\]"'):
        make_env("InvertedPendulum-v5")


def test_model_file_missing(tmp_path) -> None:
    missing = tmp_path / "nope.xml"
    with pytest.raises(ModelFileError, match="nope.xml"):
        make_env(missing, "mujoco")
    with pytest.raises(ModelFileError, match="nope.urdf"):
        make_env(tmp_path / "nope.urdf", "pybullet")


def test_model_file_invalid(tmp_path) -> None:
    pytest.importorskip("mujoco")
    pytest.importorskip("pybullet")
    bad_xml = tmp_path / "bad.xml"
    bad_xml.write_text("<mujoco><worldbody><body><geom type='sphere'/></body></mujoco>")
    with pytest.raises(ModelFileError) as err:
        make_env(bad_xml, "mujoco")
    assert "bad.xml" in str(err.value) and "mujoco cannot load" in str(err.value)
    bad_urdf = tmp_path / "bad.urdf"
    bad_urdf.write_text("<robot><link name='a'>")
    with pytest.raises(ModelFileError, match=r"pybullet cannot load .*bad\.urdf"):
        make_env(bad_urdf, "pybullet")


def test_model_file_engine_mismatch(tmp_path) -> None:
    with pytest.raises(EnvError, match="mujoco"):
        make_env(tmp_path / "robot.xml", "pybullet")


def _inject_nan(env: gym.Env) -> None:
    physics = env.physics
    if physics.engine == "mujoco":
        physics.data.qvel[0] = np.nan
    else:
        import pybullet as p

        body, joint, cid = physics.body, physics.joints[0], physics.client
        state = p.getJointState(body, joint, physicsClientId=cid)
        p.resetJointState(body, joint, state[0], np.nan, physicsClientId=cid)


@pytest.mark.parametrize(
    "spec_id",
    [
        "dnne/CartPole-mujoco-v0",
        "dnne/CartPole-pybullet-v0",
        "dnne/Pendulum-mujoco-v0",
        "dnne/Pendulum-pybullet-v0",
        "dnne/Reach-mujoco-v0",
        "dnne/Reach-pybullet-v0",
    ],
)
def test_nan_state_ends_episode_without_crash(spec_id: str) -> None:
    pytest.importorskip(spec_id.split("-")[1])
    vec = make_env(spec_id, num_envs=2, seed=0)
    vec.reset()
    env = vec.envs[0].unwrapped
    _inject_nan(env)
    action = np.stack([vec.single_action_space.sample()] * 2)
    if isinstance(vec.single_action_space, gym.spaces.Discrete):
        action = np.array([1, 1])
    with pytest.warns(RuntimeWarning, match="unstable"):
        obs, reward, terminated, truncated, info = vec.step(action)
    assert terminated[0] and not terminated[1] and not truncated[0]
    assert info["final_info"]["unstable"][0]
    assert np.isfinite(info["final_obs"][0]).all() and np.isfinite(obs).all()
    assert env.unstable_count == 1
    # The autoreset left a working env behind.
    obs, *_ = vec.step(action)
    assert np.isfinite(obs).all()
    vec.close()


@pytest.mark.parametrize(
    "spec_id",
    [
        "dnne/Pendulum-mujoco-v0",
        "dnne/Reach-pybullet-v0",
        "dnne/ModelFile-mujoco-v0",
        "dnne/ModelFile-pybullet-v0",
    ],
)
def test_nan_action_ends_episode(spec_id: str) -> None:
    pytest.importorskip(spec_id.split("-")[1])
    env = gym.make(spec_id, **MODEL_KWARGS.get(spec_id, {})).unwrapped
    env.reset(seed=0)
    action = np.full(env.action_space.shape, np.nan, dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="unstable"):
        obs, reward, terminated, _, info = env.step(action)
    assert terminated and info == {"unstable": True} and reward == 0.0
    assert np.isfinite(obs).all()
    env.reset(seed=0)
    obs, *_ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert np.isfinite(obs).all()
    env.close()


def test_state_of_unsupported_env() -> None:
    vec = make_env("FrozenLake-v1")
    vec.reset(seed=0)
    with pytest.raises(StateNotSupportedError, match="FrozenLake"):
        capture_state(vec)


def test_state_mismatch() -> None:
    a = make_env("CartPole", num_envs=2, seed=0)
    a.reset()
    state = capture_state(a)
    with pytest.raises(StateNotSupportedError, match="2 sub-envs"):
        restore_state(make_env("CartPole", num_envs=3), state)
    with pytest.raises(StateNotSupportedError, match="captured from"):
        restore_state(make_env("Pendulum", num_envs=2), state)
    with pytest.raises(StateNotSupportedError, match="format"):
        restore_state(a, {"format": "something else"})
