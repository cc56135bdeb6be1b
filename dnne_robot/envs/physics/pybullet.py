"""PyBullet physics: a URDF model in ``p.DIRECT`` mode, one physics client per instance.

The only module of ``envs`` that uses ``pybullet`` (imported on first use, through
``engines.import_pybullet``). ``p.connect(p.DIRECT)`` gives each instance its own client id,
passed as ``physicsClientId`` to every call, so any number live side by side in one process.
Default velocity motors and Bullet's default link damping are switched off and inertias come
from the URDF (``URDF_USE_INERTIA_FROM_FILE``), so the dynamics are the ones the file states.

Undamped models run a control period as one ``stepSimulation`` call that Bullet splits into
``substeps`` (``numSubSteps``), with the torques set once. Models with joint damping
(``ModelSpec.damped``) call ``stepSimulation`` once per substep instead, re-applying the torques
each time (Bullet clears them after every call): with ``numSubSteps`` Bullet applies joint
damping over the whole period and the arm goes unstable. Joint states are read with one batched
``getJointStates`` per period.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from ..engines import import_pybullet, pybullet_data_path
from ..errors import ModelFileError, StateNotSupportedError
from .base import ModelSpec, Physics, Position

Camera = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]

DEFAULT_TIMESTEP = 0.005
DEFAULT_SUBSTEPS = 4
DEFAULT_GRAVITY = 9.81
DEFAULT_CAMERA: Camera = ((0.0, -4.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0))
_MARKER_RADIUS = 0.015
_MARKER_RGBA = (0.9, 0.2, 0.2, 1.0)
#: A joint's position and velocity in ``getJointStates``' answer.
_POSITION, _VELOCITY = itemgetter(0), itemgetter(1)


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


class PyBulletPhysics(Physics):
    """One URDF body in its own DIRECT client; see :class:`Physics` for the contract."""

    engine = "pybullet"

    def __init__(
        self,
        spec: ModelSpec,
        *,
        width: int = 400,
        height: int = 300,
        camera: Camera | None = None,
    ) -> None:
        timestep = DEFAULT_TIMESTEP if spec.timestep is None else spec.timestep
        substeps = DEFAULT_SUBSTEPS if spec.substeps is None else spec.substeps
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        fixed_base = spec.fixed_base
        base_position = spec.base_position
        if base_position is None:
            base_position = (0.0, 0.0, 0.0) if fixed_base else (0.0, 0.0, 1.0)
        self._p = p = import_pybullet()
        file = find_urdf(spec.path)
        self.client = cid = p.connect(p.DIRECT)
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
            self.client = None
            raise ModelFileError(f"pybullet cannot load {file}: {err}") from err
        self.fixed_base = fixed_base
        self._base_position = tuple(float(v) for v in base_position)
        gravity = DEFAULT_GRAVITY if spec.gravity is None else spec.gravity
        p.setGravity(0.0, 0.0, -gravity, physicsClientId=cid)
        self.substep_calls = spec.damped
        if self.substep_calls:
            p.setPhysicsEngineParameter(fixedTimeStep=timestep, numSubSteps=0, physicsClientId=cid)
        else:
            p.setPhysicsEngineParameter(
                fixedTimeStep=timestep * substeps, numSubSteps=substeps, physicsClientId=cid
            )
        self.substeps = int(substeps)
        self.dt = timestep * substeps
        n = p.getNumJoints(self.body, physicsClientId=cid)
        movable = (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC)
        infos = [p.getJointInfo(self.body, j, physicsClientId=cid) for j in range(n)]
        self.joints = tuple(j for j, info in enumerate(infos) if info[2] in movable)
        self._n = len(self.joints)
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
        self._names = tuple(infos[j][1].decode() for j in self.joints)
        self._links = {info[12].decode(): j for j, info in enumerate(infos)}
        if spec.joint_limits is not None:
            for j, (lower, upper) in zip(self.joints, spec.joint_limits, strict=True):
                p.changeDynamics(self.body, j, jointLowerLimit=lower, jointUpperLimit=upper,
                                 physicsClientId=cid)  # fmt: skip
            self._ranges = np.array(spec.joint_limits, dtype=np.float64)
        else:
            self._ranges = np.array([infos[j][8:10] for j in self.joints], dtype=np.float64)
        self._sites = {site.name: site for site in spec.sites}
        self._site_frames: dict[str, tuple[int, tuple[float, float, float]]] = {}
        # Position drives: Bullet's motor constraint, solved with the contacts (implicit).
        self._drives = tuple(self.joints[i] for i in spec.drives)
        self._drive_force = list(spec.drive_force) or [1.0] * len(self._drives)
        kp, kd = spec.drive_gains
        self._drive_kp, self._drive_kd = [kp] * len(self._drives), [kd] * len(self._drives)
        ground = spec.ground if spec.ground is not None else not fixed_base
        if ground:
            p.loadURDF(str(find_urdf("plane.urdf")), physicsClientId=cid)
        for box in spec.boxes:
            visual = p.createVisualShape(p.GEOM_BOX, halfExtents=box.half_extents,
                                         rgbaColor=box.rgba, physicsClientId=cid)  # fmt: skip
            collision = (
                p.createCollisionShape(p.GEOM_BOX, halfExtents=box.half_extents,
                                       physicsClientId=cid)  # fmt: skip
                if box.collides
                else -1
            )
            p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=collision,
                              baseVisualShapeIndex=visual, basePosition=box.position,
                              physicsClientId=cid)  # fmt: skip
        actuated = range(len(self.joints)) if spec.actuated is None else spec.actuated
        self.actuated = tuple(self.joints[i] for i in actuated)
        self._gear = spec.gear
        single = len(self.actuated) == 1 and not self.substep_calls
        self._single_motor = self.actuated[0] if single else None
        self._forces: Sequence[float] = [0.0] * len(self.actuated)
        self._zeros = [0.0] * len(self.joints)  # the velocities and accelerations of a Jacobian
        self.width, self.height = width, height
        self.camera: Camera = camera or spec.camera or DEFAULT_CAMERA
        self._markers: dict[str, int] = {}
        # Bound once: the hot path avoids module attribute lookups.
        self._step_sim = p.stepSimulation
        self._get_states = p.getJointStates
        self._set_motor = p.setJointMotorControl2
        self._set_motors = p.setJointMotorControlArray
        self._torque = p.TORQUE_CONTROL
        self._position = p.POSITION_CONTROL
        self._read()

    @classmethod
    def require_engine(cls) -> None:
        import_pybullet()

    @classmethod
    def check_model_file(cls, path: str | os.PathLike[str]) -> None:
        find_urdf(path)

    # -- state -----------------------------------------------------------------------------
    @property
    def nq(self) -> int:
        return len(self.joints)

    @property
    def nv(self) -> int:
        return len(self.joints)

    def initial_qpos(self) -> np.ndarray:
        return np.zeros(len(self.joints))

    def _read(self) -> None:
        self._split(self._get_states(self.body, self.joints, physicsClientId=self.client))

    def _set_joints(self, positions: Sequence[float], velocities: Sequence[float]) -> None:
        p, cid = self._p, self.client
        for j, q, v in zip(self.joints, positions, velocities, strict=True):
            p.resetJointState(self.body, j, q, v, physicsClientId=cid)

    def reset(self, qpos: Sequence[float], qvel: Sequence[float]) -> None:
        self._forces = [0.0] * len(self.actuated)
        self._set_joints(qpos, qvel)
        if not self.fixed_base:
            p, cid = self._p, self.client
            p.resetBasePositionAndOrientation(
                self.body, self._base_position, (0.0, 0.0, 0.0, 1.0), physicsClientId=cid
            )
            p.resetBaseVelocity(self.body, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), physicsClientId=cid)
        self._read()

    def set_joint_velocity(self, index: int, value: float) -> None:
        position = self.qpos[index]
        self._p.resetJointState(
            self.body, self.joints[index], position, value, physicsClientId=self.client
        )
        qvel = list(self.qvel)
        qvel[index] = value
        self.qvel = tuple(qvel)

    def state_vector(self) -> np.ndarray:
        values = [*self.qpos, *self.qvel]
        if not self.fixed_base:
            p, cid = self._p, self.client
            pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=cid)
            lin, ang = p.getBaseVelocity(self.body, physicsClientId=cid)
            values = [*values, *pos, *orn, *lin, *ang]
        return np.array(values, dtype=np.float64)

    # -- control and stepping --------------------------------------------------------------
    def set_control(self, values: Sequence[float]) -> None:
        gear = self._gear
        if gear is None:  # pybullet reads a list faster than an array, 4 times per damped step
            self._forces = values.tolist() if isinstance(values, np.ndarray) else values
        else:
            self._forces = [g * v for g, v in zip(gear, values, strict=True)]

    def set_drive_targets(self, values: Sequence[float]) -> None:
        if not self._drives:
            super().set_drive_targets(values)
        self._set_motors(
            self.body, self._drives, self._position, targetPositions=values,
            forces=self._drive_force, positionGains=self._drive_kp, velocityGains=self._drive_kd,
            physicsClientId=self.client,
        )

    def control_bounds(self, torque_limit: float | None) -> tuple[np.ndarray, np.ndarray]:
        efforts = [self.joint_effort[self.joints.index(j)] for j in self.actuated]
        limits = [
            torque_limit if torque_limit is not None else (e if e > 0 else 1.0) for e in efforts
        ]
        high = np.array(limits, dtype=np.float64)
        return -high, high

    def step(self) -> None:
        cid, body, forces = self.client, self.body, self._forces
        if self._single_motor is not None:  # once per period, on the one actuated joint
            self._set_motor(body, self._single_motor, self._torque, force=forces[0],
                            physicsClientId=cid)  # fmt: skip
            self._step_sim(physicsClientId=cid)
        elif not self.substep_calls:  # once per period
            self._set_motors(body, self.actuated, self._torque, forces=forces,
                             physicsClientId=cid)  # fmt: skip
            self._step_sim(physicsClientId=cid)
        else:  # damped joints: torques before every physics step
            set_motors, step_sim, joints, torque = (
                self._set_motors,
                self._step_sim,
                self.actuated,
                self._torque,
            )
            for _ in range(self.substeps):
                set_motors(body, joints, torque, forces=forces, physicsClientId=cid)
                step_sim(physicsClientId=cid)
        # Inlined _split for the usual one or two joints: this runs once per control period.
        states = self._get_states(body, self.joints, physicsClientId=cid)
        n = self._n
        if n == 1:
            ((q0, v0, _, _),) = states
            self.qpos, self.qvel = (q0,), (v0,)
        elif n == 2:
            (q0, v0, _, _), (q1, v1, _, _) = states
            self.qpos, self.qvel = (q0, q1), (v0, v1)
        else:
            self._split(states)

    # -- kinematics and dynamics -----------------------------------------------------------
    def joint_names(self) -> tuple[str, ...]:
        return self._names

    def joint_ranges(self) -> np.ndarray:
        return self._ranges.copy()

    def _site_frame(self, name: str) -> tuple[int, tuple[float, float, float]]:
        """The site's link and its offset in the link's URDF frame (the frame
        ``calculateJacobian`` takes its local position in, as pybullet's own examples pass
        ``getLinkState``'s inertial offset to get the centre of mass's Jacobian)."""
        frame = self._site_frames.get(name)
        if frame is None:
            site = self._sites.get(name)
            if site is None or site.link not in self._links:
                raise ModelFileError(f"the model has no site {name!r}")
            frame = self._site_frames[name] = (self._links[site.link], site.offset)
        return frame

    def site_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        link, offset = self._site_frames.get(name) or self._site_frame(name)
        p = self._p
        state = p.getLinkState(self.body, link, computeForwardKinematics=1,
                               physicsClientId=self.client)  # fmt: skip
        pos, orn = p.multiplyTransforms(state[4], state[5], offset, (0, 0, 0, 1))
        return np.array(pos), np.array(orn)

    def site_jacobian(self, name: str) -> np.ndarray:
        link, local = self._site_frames.get(name) or self._site_frame(name)
        zeros = self._zeros
        # pybullet answers (linear, angular), each 3 rows of nv: one (2, 3, nv) array.
        jac = self._p.calculateJacobian(
            self.body, link, local, self.qpos, zeros, zeros, physicsClientId=self.client
        )
        return np.array(jac).reshape(6, -1)

    def mass_matrix(self) -> np.ndarray:
        return np.array(
            self._p.calculateMassMatrix(self.body, self.qpos, physicsClientId=self.client)
        )

    def _split(self, states: Sequence[Sequence[Any]]) -> None:
        """Joint states (``getJointStates``) -> ``qpos``, ``qvel``."""
        self.qpos = tuple(map(_POSITION, states))
        self.qvel = tuple(map(_VELOCITY, states))

    # -- snapshots ---------------------------------------------------------------------------
    def capture(self) -> dict[str, Any]:
        """Joint positions/velocities (and the base pose/twist of a floating base)."""
        p, cid = self._p, self.client
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
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture`."""
        if state.get("engine") != "pybullet" or len(state["joints"]) != len(self.joints):
            raise StateNotSupportedError(
                f"the saved state does not fit this model "
                f"(expected a pybullet state with {len(self.joints)} joints)"
            )
        p, cid = self._p, self.client
        self._set_joints([q for q, _ in state["joints"]], [v for _, v in state["joints"]])
        if state["base"] is not None:
            pos, orn, lin, ang = state["base"]
            p.resetBasePositionAndOrientation(self.body, pos, orn, physicsClientId=cid)
            p.resetBaseVelocity(self.body, lin, ang, physicsClientId=cid)
        self._read()

    # -- rendering -------------------------------------------------------------------------
    def _place_marker(self, name: str, position: Position) -> None:
        p, cid = self._p, self.client
        marker = self._markers.get(name)
        if marker is None:  # created on first render, so rendering never changes the physics
            shape = p.createVisualShape(
                p.GEOM_SPHERE, radius=_MARKER_RADIUS, rgbaColor=_MARKER_RGBA, physicsClientId=cid
            )
            marker = self._markers[name] = p.createMultiBody(
                baseMass=0.0, baseVisualShapeIndex=shape, physicsClientId=cid
            )
        p.resetBasePositionAndOrientation(
            marker, position, (0.0, 0.0, 0.0, 1.0), physicsClientId=cid
        )

    def render(self, markers: Mapping[str, Position] | None = None) -> np.ndarray:
        """An RGB frame from Bullet's TinyRenderer (works headless, no GL needed)."""
        p, cid = self._p, self.client
        for name, position in (markers or {}).items():
            self._place_marker(name, position)
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
        if getattr(self, "client", None) is not None:
            try:
                self._p.disconnect(physicsClientId=self.client)
            except self._p.error:  # already gone
                pass
            self.client = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


PHYSICS = PyBulletPhysics
