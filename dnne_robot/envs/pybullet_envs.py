"""PyBullet adapters: URDF models in ``p.DIRECT`` mode, one physics client per env.

``p.connect(p.DIRECT)`` gives each env its own client id, passed as ``physicsClientId`` to every
call, so any number of envs live side by side in one process. Default velocity motors and
Bullet's default link damping are switched off and inertias come from the URDF
(``URDF_USE_INERTIA_FROM_FILE``), so the dynamics are the ones the model file states.

Undamped models run a control period as one ``stepSimulation`` call that Bullet splits into
``substeps`` (``numSubSteps``). Models with joint damping call ``stepSimulation`` once per
substep instead, re-applying the torques (Bullet clears them after every call): with
``numSubSteps`` Bullet applies joint damping over the whole period and the arm goes unstable.
Joint states are read with one batched ``getJointStates``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .engines import import_pybullet, pybullet_data_path
from .errors import ModelFileError, StateNotSupportedError
from .stability import EndsUnstableEpisodes
from .tasks import CARTPOLE, PENDULUM, REACH, asset_path, cartpole_reset, pendulum_reset

_isfinite = math.isfinite
_cos = math.cos
_sin = math.sin

Camera = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


def find_urdf(path: str | os.PathLike[str]) -> Path:
    """Resolve a URDF path as given, else inside ``pybullet_data``; else ModelFileError."""
    file = Path(path)
    if file.is_file():
        return file
    data = pybullet_data_path()
    if data is not None and not file.is_absolute() and (Path(data) / file).is_file():
        return Path(data) / file
    where = f" (also looked in pybullet_data at {data})" if data else ""
    raise ModelFileError(f"URDF file not found: {file}{where}")


class PyBulletEnv(EndsUnstableEpisodes, gym.Env[np.ndarray, Any]):
    """Shared plumbing: client, URDF loading, reset, TinyRenderer frames, state snapshots."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        urdf_path: str | os.PathLike[str],
        *,
        timestep: float,
        substeps: int,
        gravity: float,
        fixed_base: bool = True,
        base_position: tuple[float, float, float] = (0.0, 0.0, 0.0),
        substep_calls: bool = False,
        render_mode: str | None = None,
        width: int = 400,
        height: int = 300,
        camera: Camera = ((0.0, -4.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        self._p = p = import_pybullet()
        file = find_urdf(urdf_path)
        self._client = cid = p.connect(p.DIRECT)
        try:
            self.body = p.loadURDF(
                str(file),
                basePosition=base_position,
                useFixedBase=fixed_base,
                flags=p.URDF_USE_INERTIA_FROM_FILE,
                physicsClientId=cid,
            )
        except p.error as err:
            p.disconnect(physicsClientId=cid)
            raise ModelFileError(f"pybullet cannot load {file}: {err}") from err
        self.fixed_base = fixed_base
        self._base_position = tuple(float(v) for v in base_position)
        p.setGravity(0.0, 0.0, -gravity, physicsClientId=cid)
        if substep_calls:
            p.setPhysicsEngineParameter(fixedTimeStep=timestep, numSubSteps=0, physicsClientId=cid)
        else:
            p.setPhysicsEngineParameter(
                fixedTimeStep=timestep * substeps, numSubSteps=substeps, physicsClientId=cid
            )
        self.substeps = substeps
        self.substep_calls = substep_calls
        self.dt = timestep * substeps
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.dt)}
        n = p.getNumJoints(self.body, physicsClientId=cid)
        movable = (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC)
        infos = [p.getJointInfo(self.body, j, physicsClientId=cid) for j in range(n)]
        self.joints = tuple(j for j, info in enumerate(infos) if info[2] in movable)
        self.joint_effort = tuple(float(infos[j][10]) for j in self.joints)
        # Free joints: no default velocity motor, no Bullet-invented link damping.
        p.setJointMotorControlArray(
            self.body,
            self.joints,
            p.VELOCITY_CONTROL,
            forces=[0.0] * len(self.joints),
            physicsClientId=cid,
        )
        for link in range(-1, n):
            p.changeDynamics(
                self.body, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid
            )
        self.render_mode = render_mode
        self.width, self.height = width, height
        self.camera = camera
        self.unstable_count = 0
        # Bound once: the hot path avoids module attribute lookups.
        self._step_sim = p.stepSimulation
        self._get_states = p.getJointStates
        self._set_motor = p.setJointMotorControl2
        self._set_motors = p.setJointMotorControlArray
        self._torque = p.TORQUE_CONTROL

    # -- physics helpers -------------------------------------------------------------------
    def _set_joints(self, positions: Any, velocities: Any) -> None:
        p, cid = self._p, self._client
        for j, q, v in zip(self.joints, positions, velocities, strict=True):
            p.resetJointState(self.body, j, q, v, physicsClientId=cid)

    # -- rendering -------------------------------------------------------------------------
    def _update_markers(self) -> None:
        """Hook: move visual-only markers (e.g. the Reach target) before a frame is drawn."""

    def render(self) -> np.ndarray | None:
        """An RGB frame ``(height, width, 3)`` from Bullet's TinyRenderer when rgb_array is on."""
        if self.render_mode != "rgb_array":
            return None
        p, cid = self._p, self._client
        self._update_markers()
        eye, target, up = self.camera
        view = p.computeViewMatrix(eye, target, up, physicsClientId=cid)
        proj = p.computeProjectionMatrixFOV(
            fov=45.0,
            aspect=self.width / self.height,
            nearVal=0.02,
            farVal=50.0,
            physicsClientId=cid,
        )
        _, _, rgba, _, _ = p.getCameraImage(
            self.width,
            self.height,
            view,
            proj,
            renderer=p.ER_TINY_RENDERER,
            flags=p.ER_NO_SEGMENTATION_MASK,
            physicsClientId=cid,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(self.height, self.width, 4)[:, :, :3]

    def close(self) -> None:
        if getattr(self, "_client", None) is not None:
            try:
                self._p.disconnect(physicsClientId=self._client)
            except self._p.error:  # already gone
                pass
            self._client = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- state snapshots -------------------------------------------------------------------
    def _task_state(self) -> dict[str, Any]:
        return {}

    def _set_task_state(self, state: dict[str, Any]) -> None:
        del state

    def capture_sim_state(self) -> dict[str, Any]:
        """Joint positions/velocities (and the base pose/twist of a floating base)."""
        p, cid = self._p, self._client
        states = self._get_states(self.body, self.joints, physicsClientId=cid)
        base = None
        if not self.fixed_base:
            pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=cid)
            lin, ang = p.getBaseVelocity(self.body, physicsClientId=cid)
            base = [list(pos), list(orn), list(lin), list(ang)]
        return {
            "engine": "pybullet",
            "joints": [[float(s[0]), float(s[1])] for s in states],
            "base": base,
            "task": self._task_state(),
        }

    def restore_sim_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture_sim_state`."""
        if state.get("engine") != "pybullet" or len(state["joints"]) != len(self.joints):
            raise StateNotSupportedError(
                f"{type(self).__name__}: the saved state does not fit this model "
                f"(expected a pybullet state with {len(self.joints)} joints)"
            )
        p, cid = self._p, self._client
        qs = [q for q, _ in state["joints"]]
        vs = [v for _, v in state["joints"]]
        self._set_joints(qs, vs)
        if state["base"] is not None:
            pos, orn, lin, ang = state["base"]
            p.resetBasePositionAndOrientation(self.body, pos, orn, physicsClientId=cid)
            p.resetBaseVelocity(self.body, lin, ang, physicsClientId=cid)
        self._set_task_state(state["task"])


class CartPolePyBullet(PyBulletEnv):
    """CartPole-v1 semantics on ``assets/cartpole.urdf`` (4 x 5 ms steps per 0.02 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        render_kwargs.setdefault("camera", ((0.0, -4.5, 0.6), (0.0, 0.0, 0.6), (0.0, 0.0, 1.0)))
        super().__init__(
            asset_path("cartpole.urdf"),
            timestep=CARTPOLE.dt / CARTPOLE.substeps,
            substeps=CARTPOLE.substeps,
            gravity=CARTPOLE.gravity,
            render_mode=render_mode,
            **render_kwargs,
        )
        self.observation_space = CARTPOLE.observation_space()
        self.action_space = CARTPOLE.action_space()
        self._force = CARTPOLE.force_mag
        self._x_limit = CARTPOLE.x_threshold
        self._theta_limit = CARTPOLE.theta_threshold

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        x, x_dot, theta, theta_dot = cartpole_reset(self.np_random)
        self._set_joints((x, theta), (x_dot, theta_dot))
        return np.array((x, x_dot, theta, theta_dot), dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action == 1:
            force = self._force
        elif action == 0:
            force = -self._force
        else:
            raise ValueError(f"CartPole action must be 0 or 1, got {action!r}")
        cid, body = self._client, self.body
        self._set_motor(body, 0, self._torque, force=force, physicsClientId=cid)
        self._step_sim(physicsClientId=cid)
        (x, x_dot, _, _), (theta, theta_dot, _, _) = self._get_states(
            body, self.joints, physicsClientId=cid
        )
        if not _isfinite(x + x_dot + theta + theta_dot):
            return self._unstable(4)
        xl, tl = self._x_limit, self._theta_limit
        terminated = x < -xl or x > xl or theta < -tl or theta > tl
        return np.array((x, x_dot, theta, theta_dot), dtype=np.float32), 1.0, terminated, False, {}


class PendulumPyBullet(PyBulletEnv):
    """Pendulum-v1 semantics on ``assets/pendulum.urdf`` (5 x 10 ms steps per 0.05 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        render_kwargs.setdefault("camera", ((0.0, -3.5, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)))
        super().__init__(
            asset_path("pendulum.urdf"),
            timestep=PENDULUM.dt / PENDULUM.substeps,
            substeps=PENDULUM.substeps,
            gravity=PENDULUM.gravity,
            render_mode=render_mode,
            **render_kwargs,
        )
        self.observation_space = PENDULUM.observation_space()
        self.action_space = PENDULUM.action_space()
        self._max_torque = PENDULUM.max_torque
        self._max_speed = PENDULUM.max_speed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        theta, theta_dot = pendulum_reset(self.np_random)
        self._set_joints((theta,), (theta_dot,))
        self._theta, self._theta_dot = theta, theta_dot
        return np.array((_cos(theta), _sin(theta), theta_dot), dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        u = float(action[0])
        mt = self._max_torque
        u = -mt if u < -mt else mt if u > mt else u
        # Pendulum-v1 scores the state before the step.
        theta, theta_dot = self._theta, self._theta_dot
        th = ((theta + math.pi) % (2 * math.pi)) - math.pi
        cost = th * th + 0.1 * theta_dot * theta_dot + 0.001 * u * u
        cid, body = self._client, self.body
        self._set_motor(body, 0, self._torque, force=u, physicsClientId=cid)
        self._step_sim(physicsClientId=cid)
        ((theta, theta_dot, _, _),) = self._get_states(body, self.joints, physicsClientId=cid)
        if not _isfinite(theta + theta_dot + u):
            return self._unstable(3)
        ms = self._max_speed
        if theta_dot > ms or theta_dot < -ms:
            theta_dot = ms if theta_dot > ms else -ms
            self._p.resetJointState(body, 0, theta, theta_dot, physicsClientId=cid)
        self._theta, self._theta_dot = theta, theta_dot
        obs = np.array((_cos(theta), _sin(theta), theta_dot), dtype=np.float32)
        return obs, -cost, False, False, {}

    def restore_sim_state(self, state: dict[str, Any]) -> None:
        super().restore_sim_state(state)
        ((self._theta, self._theta_dot),) = state["joints"]


class ReachPyBullet(PyBulletEnv):
    """Planar two-link Reach on ``assets/reach.urdf`` (4 x 5 ms steps per 0.02 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        render_kwargs.setdefault("camera", ((0.0, 0.0, 0.6), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)))
        super().__init__(
            asset_path("reach.urdf"),
            timestep=REACH.dt / REACH.substeps,
            substeps=REACH.substeps,
            gravity=0.0,
            substep_calls=True,  # the joints are damped
            render_mode=render_mode,
            **render_kwargs,
        )
        self.observation_space = REACH.observation_space()
        self.action_space = REACH.action_space()
        self._length = REACH.link_length
        self._gear = REACH.gear
        self._ctrl_cost = REACH.ctrl_cost
        self._target = (0.0, 0.0)
        self._marker: int | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        q1, q2, tx, ty = REACH.sample_reset(self.np_random)
        self._target = (tx, ty)
        self._set_joints((q1, q2), (0.0, 0.0))
        return self._observation(q1, q2, 0.0, 0.0)[0], {}

    def _observation(self, q1: float, q2: float, w1: float, w2: float) -> tuple[np.ndarray, float]:
        return REACH.observation((q1, q2), (w1, w2), self._target)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a0, a1 = action.tolist() if isinstance(action, np.ndarray) else action
        a0 = -1.0 if a0 < -1.0 else 1.0 if a0 > 1.0 else float(a0)
        a1 = -1.0 if a1 < -1.0 else 1.0 if a1 > 1.0 else float(a1)
        cid, body, joints, torque, gear = (
            self._client,
            self.body,
            self.joints,
            self._torque,
            self._gear,
        )
        forces = (gear * a0, gear * a1)
        for _ in range(self.substeps):
            self._set_motors(body, joints, torque, forces=forces, physicsClientId=cid)
            self._step_sim(physicsClientId=cid)
        (q1, w1, _, _), (q2, w2, _, _) = self._get_states(body, joints, physicsClientId=cid)
        if not _isfinite(q1 + q2 + w1 + w2 + a0 + a1):
            return self._unstable(10)
        obs, dist = self._observation(q1, q2, w1, w2)
        return obs, -dist - self._ctrl_cost * (a0 * a0 + a1 * a1), False, False, {}

    def _update_markers(self) -> None:
        p, cid = self._p, self._client
        if self._marker is None:  # created lazily so rendering never changes the physics world
            shape = p.createVisualShape(
                p.GEOM_SPHERE, radius=0.015, rgbaColor=(0.9, 0.2, 0.2, 1.0), physicsClientId=cid
            )
            self._marker = p.createMultiBody(
                baseMass=0.0, baseVisualShapeIndex=shape, physicsClientId=cid
            )
        tx, ty = self._target
        p.resetBasePositionAndOrientation(
            self._marker, (tx, ty, 0.0), (0.0, 0.0, 0.0, 1.0), physicsClientId=cid
        )

    def _task_state(self) -> dict[str, Any]:
        return {"target": list(self._target)}

    def _set_task_state(self, state: dict[str, Any]) -> None:
        tx, ty = state["target"]
        self._target = (float(tx), float(ty))


class PyBulletModelEnv(PyBulletEnv):
    """A generic env around any URDF file (``make_env("robot.urdf", "pybullet")``).

    Relative paths that do not exist are looked up in ``pybullet_data``
    (``"kuka_iiwa/model.urdf"``). Observation: positions then velocities of the
    revolute/prismatic joints, plus, for a floating base, base position (3), quaternion (4),
    linear (3) and angular (3) velocity; float32.
    Action: joint torques bounded by the URDF ``effort`` limit (``torque_limit`` when the URDF
    gives none, or always when ``torque_limit`` is passed). Reward 0, never terminates except on
    instability; horizon from the TimeLimit (1000 steps by default). Physics: ``timestep`` x
    ``frame_skip`` (default 5 ms x 4 = 0.02 s), gravity 9.81, a ground plane for a floating base.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        fixed_base: bool = True,
        base_position: tuple[float, float, float] | None = None,
        timestep: float = 0.005,
        frame_skip: int = 4,
        gravity: float = 9.81,
        ground: bool | None = None,
        reset_noise: float = 0.01,
        torque_limit: float | None = None,
        render_mode: str | None = None,
        **render_kwargs: Any,
    ) -> None:
        if model_path is None:
            raise ModelFileError("the generic PyBullet env needs model_path=<a .urdf file>")
        if base_position is None:
            base_position = (0.0, 0.0, 0.0) if fixed_base else (0.0, 0.0, 1.0)
        render_kwargs.setdefault("camera", ((1.5, -1.5, 1.2), (0.0, 0.0, 0.3), (0.0, 0.0, 1.0)))
        super().__init__(
            model_path,
            timestep=timestep,
            substeps=frame_skip,
            gravity=gravity,
            fixed_base=fixed_base,
            base_position=base_position,
            substep_calls=True,  # URDF joints are often damped
            render_mode=render_mode,
            **render_kwargs,
        )
        p, cid = self._p, self._client
        if ground if ground is not None else not fixed_base:
            p.loadURDF(str(find_urdf("plane.urdf")), physicsClientId=cid)
        self.reset_noise = float(reset_noise)
        limits = [
            torque_limit if torque_limit is not None else (e if e > 0 else 1.0)
            for e in self.joint_effort
        ]
        self._high = np.array(limits, dtype=np.float64)
        self.action_space = spaces.Box(
            -self._high.astype(np.float32), self._high.astype(np.float32)
        )
        n = 2 * len(self.joints) + (0 if fixed_base else 13)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)

    def _obs(self) -> np.ndarray:
        p, cid = self._p, self._client
        states = self._get_states(self.body, self.joints, physicsClientId=cid)
        values = [s[0] for s in states] + [s[1] for s in states]
        if not self.fixed_base:
            pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=cid)
            lin, ang = p.getBaseVelocity(self.body, physicsClientId=cid)
            values += [*pos, *orn, *lin, *ang]
        return np.array(values, dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        p, cid = self._p, self._client
        n, k = self.reset_noise, len(self.joints)
        noise = self.np_random.uniform(-n, n, size=2 * k).tolist()
        self._set_joints(noise[:k], noise[k:])
        if not self.fixed_base:
            p.resetBasePositionAndOrientation(
                self.body, self._base_position, (0.0, 0.0, 0.0, 1.0), physicsClientId=cid
            )
            p.resetBaseVelocity(self.body, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), physicsClientId=cid)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64), -self._high, self._high)
        if not np.isfinite(a).all():
            return self._unstable(self.observation_space.shape[0])
        forces, cid = a.tolist(), self._client
        for _ in range(self.substeps):
            self._set_motors(
                self.body, self.joints, self._torque, forces=forces, physicsClientId=cid
            )
            self._step_sim(physicsClientId=cid)
        obs = self._obs()
        if not np.isfinite(obs).all():
            return self._unstable(obs.size)
        return obs, 0.0, False, False, {}
