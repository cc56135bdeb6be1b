"""make_env: every spec form, SAME_STEP autoreset, seeding, sync and async."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dnne_robot.envs import capture_state, make_env, restore_state
from dnne_robot.envs.tasks import asset_path


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


needs_mujoco = pytest.mark.skipif(not _has("mujoco"), reason="mujoco not installed")
needs_pybullet = pytest.mark.skipif(not _has("pybullet"), reason="pybullet not installed")


MJ, PB = needs_mujoco, needs_pybullet
XML, URDF = "dnne/ModelFile-mujoco-v0", "dnne/ModelFile-pybullet-v0"


@pytest.mark.parametrize(
    ("spec", "engine", "expected_id"),
    [
        ("CartPole", "gymnasium", "dnne/CartPole-gymnasium-v0"),
        ("Cartpole", "gymnasium", "dnne/CartPole-gymnasium-v0"),
        ("CartPole-v1", "gymnasium", "CartPole-v1"),
        ("dnne/Pendulum-gymnasium-v0", "gymnasium", "dnne/Pendulum-gymnasium-v0"),
        pytest.param("Reach", "mujoco", "dnne/Reach-mujoco-v0", marks=MJ),
        pytest.param("InvertedPendulum-v5", "gymnasium", "InvertedPendulum-v5", marks=MJ),
        pytest.param("Isaac-Cartpole-v0", "pybullet", "dnne/CartPole-pybullet-v0", marks=PB),
        pytest.param(str(asset_path("cartpole.xml")), "mujoco", XML, marks=MJ),
        pytest.param(asset_path("pendulum.urdf"), "pybullet", URDF, marks=PB),
        # A model file with the default engine: its suffix picks the engine.
        pytest.param(str(asset_path("pendulum.xml")), "gymnasium", XML, marks=MJ),
        # A relative URDF path that only exists inside pybullet_data.
        pytest.param("cartpole.urdf", "pybullet", URDF, marks=PB),
    ],
)
def test_spec_forms_give_vector_envs(spec, engine: str, expected_id: str) -> None:
    vec = make_env(spec, engine)
    assert isinstance(vec, gym.vector.SyncVectorEnv)
    assert vec.num_envs == 1
    assert vec.envs[0].spec.id == expected_id
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (1, *vec.single_observation_space.shape)
    vec.step(vec.action_space.sample())
    vec.close()


def test_model_file_env_semantics() -> None:
    pytest.importorskip("mujoco")
    vec = make_env(asset_path("reach.xml"), "mujoco", num_envs=2, seed=0, max_episode_steps=5)
    model = vec.envs[0].unwrapped.physics.model
    assert vec.single_observation_space.shape == (model.nq + model.nv,)
    assert vec.single_action_space.shape == (model.nu,)
    np.testing.assert_array_equal(vec.single_action_space.high, [1.0, 1.0])
    vec.reset()
    for _ in range(5):
        _, reward, terminated, truncated, _ = vec.step(vec.action_space.sample())
        assert (reward == 0).all() and not terminated.any()
    assert truncated.all()
    vec.close()


def test_same_step_autoreset_final_obs() -> None:
    """On the step that ends an episode: obs is the reset obs, final_obs the last real one."""
    vec = make_env("CartPole", "gymnasium", num_envs=3, seed=0)
    obs, _ = vec.reset()
    always_right = np.ones(3, dtype=np.int64)
    for _ in range(200):
        obs, reward, terminated, truncated, info = vec.step(always_right)
        if terminated.any():
            break
    done = terminated | truncated
    assert done.any()
    assert "final_obs" in info and "_final_obs" in info
    np.testing.assert_array_equal(info["_final_obs"], done)
    for i in np.flatnonzero(done):
        final = info["final_obs"][i]
        # The pole fell: the final observation is past the 12 degree limit ...
        assert abs(final[2]) > 12 * 2 * np.pi / 360 or abs(final[0]) > 2.4
        # ... and the returned obs is a fresh reset state.
        assert np.all(np.abs(obs[i]) <= 0.05)
    vec.close()


def test_termination_and_truncation_stay_distinct() -> None:
    vec = make_env("CartPole", "gymnasium", num_envs=1, seed=0, max_episode_steps=10)
    vec.reset()
    # Balanced pushes keep the pole up for 10 steps: the limit truncates, nothing terminates.
    for t in range(10):
        _, _, terminated, truncated, info = vec.step(np.array([t % 2]))
    assert truncated[0] and not terminated[0]
    assert info["_final_obs"][0]
    # Always pushing right drops the pole: terminated, not truncated.
    vec = make_env("CartPole", "gymnasium", num_envs=1, seed=0)
    vec.reset()
    for _ in range(100):
        _, _, terminated, truncated, _ = vec.step(np.array([1]))
        if terminated[0] or truncated[0]:
            break
    assert terminated[0] and not truncated[0]


def test_seed_argument_matches_reset_seed() -> None:
    a = make_env("Pendulum", num_envs=3, seed=7)
    b = make_env("Pendulum", num_envs=3)
    obs_a, _ = a.reset()
    obs_b, _ = b.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    # Sub-env i got seed 7 + i: distinct starts.
    assert len({tuple(o) for o in obs_a}) == 3
    single = make_env("Pendulum", num_envs=1, seed=8)
    np.testing.assert_array_equal(single.reset()[0][0], obs_a[1])


@needs_pybullet
def test_async_vector_env_and_its_state() -> None:
    def make() -> gym.vector.VectorEnv:
        return make_env("CartPole", "pybullet", num_envs=2, seed=1, vectorization="async")

    vec = make()
    assert isinstance(vec, gym.vector.AsyncVectorEnv)
    vec.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, size=(40, 2))
    for a in actions[:20]:
        vec.step(a)
    state = capture_state(vec)
    ahead = [vec.step(a)[0] for a in actions[20:]]
    fresh = make()
    fresh.reset()
    restore_state(fresh, state)
    again = [fresh.step(a)[0] for a in actions[20:]]
    np.testing.assert_array_equal(np.array(ahead), np.array(again))
    vec.close()
    fresh.close()


@pytest.mark.parametrize(
    ("spec", "engine", "dt"),
    [
        ("CartPole", "gymnasium", 0.02),
        ("Pendulum", "gymnasium", 0.05),
        pytest.param("CartPole", "mujoco", 0.02, marks=needs_mujoco),
        pytest.param("Reach", "pybullet", 0.02, marks=needs_pybullet),
        pytest.param("InvertedPendulum-v5", "gymnasium", 0.04, marks=needs_mujoco),
    ],
)
def test_control_period_is_exposed(spec: str, engine: str, dt: float) -> None:
    vec = make_env(spec, engine, num_envs=2)
    assert vec.metadata["dt"] == pytest.approx(dt)
    assert vec.get_attr("dt") == pytest.approx((dt, dt))
    vec.close()


def test_make_env_argument_checks() -> None:
    with pytest.raises(ValueError, match="num_envs"):
        make_env("CartPole", num_envs=0)
    with pytest.raises(ValueError, match="Did you mean 'async'"):
        make_env("CartPole", vectorization="asnyc")


def _same(a, b) -> bool:
    """Equal values and types, arrays bit for bit (NaN equal to NaN), dicts key by key."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, np.ndarray):
        if not (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        if a.dtype == object:
            return all(_same(x, y) for x, y in zip(a, b, strict=True))
        return a.tobytes() == b.tobytes()
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.mark.parametrize(
    ("spec", "engine", "kwargs", "num_envs"),
    [
        pytest.param("InvertedPendulum-v5", "gymnasium", {"max_episode_steps": 30}, 3, marks=MJ),
        pytest.param("HalfCheetah-v5", "gymnasium", {"max_episode_steps": 25}, 1, marks=MJ),
        ("CartPole-v1", "gymnasium", {}, 4),  # discrete actions, terminations
        ("Pendulum", "gymnasium", {"max_episode_steps": 20}, 2),
        pytest.param("Reach", "mujoco", {"max_episode_steps": 30}, 2, marks=MJ),
    ],
)
def test_same_step_env_returns_what_sync_vector_env_returns(
    spec: str, engine: str, kwargs: dict, num_envs: int
) -> None:
    """The sequential env against gymnasium's SyncVectorEnv built from the same sub-envs:
    every step's observations, rewards, flags and infos (final observations and infos of
    ended episodes included), bit for bit, and the arrays are copies."""
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from dnne_robot.envs.make import make_single, resolve_spec
    from dnne_robot.envs.vector import SameStepVectorEnv

    mine = make_env(spec, engine, num_envs=num_envs, seed=3, vectorization="sync", **kwargs)
    assert isinstance(mine, SameStepVectorEnv)
    spec_id, extra = resolve_spec(spec, engine)
    fns = [lambda i=i: make_single(spec_id, None, {**extra, **kwargs}, 3 + i)
           for i in range(num_envs)]
    theirs = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    assert _same(mine.reset(seed=3), theirs.reset(seed=3))
    rng = np.random.default_rng(0)
    space = mine.action_space
    ended = 0
    for _ in range(120):
        if hasattr(space, "nvec"):
            actions = rng.integers(0, space.nvec)
        else:
            actions = rng.uniform(space.low, space.high).astype(space.dtype)
        a, b = mine.step(actions), theirs.step(actions)
        assert all(_same(x, y) for x, y in zip(a, b, strict=True))
        ended += int(np.count_nonzero(a[2] | a[3]))
        assert a[0] is not mine._observations  # a copy, as SyncVectorEnv returns
    assert ended > 0  # episodes ended, so the autoreset path ran
    mine.close()
    theirs.close()
