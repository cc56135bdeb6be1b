"""Simulator benchmark: steps/s per task and engine, and adapter overhead.

For every task on every installed engine it times, side by side in one process:

* ``direct``: a hand-written loop on the engine's own API doing the same work per step as the
  adapter (the same physics substeps, reading the state, building the float32 observation,
  reward and termination), the way one would write it without ``dnne_robot.envs``;
* ``adapter``: the env's own ``step`` on the unwrapped env: for mujoco and pybullet a
  ``TaskEnv``, the task's hooks over the engine's physics (``envs/tasks``, ``envs/physics``);
* ``gym.make``: the same env behind gymnasium's TimeLimit / OrderEnforcing / PassiveEnvChecker;
* ``vector``: ``make_env(..., num_envs=1)``, the SyncVectorEnv (SAME_STEP autoreset) trainers use;
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


def _rate(loop: Loop, n: int) -> float:
    t0 = time.perf_counter()
    loop(n)
    return n / (time.perf_counter() - t0)


def run(quick: bool = False) -> dict[str, Any]:
    """Time every task on every installed engine; returns ``{"results": [...], ...}``."""
    warnings.simplefilter("ignore")  # CartPoleEnv warns when stepped past its end, as here
    n = 2_000 if quick else 20_000
    rounds = 3 if quick else 5
    results: list[dict[str, Any]] = []
    for task, engines in TASK_ENGINES.items():
        for engine in ENGINES:
            if engine not in engines:
                continue
            if not engine_installed(engine):
                results.append({"task": task, "engine": engine, "skipped": f"{engine} missing"})
                continue
            space = make_env(task, engine).single_action_space
            space.seed(0)
            actions = [space.sample() for _ in range(n)]
            loops = {
                "direct": _DIRECT[engine](task, actions),
                "adapter": _adapter(task, engine, actions),
                "gym.make": _wrapped(task, engine, actions),
                "vector": _vector(task, engine, actions),
                "vector8": _vector(task, engine, actions, num_envs=8),
            }
            if make_env(task, engine, vectorization="auto").__class__ is not SyncVectorEnv:
                loops["batched8"] = _vector(task, engine, actions, 8, vectorization="batched")
            for loop in loops.values():  # warm up
                loop(min(200, n))
            best = dict.fromkeys(loops, 0.0)
            for _ in range(rounds):  # interleaved, so drift hits every variant alike
                for name, loop in loops.items():
                    best[name] = max(best[name], _rate(loop, n))
            row: dict[str, Any] = {"task": task, "engine": engine, "skipped": None}
            row.update({f"{k}_steps_per_s": round(v, 1) for k, v in best.items()})
            for name in ("adapter", "gym.make", "vector", "vector8"):
                row[f"{name}_overhead"] = round(best["direct"] / best[name], 3)
            if "batched8" in best:
                row["batched8_vs_vector8"] = round(best["batched8"] / best["vector8"], 2)
            results.append(row)
    return {"benchmark": "envs", "steps": n, "rounds": rounds, "results": results}


def format_results(report: dict[str, Any]) -> str:
    """The ratio table: steps/s per variant and time per step relative to ``direct``."""
    head = (
        f"{'task':<9} {'engine':<10} {'direct/s':>10} {'adapter/s':>10} {'gym.make/s':>11} "
        f"{'vector/s':>10} {'vector8/s':>10} {'adapter x':>10} {'gym.make x':>11} "
        f"{'vector x':>9} {'vector8 x':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in report["results"]:
        if r["skipped"]:
            lines.append(f"{r['task']:<9} {r['engine']:<10} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{r['task']:<9} {r['engine']:<10} {r['direct_steps_per_s']:>10.0f} "
            f"{r['adapter_steps_per_s']:>10.0f} {r['gym.make_steps_per_s']:>11.0f} "
            f"{r['vector_steps_per_s']:>10.0f} {r['vector8_steps_per_s']:>10.0f} "
            f"{r['adapter_overhead']:>10.3f} {r['gym.make_overhead']:>11.3f} "
            f"{r['vector_overhead']:>9.3f} {r['vector8_overhead']:>10.3f}"
        )
    lines.append(
        "x = time per step relative to the direct engine loop (1.10 = 10% slower); "
        f"{report['steps']} steps, best of {report['rounds']} rounds"
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
    args = parser.parse_args(argv)
    print(format_results(run(quick=args.quick)))


if __name__ == "__main__":
    main()
