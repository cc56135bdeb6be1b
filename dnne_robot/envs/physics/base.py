"""The physics interface: what a task may ask of an engine, and nothing engine-specific.

A task (``envs/tasks``) is written once against :class:`Physics`; each engine implements it in
its own module (``physics/mujoco.py``, ``physics/pybullet.py``), which is the only module of
``envs`` that imports that engine. This is dm_control's Task/Physics split, cut down to what our
tasks use: load a model, read and set joint positions and velocities, push on the actuated
joints, advance one control period, snapshot the state, render, close.

Hot path: :meth:`Physics.step` reads the joint state once, as Python floats, into
:attr:`Physics.qpos` / :attr:`Physics.qvel`; a task's hooks read those lists instead of calling
into the engine again. Every change of state replaces them with new sequences (never edits
them in place), so a task may memoise values computed from them by identity.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

#: A marker position (x, y, z) in the world frame, m.
Position = tuple[float, float, float]


@dataclass(frozen=True)
class Site:
    """A point fixed to a link of a URDF, as an MJCF ``<site>`` is to its body.

    Attributes:
        name: the site's name (the same name an MJCF of the robot gives its ``<site>``).
        link: the URDF link it is fixed to.
        offset: its position in the link's frame (the URDF frame, not the inertial one), m.
    """

    name: str
    link: str
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Box:
    """A static box in a URDF's scene (a table); an MJCF states its own geoms.

    Attributes:
        half_extents: half sizes along x, y, z, m.
        position: the box's centre in the world frame, m.
        rgba: its colour.
        collides: whether the robot collides with it (False: drawn only).
    """

    half_extents: tuple[float, float, float]
    position: tuple[float, float, float]
    rgba: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 1.0)
    collides: bool = True


@dataclass(frozen=True)
class ModelSpec:
    """A model file and how to step it: what a task asks the physics to load.

    Attributes:
        path: the model file (MJCF ``.xml`` for mujoco, URDF ``.urdf`` for pybullet).
        substeps: physics steps per control period. None: about 20 ms per period from an
            MJCF's timestep; 4 for a URDF (4 x 5 ms by default).
        timestep: seconds per physics step, for formats that do not state it (URDF; None is
            5 ms). An MJCF states its own ``<option timestep>``: it must stay None there.
        gravity: m/s^2 along -z, for formats that do not state it (URDF; None is 9.81). An
            MJCF states its own: it must stay None there.
        actuated: which movable joints take the controls, in order (URDF; None: all of them).
            An MJCF names its actuated joints in ``<actuator>``.
        gear: torque per unit of control on each actuated joint (URDF; None: 1). An MJCF
            gives each actuator its own ``gear``.
        damped: the URDF's joints have damping. PyBullet then applies the torques before each
            physics step instead of once per period (see ``physics/pybullet.py``).
        fixed_base: the model's root is welded to the world (URDF; an MJCF uses a free joint).
        base_position: where a URDF's root starts; None: the origin, or 1 m up if floating.
        ground: load a ground plane (URDF); None: only under a floating base.
        camera: the default render camera: an MJCF camera name (None: the free camera), or
            ``(eye, target, up)`` for PyBullet.
        joint_limits: ``(lower, upper)`` per movable joint, replacing the URDF's own (so that
            a URDF and an MJCF of one robot have the same limits); None keeps the URDF's.
        drives: movable joints held by a position drive instead of taking torques (URDF; an
            MJCF declares ``<position>`` actuators), targets set by
            :meth:`Physics.set_drive_targets`.
        drive_gains: the drives' ``(position gain, velocity gain)`` in PyBullet's
            ``POSITION_CONTROL`` units.
        drive_force: the most force or torque each drive applies.
        sites: named points on links (URDF), read by :meth:`Physics.site_pose`.
        boxes: static boxes added to a URDF's scene.
    """

    path: str | os.PathLike[str]
    substeps: int | None = None
    timestep: float | None = None
    gravity: float | None = None
    actuated: tuple[int, ...] | None = None
    gear: tuple[float, ...] | None = None
    damped: bool = False
    fixed_base: bool = True
    base_position: tuple[float, float, float] | None = None
    ground: bool | None = None
    camera: Any = None
    joint_limits: tuple[tuple[float, float], ...] | None = None
    drives: tuple[int, ...] = ()
    drive_gains: tuple[float, float] = (1.0, 1.0)
    drive_force: tuple[float, ...] = ()
    sites: tuple[Site, ...] = ()
    boxes: tuple[Box, ...] = ()


class Physics(ABC):
    """One engine's simulation of one model, as a task sees it.

    Joint positions and velocities are in generalized coordinates (m, rad, m/s, rad/s) of the
    model's movable joints, in model order. Controls go to the actuated joints: MuJoCo through
    the model's actuators (``gear`` applies), PyBullet as joint torques times ``ModelSpec.gear``.
    """

    #: The engine's name, as in :data:`ENGINES`.
    engine: ClassVar[str]

    #: Seconds of simulated time per :meth:`step` (the control period).
    dt: float
    #: Joint positions after the last step or change of state (a new sequence on every change).
    qpos: Sequence[float]
    #: Joint velocities after the last step or change of state (a new sequence on every change).
    qvel: Sequence[float]

    @classmethod
    @abstractmethod
    def require_engine(cls) -> None:
        """Import the engine, or raise ``EngineNotInstalledError`` naming the ``pip install``."""

    @classmethod
    @abstractmethod
    def check_model_file(cls, path: str | os.PathLike[str]) -> None:
        """Raise ``ModelFileError`` for a model file this engine cannot load."""

    @property
    @abstractmethod
    def nq(self) -> int:
        """Length of :attr:`qpos` (MuJoCo: ``model.nq``, free joints included)."""

    @property
    @abstractmethod
    def nv(self) -> int:
        """Length of :attr:`qvel`."""

    @abstractmethod
    def initial_qpos(self) -> np.ndarray:
        """The model's reference joint positions (MuJoCo ``qpos0``; URDF: zeros)."""

    @abstractmethod
    def reset(self, qpos: Sequence[float], qvel: Sequence[float]) -> None:
        """Put the whole simulation back to the model's initial state, then set these joints.

        Everything not named (time, controls, a floating URDF base: back at its start pose,
        at rest) returns to its initial value, so an episode depends only on what a task sets.
        """

    @abstractmethod
    def set_joint_velocity(self, index: int, value: float) -> None:
        """Overwrite one joint velocity in place, keeping everything else (a velocity clip)."""

    @abstractmethod
    def set_control(self, values: Sequence[float]) -> None:
        """Set the controls of the actuated joints, held for the next :meth:`step`."""

    @abstractmethod
    def control_bounds(self, torque_limit: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Bounds ``(low, high)`` of the controls, as the model file states them.

        MuJoCo: each actuator's ``ctrlrange`` (an unlimited one: +-1); a model without
        actuators takes generalized forces on its hinge and slide joints, +-``torque_limit``
        (default 1). PyBullet: each joint's URDF ``effort`` (1 where it gives none), or
        ``torque_limit`` for every joint when given.
        """

    def set_drive_targets(self, values: Sequence[float]) -> None:
        """Set the position targets of the model's position drives, in model order."""
        raise NotImplementedError(f"{type(self).__name__} has no position drives")

    # -- kinematics and dynamics (for operational-space control) -----------------------------
    # Not abstract: only tasks of articulated robots (FrankaDNNE) call them.
    def joint_names(self) -> tuple[str, ...]:
        """The names of the movable joints, in the order of :attr:`qpos`."""
        raise NotImplementedError(f"{type(self).__name__} does not name its joints")

    def joint_ranges(self) -> np.ndarray:
        """``(n, 2)`` lower and upper limits of the movable joints (rad or m)."""
        raise NotImplementedError(f"{type(self).__name__} has no joint limits")

    def site_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A site's world position (3,) and orientation as a quaternion ``(x, y, z, w)``."""
        raise NotImplementedError(f"{type(self).__name__} has no sites")

    def joint_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` values of :attr:`qpos` and :attr:`qvel` as new float64 arrays."""
        return np.array(self.qpos[:n], dtype=np.float64), np.array(self.qvel[:n], dtype=np.float64)

    def site_jacobian(self, name: str) -> np.ndarray:
        """The site's ``(6, nv)`` Jacobian in the world frame: linear rows, then angular."""
        raise NotImplementedError(f"{type(self).__name__} has no Jacobians")

    def mass_matrix(self) -> np.ndarray:
        """The joint-space mass matrix ``(nv, nv)`` at the current positions."""
        raise NotImplementedError(f"{type(self).__name__} has no mass matrix")

    @abstractmethod
    def step(self) -> None:
        """Advance one control period with the controls held; refresh ``qpos`` / ``qvel``."""

    @abstractmethod
    def state_vector(self) -> np.ndarray:
        """The engine's whole generalized state as float64: joint positions then velocities.

        MuJoCo: ``concat(qpos, qvel)``. PyBullet: joint positions, joint velocities, and for a
        floating base its position (3), quaternion (4), linear (3) and angular (3) velocity.
        """

    @abstractmethod
    def capture(self) -> dict[str, Any]:
        """The state as plain Python values; :meth:`restore` continues from it.

        Carries the key ``"engine"``. MuJoCo: the full integration state, bit for bit.
        PyBullet: joint (and base) positions and velocities.
        """

    @abstractmethod
    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`capture`; ``StateNotSupportedError`` if it does not fit."""

    @abstractmethod
    def render(self, markers: Mapping[str, Position] | None = None) -> np.ndarray:
        """An RGB frame ``(height, width, 3)`` uint8, with visual-only markers moved first.

        A marker is named after a site of the MJCF (MuJoCo), or drawn as a small sphere that
        is created on first render (PyBullet), so rendering never changes the physics.
        """

    @abstractmethod
    def close(self) -> None:
        """Free the engine's resources (renderer, client); safe to call twice."""
