"""MuJoCo physics: an MJCF model stepped with ``mujoco.mj_step``.

The only module of ``envs`` that uses ``mujoco`` (imported on first use, through
``engines.import_mujoco``). A control period is one ``mj_step(m, d, nstep)`` call; controls go
to ``data.ctrl`` (the actuators' ``gear`` applies), or to ``qfrc_applied`` on the hinge and slide
joints of a model without actuators. MuJoCo's automatic reset on bad accelerations is disabled,
so a blow-up shows as a non-finite state, which the env turns into an unstable episode end.
Snapshots are MuJoCo's full integration state (``mj_getState``), restored bit for bit.

It also snapshots gymnasium's own MuJoCo envs (``InvertedPendulum-v5``...) for ``envs/state.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..engines import import_mujoco
from ..errors import ModelFileError, RenderUnavailableError, StateNotSupportedError
from .base import ModelSpec, Physics, Position

#: The control period a model gets when neither the task nor the caller says (s).
DEFAULT_PERIOD = 0.02
#: MuJoCo's quaternion (w, x, y, z) -> (x, y, z, w).
_XYZW = np.array([1, 2, 3, 0], dtype=np.intp)


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


class MujocoPhysics(Physics):
    """One ``MjModel`` / ``MjData`` pair; see :class:`Physics` for the contract."""

    engine = "mujoco"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        width: int = 400,
        height: int = 300,
        camera: str | None = None,
    ) -> None:
        _refuse_urdf_options(spec)
        self._mujoco = mujoco = import_mujoco()
        self.model = model = load_mjcf(spec.path)
        model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)
        self.data = data = mujoco.MjData(model)
        substeps = spec.substeps
        if substeps is None:
            substeps = max(1, round(DEFAULT_PERIOD / model.opt.timestep))
        if substeps < 1:
            raise ValueError(f"frame_skip must be >= 1, got {substeps}")
        self.substeps = int(substeps)
        self.dt = float(model.opt.timestep) * self.substeps
        self.width = min(width, int(model.vis.global_.offwidth))
        self.height = min(height, int(model.vis.global_.offheight))
        self.camera = camera if camera is not None else spec.camera
        self._renderer: Any = None
        self._sites: dict[str, int] = {}
        # Views onto MjData's buffers: valid for the life of self.data, cheaper than attributes.
        self._qpos = data.qpos
        self._qvel = data.qvel
        self._ctrl = data.ctrl
        self._site_xpos = data.site_xpos
        self._site_xmat = data.site_xmat
        # Position actuators (an affine bias) are drives, set by set_drive_targets; the others
        # take set_control's values.
        none = int(mujoco.mjtBias.mjBIAS_NONE)
        biased = [i for i in range(model.nu) if int(model.actuator_biastype[i]) != none]
        self._drive_ids = np.array(biased, dtype=np.intp)
        self._has_drives = bool(biased)
        self._nv = int(model.nv)
        self._motor_ids = np.array(
            [i for i in range(model.nu) if i not in biased], dtype=np.intp
        )
        self._nu = int(model.nu) if not biased else -1  # -1: motors by index (below)
        self._kinematics_fresh = False
        self._site_ids: dict[str, int] = {}
        if model.nu > 0:
            self._dofs: np.ndarray | None = None
        else:  # no actuators: generalized forces on the hinge and slide joints
            kinds = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
            dofs = [
                int(model.jnt_dofadr[j])
                for j in range(model.njnt)
                if int(model.jnt_type[j]) in kinds
            ]
            self._dofs = np.array(dofs, dtype=np.intp)
        self._mj_step = mujoco.mj_step
        self._mj_jac_site = mujoco.mj_jacSite
        self._mat2quat = mujoco.mju_mat2Quat
        self._qm_in_data = hasattr(data, "qM")  # mujoco 3.x; mujoco 4's mj_fullM takes d
        self._state_sig = int(mujoco.mjtState.mjSTATE_INTEGRATION)
        self.qpos = self._qpos.tolist()
        self.qvel = self._qvel.tolist()

    @classmethod
    def require_engine(cls) -> None:
        import_mujoco()

    @classmethod
    def check_model_file(cls, path: str | os.PathLike[str]) -> None:
        load_mjcf(path)

    # -- state -----------------------------------------------------------------------------
    @property
    def nq(self) -> int:
        return int(self.model.nq)

    @property
    def nv(self) -> int:
        return int(self.model.nv)

    def initial_qpos(self) -> np.ndarray:
        return self.model.qpos0.copy()

    def reset(self, qpos: Sequence[float], qvel: Sequence[float]) -> None:
        self._mujoco.mj_resetData(self.model, self.data)
        self._qpos[:] = qpos
        self._qvel[:] = qvel
        self._mujoco.mj_forward(self.model, self.data)
        self._kinematics_fresh = True
        self.qpos = self._qpos.tolist()
        self.qvel = self._qvel.tolist()

    def set_joint_velocity(self, index: int, value: float) -> None:
        self._qvel[index] = value
        self.qvel = self._qvel.tolist()

    def state_vector(self) -> np.ndarray:
        return np.concatenate((self._qpos, self._qvel))

    # -- control and stepping --------------------------------------------------------------
    def set_control(self, values: Sequence[float]) -> None:
        if self._dofs is not None:
            self.data.qfrc_applied[self._dofs] = values
        elif self._nu < 0:  # the model has drives: the motors are some of the actuators
            self._ctrl[self._motor_ids] = values
        elif self._nu == 1:
            self._ctrl[0] = values[0]
        elif self._nu == 2:
            ctrl = self._ctrl
            ctrl[0] = values[0]
            ctrl[1] = values[1]
        else:
            self._ctrl[:] = values

    def set_drive_targets(self, values: Sequence[float]) -> None:
        if not self._has_drives:
            super().set_drive_targets(values)
        self._ctrl[self._drive_ids] = values

    def control_bounds(self, torque_limit: float | None) -> tuple[np.ndarray, np.ndarray]:
        if self._dofs is None:
            ranges = np.array(self.model.actuator_ctrlrange, dtype=np.float64)[self._motor_ids]
            limited = np.array(self.model.actuator_ctrllimited, dtype=bool)[self._motor_ids]
            return np.where(limited, ranges[:, 0], -1.0), np.where(limited, ranges[:, 1], 1.0)
        limit = 1.0 if torque_limit is None else torque_limit
        n = len(self._dofs)
        return np.full(n, -limit), np.full(n, limit)

    def step(self) -> None:
        self._mj_step(self.model, self.data, self.substeps)
        self._kinematics_fresh = False
        self.qpos = self._qpos.tolist()
        self.qvel = self._qvel.tolist()

    # -- kinematics and dynamics -----------------------------------------------------------
    def joint_names(self) -> tuple[str, ...]:
        model = self.model
        return tuple(model.joint(j).name for j in range(model.njnt))

    def joint_ranges(self) -> np.ndarray:
        ranges = np.array(self.model.jnt_range, dtype=np.float64)
        limited = np.array(self.model.jnt_limited, dtype=bool)
        return np.where(limited[:, None], ranges, [-np.inf, np.inf])

    def joint_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self._qpos[:n].copy(), self._qvel[:n].copy()

    def _fresh(self) -> None:
        """Positions, frames and the mass matrix of the current state.

        ``mj_step`` leaves them as they were before its last integration: recompute them once
        per state, on the first question about it (callers test ``_kinematics_fresh`` first).
        """
        mujoco, model, data = self._mujoco, self.model, self.data
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_crb(model, data)
        self._kinematics_fresh = True

    def _site(self, name: str) -> int:
        site = self._site_ids.get(name)
        if site is None:
            try:
                site = self._site_ids[name] = int(self.model.site(name).id)
            except KeyError:
                raise ModelFileError(f"the model has no site {name!r}") from None
        return site

    def site_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        site = self._site_ids.get(name)
        if site is None:
            site = self._site(name)
        if not self._kinematics_fresh:
            self._fresh()
        quat = np.empty(4)
        self._mat2quat(quat, self._site_xmat[site])
        return self._site_xpos[site].copy(), quat[_XYZW]

    def site_jacobian(self, name: str) -> np.ndarray:
        site = self._site_ids.get(name)
        if site is None:
            site = self._site(name)
        if not self._kinematics_fresh:
            self._fresh()
        jac = np.empty((6, self._nv))
        self._mj_jac_site(self.model, self.data, jac[:3], jac[3:], site)
        return jac

    def mass_matrix(self) -> np.ndarray:
        if not self._kinematics_fresh:
            self._fresh()
        nv = self._nv
        full = np.empty((nv, nv))
        if self._qm_in_data:  # mujoco 3.x: mj_fullM(m, dst, qM)
            self._mujoco.mj_fullM(self.model, full, self.data.qM)
        else:  # mujoco 4: mj_fullM(m, d, dst)
            self._mujoco.mj_fullM(self.model, self.data, full)
        return full

    # -- snapshots ---------------------------------------------------------------------------
    def capture(self) -> dict[str, Any]:
        """MuJoCo's full integration state (time, qpos, qvel, act, warmstart, ctrl, ...)."""
        mujoco = self._mujoco
        buf = np.empty(mujoco.mj_stateSize(self.model, self._state_sig), dtype=np.float64)
        mujoco.mj_getState(self.model, self.data, buf, self._state_sig)
        return {
            "engine": "mujoco",
            "nq": int(self.model.nq),
            "nv": int(self.model.nv),
            "physics": buf.tolist(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture`, bit for bit."""
        mujoco = self._mujoco
        size = mujoco.mj_stateSize(self.model, self._state_sig)
        if (
            state.get("engine") != "mujoco"
            or state.get("nq") != self.model.nq
            or state.get("nv") != self.model.nv
            or len(state["physics"]) != size
        ):
            raise StateNotSupportedError(
                f"the saved state does not fit this model "
                f"(expected a mujoco state with nq={self.model.nq}, nv={self.model.nv})"
            )
        buf = np.array(state["physics"], dtype=np.float64)
        mujoco.mj_setState(self.model, self.data, buf, self._state_sig)
        self._kinematics_fresh = False
        self.qpos = self._qpos.tolist()
        self.qvel = self._qvel.tolist()

    # -- rendering -------------------------------------------------------------------------
    def render(self, markers: Mapping[str, Position] | None = None) -> np.ndarray:
        """An RGB frame from ``mujoco.Renderer``; RenderUnavailableError without a GL backend."""
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
        for name, position in (markers or {}).items():
            site = self._sites.get(name)
            if site is None:
                site = self._sites[name] = self.model.site(name).id
            self.model.site_pos[site] = position
            self.data.site_xpos[site] = position
        self._renderer.update_scene(self.data, camera=-1 if self.camera is None else self.camera)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _refuse_urdf_options(spec: ModelSpec) -> None:
    """An MJCF states its own timestep, gravity, base and floor: refuse the URDF-only options."""
    given = [
        name
        for name, value, default in (
            ("timestep", spec.timestep, None),
            ("gravity", spec.gravity, None),
            ("actuated", spec.actuated, None),
            ("gear", spec.gear, None),
            ("fixed_base", spec.fixed_base, True),
            ("base_position", spec.base_position, None),
            ("ground", spec.ground, None),
        )
        if value != default
    ]
    if given:
        raise TypeError(
            f"{', '.join(given)} do not apply to an MJCF model, which states them itself "
            f"({spec.path})"
        )


PHYSICS = MujocoPhysics

# -- gymnasium's own MuJoCo envs (for envs/state.py) -------------------------------------------

# MjData arrays computed from the previous step that gymnasium's MuJoCo envs may read in step()
# before simulating (Ant-v5 and Humanoid-v5 read body positions left by the last mj_step).
_MJ_DERIVED = (
    "xpos", "xquat", "xmat", "xipos", "ximat", "xanchor", "xaxis",
    "geom_xpos", "geom_xmat", "site_xpos", "site_xmat", "cam_xpos", "cam_xmat",
    "subtree_com", "subtree_linvel", "subtree_angmom", "cinert", "cdof", "cvel", "cacc",
    "cfrc_int", "cfrc_ext", "qacc", "qfrc_actuator", "qfrc_bias", "qfrc_passive",
    "qfrc_constraint", "actuator_force", "actuator_length", "actuator_velocity",
    "ten_length", "ten_velocity", "sensordata", "energy",
)  # fmt: skip


def capture_gym_env(env: Any) -> dict[str, Any]:
    """A gymnasium MuJoCo env's integration state plus the derived arrays its step reads."""
    mujoco = import_mujoco()
    sig = int(mujoco.mjtState.mjSTATE_INTEGRATION)
    buf = np.empty(mujoco.mj_stateSize(env.model, sig), dtype=np.float64)
    mujoco.mj_getState(env.model, env.data, buf, sig)
    derived = {
        name: getattr(env.data, name).tolist()
        for name in _MJ_DERIVED
        if isinstance(getattr(env.data, name, None), np.ndarray)
    }
    return {"engine": "gymnasium_mujoco", "physics": buf.tolist(), "derived": derived}


def restore_gym_env(env: Any, state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_gym_env`."""
    mujoco = import_mujoco()
    sig = int(mujoco.mjtState.mjSTATE_INTEGRATION)
    buf = np.array(state["physics"], dtype=np.float64)
    if buf.size != mujoco.mj_stateSize(env.model, sig):
        raise StateNotSupportedError(
            f"{type(env).__name__}: the saved MuJoCo state does not fit this model"
        )
    mujoco.mj_setState(env.model, env.data, buf, sig)
    for name, values in state["derived"].items():
        getattr(env.data, name)[...] = np.array(values, dtype=np.float64).reshape(
            getattr(env.data, name).shape
        )
