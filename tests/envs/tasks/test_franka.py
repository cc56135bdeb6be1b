"""FrankaDNNE on MuJoCo and PyBullet: one robot (names, limits, kinematics), DNNE's layouts,
its drives, its operational-space control and its episode rules, on the real engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnne_robot.envs import engine_installed
from dnne_robot.envs.env import TaskEnv
from dnne_robot.envs.tasks import FRANKA, FrankaDNNE

from ..helpers import franka_osc_reach, franka_still

ENGINES = [pytest.param(e, marks=pytest.mark.skipif(not engine_installed(e), reason=f"no {e}"))
           for e in ("mujoco", "pybullet")]
both = pytest.mark.skipif(not (engine_installed("mujoco") and engine_installed("pybullet")),
                          reason="needs both engines")


def test_targets_and_joints_are_drawn_as_dnne_draws_them() -> None:
    rng = np.random.default_rng(0)
    targets = np.array([FRANKA.sample_target(rng) for _ in range(2000)])
    r = np.linalg.norm(targets - FRANKA.target_center, axis=1)
    assert r.min() >= 0.3 and r.max() <= 0.6 and targets[:, 2].min() >= 1.15 - 1e-9
    assert targets[:, 0].min() < -0.4 and targets[:, 0].max() > 0.4  # the whole azimuth
    joints = np.array([FRANKA.sample_joints(rng) for _ in range(500)])
    noise = joints[:, :7] - FRANKA.default_dof_pos[:7]
    assert np.abs(noise).max() <= 0.25 + 1e-12 and np.abs(noise).max() > 0.24
    assert (joints[:, 7:] == 0.035).all()
    assert (joints <= FRANKA.upper).all() and (joints >= FRANKA.lower).all()  # clamped (j6)


@both
def test_one_robot_on_both_engines() -> None:
    """Joint names and limits, grip-site pose and Jacobian agree between the engines."""
    envs = {e: TaskEnv("FrankaDNNE", e) for e in ("mujoco", "pybullet")}
    mj, pb = envs["mujoco"].physics, envs["pybullet"].physics
    assert mj.joint_names() == pb.joint_names() == (
        *(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2")
    np.testing.assert_allclose(mj.joint_ranges(), pb.joint_ranges())
    np.testing.assert_allclose(mj.joint_ranges(), np.c_[FRANKA.lower, FRANKA.upper])
    rng = np.random.default_rng(3)
    for _ in range(5):
        q = FRANKA.sample_joints(rng).tolist()
        for physics in (mj, pb):
            physics.reset(q, [0.0] * 9)
        for name in ("panda_grip_site",):
            (p1, q1), (p2, q2) = mj.site_pose(name), pb.site_pose(name)
            np.testing.assert_allclose(p1, p2, atol=1e-6)
            assert abs(abs(float(np.dot(q1, q2))) - 1.0) < 1e-6  # the same rotation
            np.testing.assert_allclose(mj.site_jacobian(name), pb.site_jacobian(name), atol=1e-6)
        for m in (mj.mass_matrix(), pb.mass_matrix()):  # each engine's inertias: SPD
            np.testing.assert_allclose(m, m.T, atol=1e-9)
            assert np.linalg.eigvalsh(m[:7, :7]).min() > 0
    for env in envs.values():
        env.close()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("control_type", ["osc", "joint_tor"])
def test_observation_layout(engine: str, control_type: str) -> None:
    env = TaskEnv("FrankaDNNE", engine, control_type=control_type)
    obs, _ = env.reset(seed=4)
    fields = FrankaDNNE.fields(control_type)
    assert obs.shape == (13 if control_type == "osc" else 20,)
    assert max(hi for _, hi in fields.values()) == obs.size - 1
    pos, quat = env.physics.site_pose("panda_grip_site")
    np.testing.assert_allclose(obs[0:3], env.task.target, atol=1e-6)
    np.testing.assert_allclose(obs[3:6], pos, atol=1e-6)
    assert abs(abs(float(np.dot(obs[6:10], quat))) - 1) < 1e-5 and obs[6] >= 0
    q = np.array(env.physics.qpos)
    np.testing.assert_allclose(obs[10:-1], q[7:] if control_type == "osc" else q, atol=1e-6)
    assert obs[-1] == 0.0
    for k in range(1, 4):
        obs, *_ = env.step(np.zeros(7, dtype=np.float32))
        assert obs[-1] == pytest.approx(k * FRANKA.dt)
    for _ in range(330):  # 5.5 s: episode_time is clipped at 5, as DNNE's clipObservations
        obs, *_ = env.step(np.zeros(7, dtype=np.float32))
    assert obs[-1] == 5.0
    env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_joint_tor_moves_only_the_controlled_joints(engine: str) -> None:
    env = TaskEnv("FrankaDNNE", engine, control_type="joint_tor")
    env.reset(seed=2)
    q0 = np.array(env.physics.qpos)
    action = np.array([1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    for _ in range(30):
        env.step(action * 5)  # clipped to +-1: 1 N m on joints 0, 1, 3
    dq = np.array(env.physics.qpos) - q0
    assert dq[0] > 0.05 and dq[1] > 0.01 and dq[3] < -0.01, dq
    assert np.abs(dq[[2, 4, 5, 6]]).max() < 2e-3, dq  # held by the stiff drives
    assert env.physics.qpos[7] == pytest.approx(0.04, abs=2e-3)  # the gripper opened
    env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_osc_reaches_the_target_and_ends_the_episode(engine: str) -> None:
    env = TaskEnv("FrankaDNNE", engine, control_type="osc")
    obs, _ = env.reset(seed=0)
    start = env.task.distance(env.physics)
    terminated = False
    while not terminated and env.task.steps < 300:
        obs, _, terminated, _, _ = env.step(franka_osc_reach(obs[None])[0])
    assert terminated and env.task.distance(env.physics) < 0.1 < start
    env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_too_low_ends_the_episode(engine: str) -> None:
    env = TaskEnv("FrankaDNNE", engine, control_type="osc")
    obs, _ = env.reset(seed=5)
    env.task.target = (0.3, 0.0, 0.5)  # under the table: the arm goes down until too low
    for _ in range(300):
        obs, _, terminated, _, _ = env.step(franka_osc_reach(obs[None])[0])
        if terminated:
            break
    z = env.physics.site_pose("panda_grip_site")[0][2]
    assert terminated and z < FRANKA.table_surface + FRANKA.gripper_margin
    env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_osc_gripper_command_and_null_space(engine: str) -> None:
    env = TaskEnv("FrankaDNNE", engine, control_type="osc")
    env.reset(seed=6)
    close = franka_still(np.zeros((1, 13)))[0]
    close[6] = -1.0
    for _ in range(60):
        env.step(close)
    assert env.physics.qpos[7] < 0.005 and env.physics.qpos[8] < 0.005
    # A zero delta holds the grip site where it is (OSC with damping, no gravity).
    pos0 = env.physics.site_pose("panda_grip_site")[0]
    for _ in range(60):
        env.step(np.zeros(7, dtype=np.float32))
    assert np.linalg.norm(env.physics.site_pose("panda_grip_site")[0] - pos0) < 0.02
    torques = env.task.osc_torques(env.physics, np.array([1.0, 0, 0, 0, 0, 0]))
    assert np.abs(torques).max() <= max(FRANKA.effort) and math.isfinite(torques.sum())
    env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_reach_reward_and_success(engine: str) -> None:
    env = TaskEnv("FrankaReach", engine)
    obs, _ = env.reset(seed=1)
    rewards = []
    for _ in range(150):
        obs, reward, terminated, truncated, info = env.step(franka_osc_reach(obs[None])[0])
        rewards.append(reward)
        d = env.task.distance(env.physics)
        assert reward == pytest.approx(-d + (1.0 if d < 0.05 else 0.0))
        assert info["is_success"] == (d < 0.05) and not terminated
    assert info["is_success"] and rewards[-1] > rewards[0]
    env.close()
