"""The engines simulate the same system: signs, controllers and trajectories agree."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dnne_robot.envs import TASK_ENGINES, engine_installed, env_id, evaluate_policy, make_env

from .helpers import cartpole_pd, cartpole_wrong_sign, pendulum_swing_up, reach_jacobian


def _engines(task: str) -> list:
    """The task's engines as params, the uninstalled ones marked skip."""
    return [
        pytest.param(e, marks=pytest.mark.skipif(not engine_installed(e), reason=f"no {e}"))
        for e in TASK_ENGINES[task]
    ]


@pytest.mark.parametrize("engine", _engines("CartPole"))
def test_cartpole_pd_balances_500_steps(engine: str) -> None:
    """A sign-sensitive controller keeps the pole up for the full episode on every engine."""
    vec = make_env("CartPole", engine, num_envs=4, seed=0)
    obs, _ = vec.reset()
    for step in range(500):
        obs, reward, terminated, truncated, _ = vec.step(cartpole_pd(obs))
        assert not terminated.any(), f"pole fell at step {step} on {engine}"
        assert (reward == 1.0).all()
    assert truncated.all(), "CartPole truncates at 500 steps"
    vec.close()


@pytest.mark.parametrize("engine", _engines("CartPole"))
def test_cartpole_wrong_sign_falls(engine: str) -> None:
    result = evaluate_policy(cartpole_wrong_sign, "CartPole", engine, episodes=4)
    assert max(result["lengths"]) < 100


@pytest.mark.parametrize("engine", _engines("CartPole"))
def test_cartpole_push_signs(engine: str) -> None:
    """From rest, action 1 accelerates the cart toward +x and swings theta negative."""
    vec = make_env("CartPole", engine, num_envs=1)
    vec.reset(seed=0)
    env = vec.envs[0].unwrapped
    _set_cartpole_state(env, [0.0, 0.0, 0.0, 0.0])
    obs, *_ = vec.step(np.array([1]))
    x, x_dot, theta, theta_dot = obs[0]
    assert x_dot > 0 and theta_dot < 0
    # Leaned right (theta > 0) with no net push, gravity makes it fall further right.
    _set_cartpole_state(env, [0.0, 0.0, 0.05, 0.0])
    obs_left, *_ = vec.step(np.array([0]))
    _set_cartpole_state(env, [0.0, 0.0, 0.05, 0.0])
    obs_right, *_ = vec.step(np.array([1]))
    assert (obs_left[0, 3] + obs_right[0, 3]) / 2 > 0
    vec.close()


def _set_cartpole_state(env: gym.Env, state: list[float]) -> None:
    """Put any engine's CartPole into ``[x, x_dot, theta, theta_dot]``."""
    if hasattr(env, "physics"):  # a TaskEnv, on any physics engine
        env.physics.reset((state[0], state[2]), (state[1], state[3]))
    else:
        env.state = np.array(state, dtype=np.float64)


def test_cartpole_one_step_agreement() -> None:
    """From the same states, one control period on each engine lands on the same next state.

    mujoco and pybullet integrate the same equations (semi-implicit Euler, 4 x 5 ms) and agree to
    rounding; gymnasium's CartPole-v1 takes one explicit Euler step of 20 ms, so it differs by
    that integrator's error (a few 1e-3 here).
    """
    pytest.importorskip("mujoco")
    pytest.importorskip("pybullet")
    made = {e: make_env("CartPole", e, num_envs=1) for e in TASK_ENGINES["CartPole"]}
    for vec in made.values():
        vec.reset(seed=0)
    rng = np.random.default_rng(0)
    worst = {e: 0.0 for e in made}
    for _ in range(50):
        state = rng.uniform(-0.2, 0.2, size=4).tolist()
        action = np.array([rng.integers(2)])
        nxt = {}
        for engine, vec in made.items():
            _set_cartpole_state(vec.envs[0].unwrapped, state)
            nxt[engine] = vec.step(action)[0][0].astype(np.float64)
        for engine in made:
            worst[engine] = max(worst[engine], float(np.abs(nxt[engine] - nxt["mujoco"]).max()))
    assert worst["pybullet"] < 1e-6
    assert worst["gymnasium"] < 5e-3
    for vec in made.values():
        vec.close()


def _trajectory(task: str, engine: str, act, steps: int, seed: int = 3) -> np.ndarray:
    vec = make_env(task, engine, num_envs=2, seed=seed)
    obs, _ = vec.reset()
    out = [obs]
    for _ in range(steps):
        obs, *_ = vec.step(act(obs))
        out.append(obs)
    vec.close()
    return np.array(out)


def test_mujoco_and_pybullet_trajectories_agree() -> None:
    """Closed loop, 100 steps: the two physics engines stay together on every shared task."""
    pytest.importorskip("mujoco")
    pytest.importorskip("pybullet")
    policies = {"CartPole": cartpole_pd, "Pendulum": pendulum_swing_up, "Reach": reach_jacobian}
    for task, act in policies.items():
        a = _trajectory(task, "mujoco", act, 100)
        b = _trajectory(task, "pybullet", act, 100)
        np.testing.assert_allclose(a, b, atol=1e-4, err_msg=task)


def test_pendulum_matches_gymnasium_closely() -> None:
    """Open loop, 20 steps from the same seed: within Pendulum-v1's own integration error."""
    pytest.importorskip("mujoco")
    rng = np.random.default_rng(1)
    torques = rng.uniform(-2, 2, size=(20, 2, 1)).astype(np.float32)
    trajs = {}
    for engine in ("gymnasium", "mujoco"):
        vec = make_env("Pendulum", engine, num_envs=2, seed=4)
        obs, _ = vec.reset()
        rewards = []
        for u in torques:
            obs, r, *_ = vec.step(u)
            rewards.append(r)
        trajs[engine] = (obs, np.array(rewards))
        vec.close()
    np.testing.assert_allclose(trajs["mujoco"][0], trajs["gymnasium"][0], atol=0.15)
    # Rewards score the pre-step state, so the first one is identical on both.
    np.testing.assert_allclose(trajs["mujoco"][1][0], trajs["gymnasium"][1][0], rtol=1e-6)


@pytest.mark.parametrize(
    ("task", "act", "better_than"),
    [("Pendulum", pendulum_swing_up, -400.0), ("Reach", reach_jacobian, -12.0)],
)
def test_scripted_controllers_solve_tasks_everywhere(task: str, act, better_than: float) -> None:
    for engine in TASK_ENGINES[task]:
        if engine != "gymnasium":
            pytest.importorskip(engine)
        result = evaluate_policy(act, task, engine, episodes=4, seed=0)
        assert result["mean_return"] > better_than, (engine, result["mean_return"])


def test_reach_observation_is_consistent() -> None:
    """The fingertip-target vector equals forward kinematics of the reported joint angles."""
    pytest.importorskip("mujoco")
    env = gym.make(env_id("Reach", "mujoco")).unwrapped
    physics = env.physics
    obs, _ = env.reset(seed=2)
    for _ in range(10):
        obs, *_ = env.step(np.array([0.7, -0.4], dtype=np.float32))
    c1, c2, s1, s2, w1, w2, tx, ty, dx, dy = obs.astype(np.float64)
    q1, q2 = np.arctan2(s1, c1), np.arctan2(s2, c2)
    tip = 0.1 * np.array([np.cos(q1) + np.cos(q1 + q2), np.sin(q1) + np.sin(q1 + q2)])
    np.testing.assert_allclose(tip - [tx, ty], [dx, dy], atol=1e-6)
    # ... and equals MuJoCo's own fingertip site.
    import mujoco

    mujoco.mj_kinematics(physics.model, physics.data)
    site = physics.data.site("fingertip").xpos[:2]
    np.testing.assert_allclose(site - [tx, ty], [dx, dy], atol=1e-6)
    env.close()
