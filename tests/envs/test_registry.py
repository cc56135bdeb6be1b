"""One parametrized walk over every registered id, plus registry-level checks."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dnne_robot.envs as envs
from dnne_robot.envs import (
    ENGINES,
    ISAAC_TASKS,
    REGISTERED_IDS,
    TASK_ENGINES,
    TASKS,
    capture_state,
    env_id,
    list_tasks,
    make_env,
    restore_state,
)
from dnne_robot.envs.make import make_single

from .helpers import MODEL_KWARGS, assert_plain

pytestmark = pytest.mark.filterwarnings("ignore:.*Box observation space.*infinity")


def _needs(spec_id: str) -> None:
    for engine in ("mujoco", "pybullet"):
        if f"-{engine}-" in spec_id:
            pytest.importorskip(engine)


def _rollout(vec: gym.vector.VectorEnv, actions: list[np.ndarray]) -> list[tuple]:
    out = []
    for a in actions:
        obs, rew, term, trunc, info = vec.step(a)
        out.append((obs.copy(), rew.copy(), term.copy(), trunc.copy()))
    return out


@pytest.mark.parametrize("spec_id", REGISTERED_IDS)
def test_registered_env(spec_id: str) -> None:
    """check_env, seeding determinism and bit-exact capture/restore, for every registered id."""
    _needs(spec_id)
    kwargs = MODEL_KWARGS.get(spec_id, {})

    # gymnasium's own checker on the bare env (its render check needs pygame for classic ones).
    env = gym.make(spec_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_env(env.unwrapped, skip_render_check="gymnasium" in spec_id)
    env.close()

    # Same seed, same trajectory.
    def make() -> gym.vector.VectorEnv:
        return make_env(spec_id, num_envs=2, seed=5, max_episode_steps=40, **kwargs)

    space = make().single_action_space
    space.seed(0)
    actions = [np.stack([space.sample(), space.sample()]) for _ in range(60)]
    a, b = make(), make()
    obs_a, _ = a.reset()
    obs_b, _ = b.reset(seed=5)
    np.testing.assert_array_equal(obs_a, obs_b)
    traj_a, traj_b = _rollout(a, actions[:30]), _rollout(b, actions[:30])
    for x, y in zip(traj_a, traj_b, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)

    # Capture at step 30, run on to 60; restore into a fresh env, replay, compare bit for bit.
    state = capture_state(a)
    assert_plain(state)
    state = json.loads(json.dumps(state))
    ahead = _rollout(a, actions[30:])
    fresh = make()
    fresh.reset(seed=123)
    restore_state(fresh, state)
    again = _rollout(fresh, actions[30:])
    for x, y in zip(ahead, again, strict=True):
        for u, v in zip(x, y, strict=True):
            np.testing.assert_array_equal(u, v)
    # The replay crosses an autoreset (a 40-step limit, or CartPole falling), so RNG state counts.
    assert any((term | trunc).any() for *_, term, trunc in ahead)
    for vec in (a, b, fresh):
        vec.close()


@pytest.mark.parametrize("task", TASKS)
def test_spaces_equal_across_engines(task: str) -> None:
    spaces = []
    for engine in TASK_ENGINES[task]:
        _needs(f"-{engine}-")
        env = make_single(env_id(task, engine))
        spaces.append((engine, env.observation_space, env.action_space, env.spec.max_episode_steps))
        env.close()
    _, obs0, act0, steps0 = spaces[0]
    for engine, obs, act, steps in spaces[1:]:
        assert obs == obs0, engine
        assert act == act0, engine
        assert steps == steps0, engine


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_initial_state_across_engines(task: str) -> None:
    first = None
    for engine in TASK_ENGINES[task]:
        _needs(f"-{engine}-")
        vec = make_env(task, engine, num_envs=3, seed=11)
        obs, _ = vec.reset()
        vec.close()
        if first is None:
            first = obs
        if task.startswith("Franka"):  # the grip site's pose is each engine's kinematics
            np.testing.assert_allclose(obs, first, atol=1e-6, err_msg=engine)
        else:
            np.testing.assert_array_equal(obs, first, err_msg=engine)


def test_dt_equal_across_engines() -> None:
    expected = {"CartPole": 0.02, "Pendulum": 0.05, "Reach": 0.02, "FrankaDNNE": 0.01667,
                "FrankaReach": 0.01667}
    for task, engines in TASK_ENGINES.items():
        for engine in engines:
            _needs(f"-{engine}-")
            env = gym.make(env_id(task, engine)).unwrapped
            dt = getattr(env, "dt", None) or getattr(env, "tau", None)
            assert dt == pytest.approx(expected[task]), (task, engine)
            env.close()


def test_task_listing_and_ids() -> None:
    assert TASKS == ("CartPole", "Pendulum", "Reach", "FrankaDNNE", "FrankaReach")
    assert list_tasks() == list(TASKS)
    assert ENGINES == ("gymnasium", "mujoco", "pybullet")
    assert env_id("CartPole", "mujoco") == "dnne/CartPole-mujoco-v0"
    assert env_id("Cartpole", "pybullet") == "dnne/CartPole-pybullet-v0"
    for isaac, ours in ISAAC_TASKS.items():
        assert ours in TASKS, isaac
    assert envs.isaac_task("Isaac-Cartpole-v0") == "CartPole"
    for spec_id in REGISTERED_IDS:
        assert spec_id in gym.registry


def test_registration_is_idempotent() -> None:
    before = list(REGISTERED_IDS)
    envs.register_envs()
    assert REGISTERED_IDS == before


def test_mujoco_assets_match_task_constants() -> None:
    pytest.importorskip("mujoco")
    from dnne_robot.envs.tasks import CARTPOLE, PENDULUM, REACH

    cart = gym.make("dnne/CartPole-mujoco-v0").unwrapped.physics.model
    assert cart.opt.gravity[2] == pytest.approx(-CARTPOLE.gravity)
    assert cart.opt.timestep * CARTPOLE.substeps == pytest.approx(CARTPOLE.dt)
    assert cart.body("cart").mass[0] == pytest.approx(CARTPOLE.cart_mass)
    assert cart.body("pole").mass[0] == pytest.approx(CARTPOLE.pole_mass)
    assert cart.body("pole").ipos[2] == pytest.approx(CARTPOLE.pole_half_length)
    rod_inertia = CARTPOLE.pole_mass * (2 * CARTPOLE.pole_half_length) ** 2 / 12
    assert cart.body("pole").inertia[1] == pytest.approx(rod_inertia)

    pend = gym.make("dnne/Pendulum-mujoco-v0").unwrapped.physics.model
    assert pend.opt.gravity[2] == pytest.approx(-PENDULUM.gravity)
    assert pend.body("rod").mass[0] == pytest.approx(PENDULUM.mass)
    assert pend.body("rod").inertia[1] == pytest.approx(PENDULUM.mass * PENDULUM.length**2 / 12)

    reach = gym.make("dnne/Reach-mujoco-v0").unwrapped.physics.model
    for link in ("link1", "link2"):
        assert reach.body(link).mass[0] == pytest.approx(REACH.link_mass)
    assert list(reach.dof_damping) == pytest.approx([REACH.joint_damping] * 2)
    assert list(reach.actuator_gear[:, 0]) == pytest.approx([REACH.gear] * 2)


def test_pybullet_assets_match_task_constants() -> None:
    p = pytest.importorskip("pybullet")
    from dnne_robot.envs.tasks import CARTPOLE, PENDULUM, REACH

    def dyn(spec_id: str) -> tuple:
        env = gym.make(spec_id).unwrapped
        body, cid, movable = env.physics.body, env.physics.client, env.physics.joints
        info = [p.getDynamicsInfo(body, j, physicsClientId=cid) for j in movable]
        joints = [p.getJointInfo(body, j, physicsClientId=cid) for j in movable]
        env.close()
        return info, joints

    info, _ = dyn("dnne/CartPole-pybullet-v0")
    assert info[0][0] == pytest.approx(CARTPOLE.cart_mass)
    assert info[1][0] == pytest.approx(CARTPOLE.pole_mass)
    assert info[1][3][2] == pytest.approx(CARTPOLE.pole_half_length)
    assert info[1][2][1] == pytest.approx(CARTPOLE.pole_mass / 12)
    info, _ = dyn("dnne/Pendulum-pybullet-v0")
    assert info[0][0] == pytest.approx(PENDULUM.mass)
    assert info[0][2][1] == pytest.approx(PENDULUM.mass * PENDULUM.length**2 / 12)
    info, joints = dyn("dnne/Reach-pybullet-v0")
    assert [i[0] for i in info] == pytest.approx([REACH.link_mass] * 2)
    assert [j[6] for j in joints] == pytest.approx([REACH.joint_damping] * 2)
