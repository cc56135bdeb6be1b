"""The batched CartPole gives what the per-env SyncVectorEnv gives, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from dnne_robot.envs import capture_state, make_env, restore_state
from dnne_robot.envs.batched import CartPoleBatch
from dnne_robot.envs.errors import EnvError, StateNotSupportedError


def assert_same_step(a: tuple, b: tuple, t: int) -> None:
    for name, x, y in zip(("obs", "reward", "terminated", "truncated"), a[:4], b[:4], strict=True):
        assert np.array_equal(x, y), f"step {t}: {name} differs"
        assert x.dtype == y.dtype, f"step {t}: {name} dtype {x.dtype} vs {y.dtype}"
    ended_a, ended_b = a[4].get("_final_obs"), b[4].get("_final_obs")
    assert (ended_a is None) == (ended_b is None), f"step {t}: final_obs present in one only"
    if ended_a is not None:
        assert np.array_equal(ended_a, ended_b)
        for i in np.flatnonzero(ended_a):
            assert np.array_equal(a[4]["final_obs"][i], b[4]["final_obs"][i]), f"step {t}"


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [("CartPole-v1", {}), ("Cartpole", {}), ("CartPole-v1", {"max_episode_steps": 40})],
)
def test_same_trajectories_as_sync(spec: str, kwargs: dict) -> None:
    sync = make_env(spec, num_envs=6, seed=11, vectorization="sync", **kwargs)
    batched = make_env(spec, num_envs=6, seed=11, vectorization="batched", **kwargs)
    assert isinstance(batched, CartPoleBatch)
    assert batched.single_observation_space == sync.single_observation_space
    assert batched.single_action_space == sync.single_action_space
    assert batched.metadata["dt"] == sync.metadata["dt"]
    assert np.array_equal(sync.reset(seed=11)[0], batched.reset(seed=11)[0])
    rng = np.random.default_rng(0)
    noise = np.array([0.02, 0.02, 0.02, 1.0, 1.0, 1.0])
    ended = {"terminated": 0, "truncated": 0}
    for t in range(2_000):
        # A stabilising controller on half of the envs, so that episodes also reach the
        # time limit; random pushes on the other half, which fail.
        obs = batched.state.T
        push = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
        actions = np.where(rng.random(6) < noise, rng.integers(0, 2, 6), push)
        a, b = sync.step(actions), batched.step(actions)
        assert_same_step(a, b, t)
        ended["terminated"] += int(a[2].sum())
        ended["truncated"] += int(a[3].sum())
    assert ended["terminated"] > 5 and ended["truncated"] > 5, ended


def test_capture_and_restore_continue_identically() -> None:
    env = make_env("CartPole-v1", num_envs=4, seed=2, vectorization="batched")
    env.reset(seed=2)
    rng = np.random.default_rng(1)
    for _ in range(57):
        env.step(rng.integers(0, 2, 4))
    saved = capture_state(env)
    actions = rng.integers(0, 2, (300, 4))
    first = [env.step(a) for a in actions]

    other = make_env("CartPole-v1", num_envs=4, seed=99, vectorization="batched")
    other.reset(seed=99)
    restore_state(other, saved)
    for t, a in enumerate(actions):
        assert_same_step(first[t], other.step(a), t)


def test_auto_batches_where_it_can() -> None:
    assert isinstance(make_env("Cartpole", num_envs=2, vectorization="auto"), CartPoleBatch)
    assert isinstance(make_env("Pendulum", num_envs=2, vectorization="auto"), SyncVectorEnv)
    rendered = make_env("CartPole-v1", num_envs=2, vectorization="auto", render_mode="rgb_array")
    assert isinstance(rendered, SyncVectorEnv)
    with pytest.raises(EnvError, match="no batched implementation"):
        make_env("Pendulum", num_envs=2, vectorization="batched")


def test_bad_actions_and_states_are_refused() -> None:
    env = make_env("CartPole-v1", num_envs=3, seed=0, vectorization="batched")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, dtype=np.int64))
    env.reset()
    with pytest.raises(ValueError, match="3 actions in"):
        env.step(np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="3 actions in"):
        env.step(np.array([0, 1]))
    sync = make_env("CartPole-v1", num_envs=3, seed=0, vectorization="sync")
    sync.reset()
    with pytest.raises(StateNotSupportedError, match="vectorization the run used"):
        restore_state(env, capture_state(sync))
