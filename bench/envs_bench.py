"""Simulator benchmark: steps/s per task and engine, and adapter overhead.

For every task on every installed engine it times, side by side in one process:

* ``direct``: a hand-written loop on the engine's own API doing the same work per step as the
  adapter (the same physics substeps, reading the state, building the float32 observation,
  reward and termination), the way one would write it without ``dnne_robot.envs``;
* ``adapter``: the env's own ``step`` on the unwrapped env: for mujoco and pybullet a
  ``TaskEnv``, the task's hooks over the engine's physics (``envs/tasks``, ``envs/physics``);
* ``gym.make``: the same env behind gymnasium's TimeLimit / OrderEnforcing / PassiveEnvChecker;
* ``vector``: ``make_env(..., num_envs=1)``, the sequential vector env trainers use (a
  SyncVectorEnv with SAME_STEP autoreset);
* ``vector8``: the same with 8 sub-envs, counted in env steps (the per-call cost amortised);
* ``batched8``: where the task has one (CartPole on gymnasium), the batched vector env that
  ``vectorization="auto"`` picks (``CartPoleBatch``), with 8 sub-envs.

``direct`` and ``adapter`` replay the same random actions and never reset (the physics just keeps
going after a CartPole falls), so their ratio is the adapter's own cost. ``gym.make`` and
``vector`` reset when an episode ends, as they would in training. Each figure is the best of
several interleaved rounds.

Run ``python bench/envs_bench.py [--quick]``; ``run(quick)`` returns the numbers as a dict.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gymnasium.vector import SyncVectorEnv  # noqa: E402

from dnne_robot.envs import ENGINES, TASK_ENGINES, engine_installed, env_id, make_env  # noqa: E402
from dnne_robot.envs.tasks import CARTPOLE, PENDULUM, REACH, asset_path  # noqa: E402
from dnne_robot.envs.tasks.franka import FRANKA, FRANKA_FRONT, FRANKA_REACH  # noqa: E402

Loop = Callable[[int], None]


# -- direct engine loops ---------------------------------------------------------------------
def _direct_gymnasium(task: str, actions: list[Any]) -> Loop:
    import gymnasium as gym

    # gymnasium is its own engine: the direct loop is gymnasium's class, as a user makes it.
    env = gym.make({"CartPole": "CartPole-v1", "Pendulum": "Pendulum-v1"}[task]).unwrapped
    env.reset(seed=0)
    step = env.step

    def loop(n: int) -> None:
        for i in range(n):
            step(actions[i])

    return loop


def _direct_mujoco(task: str, actions: list[Any]) -> Loop:
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(asset_path(f"{task.lower()}.xml")))
    data = mujoco.MjData(model)
    mj_step = mujoco.mj_step
    qpos, qvel, ctrl = data.qpos, data.qvel, data.ctrl
    cos, sin = math.cos, math.sin

    if task == "CartPole":
        nstep, f, xl, tl = (
            CARTPOLE.substeps,
            CARTPOLE.force_mag,
            CARTPOLE.x_threshold,
            CARTPOLE.theta_threshold,
        )

        def loop(n: int) -> None:
            for i in range(n):
                ctrl[0] = f if actions[i] == 1 else -f
                mj_step(model, data, nstep)
                x, th = qpos.tolist()
                xd, thd = qvel.tolist()
                np.array((x, xd, th, thd), dtype=np.float32)
                _ = x < -xl or x > xl or th < -tl or th > tl

    elif task == "Pendulum":
        nstep, ms = PENDULUM.substeps, PENDULUM.max_speed

        def loop(n: int) -> None:
            for i in range(n):
                u = min(max(float(actions[i][0]), -2.0), 2.0)
                (th,) = qpos.tolist()
                (thd,) = qvel.tolist()
                a = ((th + math.pi) % (2 * math.pi)) - math.pi
                _ = -(a * a + 0.1 * thd * thd + 0.001 * u * u)
                ctrl[0] = u
                mj_step(model, data, nstep)
                (th,) = qpos.tolist()
                (thd,) = qvel.tolist()
                if abs(thd) > ms:
                    thd = math.copysign(ms, thd)
                    qvel[0] = thd
                np.array((cos(th), sin(th), thd), dtype=np.float32)

    else:
        nstep, length, tx, ty = REACH.substeps, REACH.link_length, 0.1, 0.05

        def loop(n: int) -> None:
            for i in range(n):
                a0, a1 = actions[i].tolist()
                ctrl[0], ctrl[1] = a0, a1
                mj_step(model, data, nstep)
                q1, q2 = qpos.tolist()
                w1, w2 = qvel.tolist()
                c1, s1, c12, s12 = cos(q1), sin(q1), cos(q1 + q2), sin(q1 + q2)
                dx, dy = length * (c1 + c12) - tx, length * (s1 + s12) - ty
                np.array((c1, cos(q2), s1, sin(q2), w1, w2, tx, ty, dx, dy), dtype=np.float32)
                _ = -math.sqrt(dx * dx + dy * dy) - 0.01 * (a0 * a0 + a1 * a1)

    return loop


def _direct_pybullet(task: str, actions: list[Any]) -> Loop:
    import pybullet as p

    cid = p.connect(p.DIRECT)
    body = p.loadURDF(
        str(asset_path(f"{task.lower()}.urdf")),
        useFixedBase=True,
        flags=p.URDF_USE_INERTIA_FROM_FILE,
        physicsClientId=cid,
    )
    joints = tuple(range(p.getNumJoints(body, physicsClientId=cid)))
    p.setJointMotorControlArray(
        body, joints, p.VELOCITY_CONTROL, forces=[0.0] * len(joints), physicsClientId=cid
    )
    for link in range(-1, len(joints)):
        p.changeDynamics(body, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid)
    torque = p.TORQUE_CONTROL
    cos, sin = math.cos, math.sin

    if task == "CartPole":
        sub, f = CARTPOLE.substeps, CARTPOLE.force_mag
        xl, tl = CARTPOLE.x_threshold, CARTPOLE.theta_threshold
        p.setGravity(0, 0, -CARTPOLE.gravity, physicsClientId=cid)
        p.setPhysicsEngineParameter(fixedTimeStep=CARTPOLE.dt, numSubSteps=sub, physicsClientId=cid)

        def loop(n: int) -> None:
            for i in range(n):
                force = f if actions[i] == 1 else -f
                p.setJointMotorControl2(body, 0, torque, force=force, physicsClientId=cid)
                p.stepSimulation(physicsClientId=cid)
                (x, xd, _, _), (th, thd, _, _) = p.getJointStates(body, joints, physicsClientId=cid)
                np.array((x, xd, th, thd), dtype=np.float32)
                _ = x < -xl or x > xl or th < -tl or th > tl

    elif task == "Pendulum":
        sub, ms = PENDULUM.substeps, PENDULUM.max_speed
        p.setGravity(0, 0, -PENDULUM.gravity, physicsClientId=cid)
        p.setPhysicsEngineParameter(fixedTimeStep=PENDULUM.dt, numSubSteps=sub, physicsClientId=cid)
        state = [0.0, 0.0]

        def loop(n: int) -> None:
            for i in range(n):
                u = min(max(float(actions[i][0]), -2.0), 2.0)
                th, thd = state
                a = ((th + math.pi) % (2 * math.pi)) - math.pi
                _ = -(a * a + 0.1 * thd * thd + 0.001 * u * u)
                p.setJointMotorControl2(body, 0, torque, force=u, physicsClientId=cid)
                p.stepSimulation(physicsClientId=cid)
                ((th, thd, _, _),) = p.getJointStates(body, joints, physicsClientId=cid)
                if abs(thd) > ms:
                    thd = math.copysign(ms, thd)
                    p.resetJointState(body, 0, th, thd, physicsClientId=cid)
                state[0], state[1] = th, thd
                np.array((cos(th), sin(th), thd), dtype=np.float32)

    else:
        sub, gear, length, tx, ty = REACH.substeps, REACH.gear, REACH.link_length, 0.1, 0.05
        p.setGravity(0, 0, 0, physicsClientId=cid)
        p.setPhysicsEngineParameter(
            fixedTimeStep=REACH.dt / sub, numSubSteps=0, physicsClientId=cid
        )

        def loop(n: int) -> None:
            for i in range(n):
                a0, a1 = actions[i].tolist()
                forces = (gear * a0, gear * a1)
                for _ in range(sub):
                    p.setJointMotorControlArray(
                        body, joints, torque, forces=forces, physicsClientId=cid
                    )
                    p.stepSimulation(physicsClientId=cid)
                (q1, w1, _, _), (q2, w2, _, _) = p.getJointStates(body, joints, physicsClientId=cid)
                c1, s1, c12, s12 = cos(q1), sin(q1), cos(q1 + q2), sin(q1 + q2)
                dx, dy = length * (c1 + c12) - tx, length * (s1 + s12) - ty
                np.array((c1, cos(q2), s1, sin(q2), w1, w2, tx, ty, dx, dy), dtype=np.float32)
                _ = -math.sqrt(dx * dx + dy * dy) - 0.01 * (a0 * a0 + a1 * a1)

    return loop


_DIRECT = {"gymnasium": _direct_gymnasium, "mujoco": _direct_mujoco, "pybullet": _direct_pybullet}


# -- FrankaReach: OSC from the engine's Jacobian and mass matrix, by hand -------------------------
#: Joints 0, 1, 3 take torques; 2, 4, 5, 6 and the fingers are held by position drives.
_F_CTRL, _F_HELD = [0, 1, 3], [2, 4, 5, 6]


class _Osc:
    """FrankaReach's per-step arithmetic, written out: action clip, OSC torques, the
    observation (13 float32 values), reward ``-d + 1 within 5 cm`` and the success flag."""

    def __init__(self) -> None:
        self.cmd = np.array(FRANKA.osc_cmd_limit)
        self.kp, self.kd = FRANKA.kp, 2.0 * math.sqrt(FRANKA.kp)
        self.kpn, self.kdn = FRANKA.kp_null, 2.0 * math.sqrt(FRANKA.kp_null)
        self.q0 = np.array(FRANKA.default_dof_pos[:7])
        self.effort = np.array(FRANKA.effort)
        self.eye = np.eye(7)
        self.target = np.array(_franka_start()[1])

    def torques(self, a: np.ndarray, q: np.ndarray, qd: np.ndarray, jac: np.ndarray,
                mass: np.ndarray) -> np.ndarray:
        dpose = a[:6] * self.cmd
        mass_inv = np.linalg.inv(mass)
        m_eef = np.linalg.inv(jac @ mass_inv @ jac.T)
        u = jac.T @ m_eef @ (self.kp * dpose - self.kd * (jac @ qd))
        j_bar = m_eef @ jac @ mass_inv
        u_null = self.kdn * -qd + self.kpn * ((self.q0 - q + math.pi) % (2 * math.pi) - math.pi)
        u += (self.eye - jac.T @ j_bar) @ (mass @ u_null)
        return np.clip(u, -self.effort, self.effort)

    def outputs(self, pos: np.ndarray, quat: np.ndarray, fingers: Any, t: float) -> None:
        if quat[0] < 0.0:
            quat = -quat
        obs = np.concatenate((self.target, pos, quat, fingers, (t,)))
        np.clip(obs, -5.0, 5.0).astype(np.float32)
        d = float(np.linalg.norm(pos - self.target))
        _ = -d + (1.0 if d < FRANKA_REACH.success_distance else 0.0)
        _ = d < FRANKA_REACH.success_distance


def _franka_start() -> tuple[list[float], tuple[float, float, float]]:
    """The joints and target of ``env.reset(seed=0)``, drawn as FrankaReach draws them (the
    target first), so the direct loop simulates the adapter's trajectory, contacts and all."""
    rng = np.random.default_rng(0)  # gymnasium's np_random for seed 0
    target = FRANKA_FRONT.sample_target(rng)
    return FRANKA_FRONT.sample_joints(rng).tolist(), target


def _direct_mujoco_franka(actions: list[Any]) -> Loop:
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(asset_path("franka/panda.xml")))
    data = mujoco.MjData(model)
    data.qpos[:] = _franka_start()[0]
    mujoco.mj_forward(model, data)
    site = model.site(FRANKA.grip_site).id
    motors = [model.actuator(n).id for n in ("panda_joint1", "panda_joint2", "panda_joint4")]
    drives = [model.actuator(f"panda_joint{j + 1}_drive").id for j in _F_HELD]
    fingers = [model.actuator(f"panda_finger_joint{i}_drive").id for i in (1, 2)]
    hold = data.qpos[_F_HELD].copy()
    osc, nv = _Osc(), model.nv
    jac, full, quat = np.empty((6, nv)), np.empty((nv, nv)), np.empty(4)
    qpos, qvel, ctrl = data.qpos, data.qvel, data.ctrl
    steps = [0]
    if hasattr(data, "qM"):  # mujoco 3.x: mj_fullM(m, dst, qM)
        def full_m() -> None:
            mujoco.mj_fullM(model, full, data.qM)
    else:  # mujoco 4: mj_fullM(m, d, dst)
        def full_m() -> None:
            mujoco.mj_fullM(model, data, full)

    def loop(n: int) -> None:
        for i in range(n):
            a = np.clip(np.asarray(actions[i], dtype=np.float64), -1.0, 1.0)
            mujoco.mj_jacSite(model, data, jac[:3], jac[3:], site)
            full_m()
            u = osc.torques(a, qpos[:7].copy(), qvel[:7].copy(), jac[:, :7], full[:7, :7])
            ctrl[drives] = hold
            ctrl[fingers] = FRANKA.upper[7] if a[6] >= 0.0 else FRANKA.lower[7]
            ctrl[motors] = u[_F_CTRL]
            mujoco.mj_step(model, data, 8)
            steps[0] += 1
            # mj_step leaves positions and the mass matrix of the state before it: refresh
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)
            mujoco.mj_crb(model, data)
            mujoco.mju_mat2Quat(quat, data.site_xmat[site])
            osc.outputs(data.site_xpos[site].copy(), quat[[1, 2, 3, 0]], qpos[7:9].copy(),
                        steps[0] * FRANKA.dt)

    return loop


def _direct_pybullet_franka(actions: list[Any]) -> Loop:
    import pybullet as p
    import pybullet_data

    cid = p.connect(p.DIRECT)
    body = p.loadURDF(
        str(Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"),
        basePosition=FRANKA.base_position,
        useFixedBase=True,
        flags=p.URDF_USE_INERTIA_FROM_FILE,
        physicsClientId=cid,
    )
    p.setGravity(0, 0, 0, physicsClientId=cid)
    sub = 4
    p.setPhysicsEngineParameter(fixedTimeStep=FRANKA.dt / sub, numSubSteps=0, physicsClientId=cid)
    infos = [p.getJointInfo(body, j, physicsClientId=cid)
             for j in range(p.getNumJoints(body, physicsClientId=cid))]
    joints = [j for j, info in enumerate(infos) if info[2] in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC)]
    hand = next(j for j, info in enumerate(infos) if info[12].decode() == "panda_hand")
    p.setJointMotorControlArray(body, joints, p.VELOCITY_CONTROL, forces=[0.0] * len(joints),
                                physicsClientId=cid)  # fmt: skip
    for link in range(-1, len(infos)):
        p.changeDynamics(body, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid)
    # The task's scene: its joint limits, the floor, the table (collides) and the arm's stand.
    for j, lower, upper in zip(joints, FRANKA.lower, FRANKA.upper, strict=True):
        p.changeDynamics(body, j, jointLowerLimit=lower, jointUpperLimit=upper,
                         physicsClientId=cid)  # fmt: skip
    p.loadURDF(str(Path(pybullet_data.getDataPath()) / "plane.urdf"), physicsClientId=cid)
    for size, position, collides in ((FRANKA.table_size, FRANKA.table_position, True),
                                     (FRANKA.stand_size, FRANKA.stand_position, False)):
        half = [s / 2 for s in size]
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
        collision = (p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
                     if collides else -1)
        p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=collision,
                          baseVisualShapeIndex=visual, basePosition=position, physicsClientId=cid)
    start = _franka_start()[0]
    for j, q in zip(joints, start, strict=True):
        p.resetJointState(body, j, q, 0.0, physicsClientId=cid)
    actuated = [joints[j] for j in _F_CTRL]
    drives = [joints[j] for j in (*_F_HELD, 7, 8)]
    drive_force = [FRANKA.effort[j] for j in _F_HELD] + [200.0, 200.0]
    hold = [start[j] for j in _F_HELD]
    offset = (0.0, 0.0, FRANKA.grip_offset)
    osc, zeros = _Osc(), [0.0] * len(joints)
    torque, position = p.TORQUE_CONTROL, p.POSITION_CONTROL
    states = p.getJointStates(body, joints, physicsClientId=cid)
    steps = [0]

    def loop(n: int) -> None:
        nonlocal states
        for i in range(n):
            a = np.clip(np.asarray(actions[i], dtype=np.float64), -1.0, 1.0)
            q = [s[0] for s in states]
            qd = np.array([s[1] for s in states[:7]])
            lin, ang = p.calculateJacobian(body, hand, offset, q, zeros, zeros,
                                           physicsClientId=cid)  # fmt: skip
            jac = np.vstack((np.array(lin), np.array(ang)))[:, :7]
            mass = np.array(p.calculateMassMatrix(body, q, physicsClientId=cid))[:7, :7]
            u = osc.torques(a, np.array(q[:7]), qd, jac, mass)[_F_CTRL].tolist()
            finger = FRANKA.upper[7] if a[6] >= 0.0 else FRANKA.lower[7]
            p.setJointMotorControlArray(
                body, drives, position, targetPositions=[*hold, finger, finger],
                forces=drive_force, positionGains=[0.3] * 6, velocityGains=[1.0] * 6,
                physicsClientId=cid,
            )
            for _ in range(sub):
                p.setJointMotorControlArray(body, actuated, torque, forces=u,
                                            physicsClientId=cid)  # fmt: skip
                p.stepSimulation(physicsClientId=cid)
            steps[0] += 1
            states = p.getJointStates(body, joints, physicsClientId=cid)
            link = p.getLinkState(body, hand, computeForwardKinematics=1, physicsClientId=cid)
            pos, orn = p.multiplyTransforms(link[4], link[5], offset, (0, 0, 0, 1))
            osc.outputs(np.array(pos), np.array(orn), [s[0] for s in states[7:9]],
                        steps[0] * FRANKA.dt)

    return loop


def _direct(task: str, engine: str, actions: list[Any]) -> Loop:
    if task == "FrankaReach":
        franka = {"mujoco": _direct_mujoco_franka, "pybullet": _direct_pybullet_franka}
        return franka[engine](actions)
    return _DIRECT[engine](task, actions)


#: Tasks timed over fewer steps (n / this): an OSC step costs ~10x a CartPole step.
SLOW_TASKS = {"FrankaReach": 10}
#: Tasks the benchmark leaves out, and why.
SKIPPED_TASKS = {
    "FrankaDNNE": "FrankaReach's robot, controller and scene (no reward): its row stands for both",
}


# -- adapter loops -----------------------------------------------------------------------------
def _adapter(task: str, engine: str, actions: list[Any]) -> Loop:
    import gymnasium as gym

    env = gym.make(env_id(task, engine)).unwrapped
    env.reset(seed=0)
    step = env.step

    def loop(n: int) -> None:
        for i in range(n):
            step(actions[i])

    return loop


def _wrapped(task: str, engine: str, actions: list[Any]) -> Loop:
    import gymnasium as gym

    env = gym.make(env_id(task, engine))
    env.reset(seed=0)
    step, reset = env.step, env.reset

    def loop(n: int) -> None:
        for i in range(n):
            _, _, terminated, truncated, _ = step(actions[i])
            if terminated or truncated:
                reset()

    return loop


def _vector(
    task: str, engine: str, actions: list[Any], num_envs: int = 1, vectorization: str = "sync"
) -> Loop:
    vec = make_env(task, engine, num_envs=num_envs, seed=0, vectorization=vectorization)
    vec.reset()
    batched = [np.stack([np.asarray(a)] * num_envs) for a in actions[: len(actions) // num_envs]]
    step = vec.step

    def loop(n: int) -> None:  # n env steps in all, num_envs per call
        for i in range(n // num_envs):
            step(batched[i])

    return loop


#: The clock ``_rate`` reads: wall time, or this process's CPU time (``--clock cpu``), which
#: other processes on a busy machine disturb far less (the loops are single-threaded).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _rate(loop: Loop, n: int) -> float:
    t0 = _clock()
    loop(n)
    return n / (_clock() - t0)


def run(quick: bool = False, only: tuple[str, ...] = (), clock: str = "wall",
        rounds: int | None = None) -> dict[str, Any]:
    """Time every task on every installed engine; returns ``{"results": [...], ...}``.

    ``only``: these tasks only; ``clock``: ``"wall"`` or ``"cpu"`` (see :data:`CLOCKS`);
    ``rounds``: the interleaved rounds (default 5, quick 3)."""
    global _clock
    _clock = CLOCKS[clock]
    warnings.simplefilter("ignore")  # CartPoleEnv warns when stepped past its end, as here
    n_all = 2_000 if quick else 20_000
    rounds = rounds or (3 if quick else 5)
    results: list[dict[str, Any]] = []
    for task, engines in TASK_ENGINES.items():
        if task in SKIPPED_TASKS:
            continue
        if only and task not in only:
            continue
        for engine in ENGINES:
            if engine not in engines:
                continue
            if not engine_installed(engine):
                results.append({"task": task, "engine": engine, "skipped": f"{engine} missing"})
                continue
            n = n_all // SLOW_TASKS.get(task, 1)
            space = make_env(task, engine).single_action_space
            space.seed(0)
            actions = [space.sample() for _ in range(n)]
            loops = {
                "direct": _direct(task, engine, actions),
                "adapter": _adapter(task, engine, actions),
                "gym.make": _wrapped(task, engine, actions),
                "vector": _vector(task, engine, actions),
                "vector8": _vector(task, engine, actions, num_envs=8),
            }
            if not isinstance(make_env(task, engine, vectorization="auto"), SyncVectorEnv):
                loops["batched8"] = _vector(task, engine, actions, 8, vectorization="batched")
            for loop in loops.values():  # warm up
                loop(min(200, n))
            best = dict.fromkeys(loops, 0.0)
            for _ in range(rounds):  # interleaved, so drift hits every variant alike
                for name, loop in loops.items():
                    best[name] = max(best[name], _rate(loop, n))
            row: dict[str, Any] = {"task": task, "engine": engine, "skipped": None, "steps": n}
            row.update({f"{k}_steps_per_s": round(v, 1) for k, v in best.items()})
            for name in ("adapter", "gym.make", "vector", "vector8"):
                row[f"{name}_overhead"] = round(best["direct"] / best[name], 3)
            if "batched8" in best:
                row["batched8_vs_vector8"] = round(best["batched8"] / best["vector8"], 2)
            results.append(row)
    return {"benchmark": "envs", "steps": n_all, "rounds": rounds, "clock": clock,
            "results": results}


def format_results(report: dict[str, Any]) -> str:
    """The ratio table: steps/s per variant and time per step relative to ``direct``."""
    head = (
        f"{'task':<11} {'engine':<10} {'direct/s':>10} {'adapter/s':>10} {'gym.make/s':>11} "
        f"{'vector/s':>10} {'vector8/s':>10} {'adapter x':>10} {'gym.make x':>11} "
        f"{'vector x':>9} {'vector8 x':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in report["results"]:
        if r["skipped"]:
            lines.append(f"{r['task']:<11} {r['engine']:<10} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{r['task']:<11} {r['engine']:<10} {r['direct_steps_per_s']:>10.0f} "
            f"{r['adapter_steps_per_s']:>10.0f} {r['gym.make_steps_per_s']:>11.0f} "
            f"{r['vector_steps_per_s']:>10.0f} {r['vector8_steps_per_s']:>10.0f} "
            f"{r['adapter_overhead']:>10.3f} {r['gym.make_overhead']:>11.3f} "
            f"{r['vector_overhead']:>9.3f} {r['vector8_overhead']:>10.3f}"
        )
    slow = ", ".join(f"{t}: {report['steps'] // k}" for t, k in SLOW_TASKS.items())
    lines.append(
        "x = time per step relative to the direct engine loop (1.10 = 10% slower); "
        f"{report['steps']} steps ({slow}), "
        f"best of {report['rounds']} rounds, {report.get('clock', 'wall')} clock"
    )
    for r in report["results"]:
        if r.get("batched8_vs_vector8"):
            lines.append(
                f"batched, 8 sub-envs ({r['task']} on {r['engine']}, vectorization='auto'): "
                f"{r['batched8_steps_per_s']:,.0f} env steps/s, "
                f"{r['batched8_vs_vector8']}x the 8-env SyncVectorEnv"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--task", action="append", default=[], choices=sorted(TASK_ENGINES),
                        help="time this task only (repeatable; default: every task)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time, or the process's CPU time (steadier on a busy machine)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 3)")
    args = parser.parse_args(argv)
    print(format_results(run(args.quick, tuple(args.task), args.clock, args.rounds)))


if __name__ == "__main__":
    main()
