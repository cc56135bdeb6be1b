"""Sub-envs stepped on threads give what the per-env SyncVectorEnv gives, bit for bit."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dnne_robot.envs import capture_state, make_env, restore_state
from dnne_robot.envs.threaded import ThreadedVectorEnv
from dnne_robot.envs.vector import SameStepVectorEnv

from .test_batched import assert_same_step

CASES = [
    ("InvertedPendulum-v5", "gymnasium", {"max_episode_steps": 30}),  # ends episodes often
    ("HalfCheetah-v5", "gymnasium", {"max_episode_steps": 25}),
    ("Reach", "mujoco", {"max_episode_steps": 30}),
    ("CartPole", "pybullet", {}),
]


def _actions(vec, rng: np.random.Generator, n: int) -> np.ndarray:
    space = vec.action_space
    if hasattr(space, "nvec"):
        return rng.integers(0, space.nvec)
    return rng.uniform(space.low, space.high).astype(space.dtype)


@pytest.mark.parametrize(("spec", "engine", "kwargs"), CASES)
def test_same_trajectories_as_sync(spec: str, engine: str, kwargs: dict) -> None:
    sync = make_env(spec, engine, num_envs=5, seed=3, vectorization="sync", **kwargs)
    threaded = make_env(spec, engine, num_envs=5, seed=3, vectorization="threads", **kwargs)
    assert isinstance(threaded, ThreadedVectorEnv) and threaded.workers >= 1
    assert np.array_equal(sync.reset()[0], threaded.reset()[0])
    rng = np.random.default_rng(0)
    ended = 0
    for t in range(70):
        actions = _actions(sync, rng, 5)
        a, b = sync.step(actions), threaded.step(actions)
        assert_same_step(a, b, t)
        ended += int(np.sum(a[2] | a[3]))
    assert ended, "no episode ended: the autoreset path went untested"
    sync.close()
    threaded.close()


def test_more_workers_than_one_really_step_on_other_threads() -> None:
    vec = ThreadedVectorEnv(
        [lambda: make_env("InvertedPendulum-v5", num_envs=1).envs[0] for _ in range(4)],
        workers=2,
    )
    seen: set[str] = set()
    original = vec._step_group

    def spy(group, actions):
        seen.add(threading.current_thread().name)
        return original(group, actions)

    vec._step_group = spy  # type: ignore[method-assign]
    vec.reset(seed=0)
    vec.step(np.zeros((4, 1), dtype=np.float32))
    assert vec.groups == [[0, 1], [2, 3]]
    assert len(seen) == 2 and any(name.startswith("dnne-env") for name in seen)
    vec.close()
    assert vec._pool is None


def test_a_resumed_threaded_env_continues_bit_identically() -> None:
    make = lambda: make_env("HalfCheetah-v5", num_envs=4, seed=9, vectorization="threads")  # noqa: E731
    a = make()
    a.reset()
    rng = np.random.default_rng(1)
    for _ in range(10):
        a.step(_actions(a, rng, 4))
    saved = capture_state(a)
    b = make()
    b.reset()
    restore_state(b, saved)
    c = make_env("HalfCheetah-v5", num_envs=4, seed=9, vectorization="sync")  # either way
    c.reset()
    restore_state(c, saved)
    for t in range(20):
        actions = _actions(a, rng, 4)
        step_a = a.step(actions)
        assert_same_step(step_a, b.step(actions), t)
        assert_same_step(step_a, c.step(actions), t)


def test_auto_never_picks_threads() -> None:
    """Threads cost more than they save on light envs (HalfCheetah, InvertedPendulum), so
    ``auto`` stays with the batched or the sync env; ``threads`` is asked for by name."""
    assert type(make_env("InvertedPendulum-v5", num_envs=8, vectorization="auto")) is \
        SameStepVectorEnv
    assert (
        type(make_env("CartPole-v1", num_envs=8, vectorization="auto")).__name__ == "CartPoleBatch"
    )
