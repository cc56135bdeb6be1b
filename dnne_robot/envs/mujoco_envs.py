"""MuJoCo adapters: our own MJCF models stepped with ``mujoco.mj_step``.

Each task class owns a lean ``step``: write the control, run ``frame_skip`` physics steps in one
``mj_step(m, d, nstep)`` call, read ``qpos``/``qvel`` once as Python floats, build the float32
observation. MuJoCo's automatic reset on bad accelerations is disabled, so a blow-up shows as a
non-finite state, which ends the episode with ``info["unstable"] = True``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .engines import import_mujoco
from .errors import ModelFileError, RenderUnavailableError, StateNotSupportedError
from .stability import EndsUnstableEpisodes
from .tasks import (
    CARTPOLE,
    PENDULUM,
    REACH,
    asset_path,
    cartpole_reset,
    pendulum_reset,
)

_isfinite = math.isfinite
_cos = math.cos
_sin = math.sin


def load_mjcf(path: str | os.PathLike[str]) -> Any:
    """Compile an MJCF file into an ``MjModel``; a missing or invalid file is a ModelFileError."""
    mujoco = import_mujoco()
    file = Path(path)
    if not file.is_file():
        raise ModelFileError(f"MJCF file not found: {file}")
    try:
        return mujoco.MjModel.from_xml_path(str(file))
    except Exception as err:  # mujoco raises ValueError with the compiler's message
        raise ModelFileError(f"mujoco cannot load {file}: {err}") from err


class MujocoEnv(EndsUnstableEpisodes, gym.Env[np.ndarray, Any]):
    """Shared plumbing: model loading, reset, offscreen rendering, state snapshots."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        frame_skip: int | None = None,
        *,
        render_mode: str | None = None,
        width: int = 400,
        height: int = 300,
        camera: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self._mujoco = mujoco = import_mujoco()
        self.model = load_mjcf(model_path)
        self.model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)
        self.data = mujoco.MjData(self.model)
        if frame_skip is None:
            frame_skip = max(1, round(0.02 / self.model.opt.timestep))
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        self.frame_skip = int(frame_skip)
        self.dt = float(self.model.opt.timestep) * self.frame_skip
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.dt)}
        self.render_mode = render_mode
        self.width = min(width, int(self.model.vis.global_.offwidth))
        self.height = min(height, int(self.model.vis.global_.offheight))
        self.camera = camera
        self.unstable_count = 0
        self._renderer: Any = None
        # Views onto MjData's buffers: valid for the life of self.data, cheaper than attributes.
        self._qpos = self.data.qpos
        self._qvel = self.data.qvel
        self._ctrl = self.data.ctrl
        self._mj_step = mujoco.mj_step
        self._state_sig = int(mujoco.mjtState.mjSTATE_INTEGRATION)

    # -- physics helpers -------------------------------------------------------------------
    def _set_physics(self, qpos: Any, qvel: Any) -> None:
        self._mujoco.mj_resetData(self.model, self.data)
        self._qpos[:] = qpos
        self._qvel[:] = qvel

    # -- rendering -------------------------------------------------------------------------
    def _update_markers(self) -> None:
        """Hook: move visual-only markers (e.g. the Reach target) before a frame is drawn."""

    def render(self) -> np.ndarray | None:
        """An RGB frame ``(height, width, 3)`` from ``mujoco.Renderer`` when rgb_array is on."""
        if self.render_mode != "rgb_array":
            return None
        mujoco = self._mujoco
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            except Exception as err:
                gl = os.environ.get("MUJOCO_GL", "")
                raise RenderUnavailableError(
                    f"MuJoCo cannot render offscreen (MUJOCO_GL={gl!r}; "
                    f"set MUJOCO_GL=egl or osmesa): {err}"
                ) from err
        # Kinematics only: refreshes body/camera poses without touching the integration state.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        self._update_markers()
        self._renderer.update_scene(self.data, camera=-1 if self.camera is None else self.camera)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- state snapshots -------------------------------------------------------------------
    def _task_state(self) -> dict[str, Any]:
        return {}

    def _set_task_state(self, state: dict[str, Any]) -> None:
        del state

    def capture_sim_state(self) -> dict[str, Any]:
        """MuJoCo's full integration state (time, qpos, qvel, act, warmstart, ctrl, ...)."""
        mujoco = self._mujoco
        buf = np.empty(mujoco.mj_stateSize(self.model, self._state_sig), dtype=np.float64)
        mujoco.mj_getState(self.model, self.data, buf, self._state_sig)
        return {
            "engine": "mujoco",
            "nq": int(self.model.nq),
            "nv": int(self.model.nv),
            "physics": buf.tolist(),
            "task": self._task_state(),
        }

    def restore_sim_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture_sim_state`, bit for bit."""
        mujoco = self._mujoco
        size = mujoco.mj_stateSize(self.model, self._state_sig)
        if (
            state.get("engine") != "mujoco"
            or state.get("nq") != self.model.nq
            or state.get("nv") != self.model.nv
            or len(state["physics"]) != size
        ):
            raise StateNotSupportedError(
                f"{type(self).__name__}: the saved state does not fit this model "
                f"(expected a mujoco state with nq={self.model.nq}, nv={self.model.nv})"
            )
        buf = np.array(state["physics"], dtype=np.float64)
        mujoco.mj_setState(self.model, self.data, buf, self._state_sig)
        self._set_task_state(state["task"])


class CartPoleMujoco(MujocoEnv):
    """CartPole-v1 semantics on ``assets/cartpole.xml`` (4 x 5 ms Euler steps per 0.02 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        super().__init__(
            asset_path("cartpole.xml"),
            CARTPOLE.substeps,
            render_mode=render_mode,
            camera=render_kwargs.pop("camera", "track"),
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
        self._set_physics((x, theta), (x_dot, theta_dot))
        return np.array((x, x_dot, theta, theta_dot), dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if action == 1:
            self._ctrl[0] = self._force
        elif action == 0:
            self._ctrl[0] = -self._force
        else:
            raise ValueError(f"CartPole action must be 0 or 1, got {action!r}")
        self._mj_step(self.model, self.data, self.frame_skip)
        x, theta = self._qpos.tolist()
        x_dot, theta_dot = self._qvel.tolist()
        if not _isfinite(x + x_dot + theta + theta_dot):
            return self._unstable(4)
        xl, tl = self._x_limit, self._theta_limit
        terminated = x < -xl or x > xl or theta < -tl or theta > tl
        return np.array((x, x_dot, theta, theta_dot), dtype=np.float32), 1.0, terminated, False, {}


class PendulumMujoco(MujocoEnv):
    """Pendulum-v1 semantics on ``assets/pendulum.xml`` (5 x 10 ms Euler steps per 0.05 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        super().__init__(
            asset_path("pendulum.xml"),
            PENDULUM.substeps,
            render_mode=render_mode,
            camera=render_kwargs.pop("camera", "front"),
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
        self._set_physics((theta,), (theta_dot,))
        return np.array((_cos(theta), _sin(theta), theta_dot), dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        u = float(action[0])
        mt = self._max_torque
        u = -mt if u < -mt else mt if u > mt else u
        (theta,) = self._qpos.tolist()
        (theta_dot,) = self._qvel.tolist()
        # Pendulum-v1 scores the state before the step.
        th = ((theta + math.pi) % (2 * math.pi)) - math.pi
        cost = th * th + 0.1 * theta_dot * theta_dot + 0.001 * u * u
        self._ctrl[0] = u
        self._mj_step(self.model, self.data, self.frame_skip)
        (theta,) = self._qpos.tolist()
        (theta_dot,) = self._qvel.tolist()
        if not _isfinite(theta + theta_dot + u):
            return self._unstable(3)
        ms = self._max_speed
        if theta_dot > ms or theta_dot < -ms:
            theta_dot = ms if theta_dot > ms else -ms
            self._qvel[0] = theta_dot
        obs = np.array((_cos(theta), _sin(theta), theta_dot), dtype=np.float32)
        return obs, -cost, False, False, {}


class ReachMujoco(MujocoEnv):
    """Planar two-link Reach on ``assets/reach.xml`` (4 x 5 ms Euler steps per 0.02 s)."""

    def __init__(self, render_mode: str | None = None, **render_kwargs: Any) -> None:
        super().__init__(
            asset_path("reach.xml"),
            REACH.substeps,
            render_mode=render_mode,
            camera=render_kwargs.pop("camera", "top"),
            **render_kwargs,
        )
        self.observation_space = REACH.observation_space()
        self.action_space = REACH.action_space()
        self._length = REACH.link_length
        self._ctrl_cost = REACH.ctrl_cost
        self._target = (0.0, 0.0)
        self._target_site = self.model.site("target").id

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        q1, q2, tx, ty = REACH.sample_reset(self.np_random)
        self._target = (tx, ty)
        self._set_physics((q1, q2), (0.0, 0.0))
        return self._observation(q1, q2, 0.0, 0.0)[0], {}

    def _observation(self, q1: float, q2: float, w1: float, w2: float) -> tuple[np.ndarray, float]:
        return REACH.observation((q1, q2), (w1, w2), self._target)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a0, a1 = action.tolist() if isinstance(action, np.ndarray) else action
        a0 = -1.0 if a0 < -1.0 else 1.0 if a0 > 1.0 else float(a0)
        a1 = -1.0 if a1 < -1.0 else 1.0 if a1 > 1.0 else float(a1)
        ctrl = self._ctrl
        ctrl[0] = a0
        ctrl[1] = a1
        self._mj_step(self.model, self.data, self.frame_skip)
        q1, q2 = self._qpos.tolist()
        w1, w2 = self._qvel.tolist()
        if not _isfinite(q1 + q2 + w1 + w2 + a0 + a1):
            return self._unstable(10)
        obs, dist = self._observation(q1, q2, w1, w2)
        return obs, -dist - self._ctrl_cost * (a0 * a0 + a1 * a1), False, False, {}

    def _update_markers(self) -> None:
        tx, ty = self._target
        self.model.site_pos[self._target_site] = (tx, ty, 0.0)
        self.data.site_xpos[self._target_site] = (tx, ty, 0.0)

    def _task_state(self) -> dict[str, Any]:
        return {"target": list(self._target)}

    def _set_task_state(self, state: dict[str, Any]) -> None:
        tx, ty = state["target"]
        self._target = (float(tx), float(ty))


class MujocoModelEnv(MujocoEnv):
    """A generic env around any MJCF file (``make_env("robot.xml", "mujoco")``).

    Observation: ``concat(qpos, qvel)`` as float32. Action: the actuator controls, bounded by
    each actuator's ``ctrlrange`` (unlimited actuators get [-1, 1]); a model without actuators
    takes generalized forces on its hinge and slide joints, bounded by ``torque_limit``.
    Reward 0, never terminates except on instability; the horizon comes from the TimeLimit
    (1000 steps unless ``max_episode_steps`` says otherwise). Reset: the model's ``qpos0`` and
    zero velocity plus uniform noise of ``reset_noise``. ``frame_skip`` defaults to about 20 ms.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        frame_skip: int | None = None,
        reset_noise: float = 0.01,
        torque_limit: float = 1.0,
        render_mode: str | None = None,
        **render_kwargs: Any,
    ) -> None:
        if model_path is None:
            raise ModelFileError("the generic MuJoCo env needs model_path=<an MJCF .xml file>")
        super().__init__(model_path, frame_skip, render_mode=render_mode, **render_kwargs)
        mujoco = self._mujoco
        model = self.model
        self.reset_noise = float(reset_noise)
        self._nq, self._nv = int(model.nq), int(model.nv)
        if model.nu > 0:
            ranges = np.array(model.actuator_ctrlrange, dtype=np.float64)
            limited = np.array(model.actuator_ctrllimited, dtype=bool)
            low = np.where(limited, ranges[:, 0], -1.0)
            high = np.where(limited, ranges[:, 1], 1.0)
            self._act_buf = self.data.ctrl
            self._dofs: np.ndarray | None = None
        else:
            joint_types = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
            dofs = [
                int(model.jnt_dofadr[j])
                for j in range(model.njnt)
                if int(model.jnt_type[j]) in joint_types
            ]
            self._dofs = np.array(dofs, dtype=np.intp)
            low = np.full(len(dofs), -torque_limit)
            high = np.full(len(dofs), torque_limit)
            self._act_buf = self.data.qfrc_applied
        self._low, self._high = low, high
        self.action_space = spaces.Box(low.astype(np.float32), high.astype(np.float32))
        self.observation_space = spaces.Box(
            -np.inf, np.inf, shape=(self._nq + self._nv,), dtype=np.float32
        )

    def _obs(self) -> np.ndarray:
        return np.concatenate((self._qpos, self._qvel)).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        n = self.reset_noise
        qpos = self.model.qpos0 + self.np_random.uniform(-n, n, size=self._nq)
        qvel = self.np_random.uniform(-n, n, size=self._nv)
        self._set_physics(qpos, qvel)
        self._mujoco.mj_forward(self.model, self.data)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.clip(np.asarray(action, dtype=np.float64), self._low, self._high)
        if self._dofs is None:
            self._act_buf[:] = a
        else:
            self._act_buf[self._dofs] = a
        self._mj_step(self.model, self.data, self.frame_skip)
        obs = self._obs()
        if not np.isfinite(obs).all() or not np.isfinite(a).all():
            return self._unstable(obs.size)
        return obs, 0.0, False, False, {}
