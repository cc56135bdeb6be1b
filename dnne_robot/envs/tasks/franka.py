"""FrankaDNNE: DNNE's Franka Panda reaching a random target, on any physics with Jacobians.

The numbers are those of DNNE's Isaac Gym task (asantanna/DNNE-LINUX-SUPPORT,
``isaacgymenvs/tasks/franka_dnne.py`` and ``cfg/task/FrankaDNNE.yaml``), named in
:class:`FrankaParams`; ``docs/tasks.md`` lists what still differs from Isaac Gym.
:class:`FrankaReach` is the project's own reward on the same robot and target, for PPO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from ..physics.base import Box, ModelSpec, Physics, Position, Site
from .base import Task, asset_path

_TWO_PI = 2.0 * math.pi

#: The two control types of DNNE's YAML (``controlType_options``).
CONTROL_TYPES = ("osc", "joint_tor")


@dataclass(frozen=True)
class FrankaParams:
    """FrankaDNNE's numbers; each comment names where in DNNE's sources it comes from."""

    #: ``sim.dt`` (s) and ``sim.substeps`` of Isaac Gym (the engines here use their own).
    dt: float = 0.01667
    #: ``env.episodeLength``; DNNE ends an episode once ``progress_buf >= episodeLength - 1``.
    episode_length: int = 600
    #: ``franka_default_dof_pos``: 7 arm joints (rad), then the 2 fingers (m).
    default_dof_pos: tuple[float, ...] = (0.0, 0.1963, 0.0, -2.6180, 0.0, 2.9416, 0.7854,
                                          0.035, 0.035)
    #: ``frankaDofNoise``: each arm joint starts uniform in +-0.25 rad around its default,
    #: clamped to its limits; the fingers start at their default.
    dof_noise: float = 0.25
    #: Joint limits of IsaacGymEnvs' ``franka_panda_gripper.urdf`` (the reset clamp).
    lower: tuple[float, ...] = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973,
                                0.0, 0.0)
    upper: tuple[float, ...] = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973,
                                0.04, 0.04)
    #: The URDF's effort limits of the arm joints (N m); OSC torques are clipped to them.
    effort: tuple[float, ...] = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
    #: ``dnne.joint_control.controlled_joints``: effort-driven; the others hold their reset
    #: position with a position drive (``freeze_mode: position``), in both control types.
    controlled_joints: tuple[int, ...] = (0, 1, 3)
    #: ``freeze_position_stiffness`` / ``freeze_position_damping``; the fingers' drive too.
    drive_stiffness: float = 5000.0
    drive_damping: float = 100.0
    #: joint_tor ``cmd_limit``: ``torque_limits`` {0: 1, 1: 1, 3: 1}, 1.0 for the other
    #: joints up to 3 and 0.5 above (N m per unit of action).
    joint_cmd_limit: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5)
    #: osc ``cmd_limit``: end-effector position (m) and rotation (rad) delta per unit.
    osc_cmd_limit: tuple[float, ...] = (0.1, 0.1, 0.1, 0.5, 0.5, 0.5)
    #: OSC gains: ``kp`` 150 (``kd = 2 sqrt(kp)``), null space ``kp_null`` 10.
    kp: float = 150.0
    kp_null: float = 10.0
    #: ``env.actionScale``; ``clipActions`` and ``clipObservations``.
    action_scale: float = 1.0
    clip_actions: float = 1.0
    clip_observations: float = 5.0
    #: The arm's base: ``(-0.45, 0, 1.0 + table_thickness / 2 + table_stand_height)``.
    base_position: tuple[float, float, float] = (-0.45, 0.0, 1.125)
    #: The table (1.2 x 1.2 x 0.05 at z 1.0) and its stand (0.2 x 0.2 x 0.1) under the arm.
    table_position: tuple[float, float, float] = (0.0, 0.0, 1.0)
    table_size: tuple[float, float, float] = (1.2, 1.2, 0.05)
    stand_position: tuple[float, float, float] = (-0.5, 0.0, 1.075)
    stand_size: tuple[float, float, float] = (0.2, 0.2, 0.1)
    #: ``_reset_target_state``: r uniform in [0.3, 0.6] around (0, 0, 1.3), the polar angle
    #: uniform in [0, acos((1.15 - 1.3) / 0.6)], the azimuth in [0, 2 pi); so z >= 1.15.
    target_center: tuple[float, float, float] = (0.0, 0.0, 1.3)
    target_radius: tuple[float, float] = (0.3, 0.6)
    target_min_z: float = 1.15
    #: The azimuth's range (rad); DNNE's is the whole circle.
    target_azimuth: tuple[float, float] = (0.0, _TWO_PI)
    #: The target sphere's radius (m), drawn only.
    target_size: float = 0.05
    #: ``compute_reward``: done within 0.1 m of the target, or with the grip site less than
    #: 0.05 m above the table's surface (z 1.025).
    reach_distance: float = 0.1
    table_surface: float = 1.025
    gripper_margin: float = 0.05
    #: The end effector: ``panda_grip_site``, 0.1025 m along the hand's z axis.
    grip_site: str = "panda_grip_site"
    grip_offset: float = 0.1025

    @property
    def max_episode_steps(self) -> int:
        """Steps until DNNE's timeout: ``progress_buf >= episodeLength - 1``."""
        return self.episode_length - 1

    def sample_target(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """A target in DNNE's shell, with a fixed number of draws."""
        lo, hi = self.target_radius
        cx, cy, cz = self.target_center
        cos_min = max(min((self.target_min_z - cz) / hi, 1.0), -1.0)
        r, u, v = rng.random(3).tolist()
        r = lo + r * (hi - lo)
        theta = u * math.acos(cos_min)
        phi_lo, phi_hi = self.target_azimuth
        phi = phi_lo + v * (phi_hi - phi_lo)
        return (r * math.sin(theta) * math.cos(phi) + cx,
                r * math.sin(theta) * math.sin(phi) + cy,
                r * math.cos(theta) + cz)

    def sample_joints(self, rng: np.random.Generator) -> np.ndarray:
        """The 9 initial joint positions: defaults plus noise, clamped; fingers exact."""
        default = np.array(self.default_dof_pos)
        q = default + self.dof_noise * 2.0 * (rng.random(9) - 0.5)
        q = np.clip(q, self.lower, self.upper)
        q[7:] = default[7:]
        return q


FRANKA = FrankaParams()

#: The engines' numbers for the control period of 0.01667 s: MuJoCo takes 8 steps (the
#: drives' stiffness is explicit there), PyBullet 4 (its drives are constraints).
_MUJOCO_SUBSTEPS = 8
_PYBULLET_SUBSTEPS = 4
#: The held joints (DNNE's 2, 4, 5, 6) and the fingers, in model order.
_HELD = tuple(j for j in range(7) if j not in FRANKA.controlled_joints) + (7, 8)


def _box(size: tuple[float, float, float], position: tuple[float, float, float],
         rgba: tuple[float, float, float, float], collides: bool) -> Box:
    return Box(tuple(s / 2 for s in size), position, rgba, collides)  # type: ignore[arg-type]


_PYBULLET = ModelSpec(
    "franka_panda/panda.urdf",  # pybullet_data's
    _PYBULLET_SUBSTEPS,
    timestep=FRANKA.dt / _PYBULLET_SUBSTEPS,
    gravity=0.0,  # DNNE's arm: asset_options.disable_gravity
    actuated=FRANKA.controlled_joints,
    damped=True,  # torques before each physics step, with the drives
    base_position=FRANKA.base_position,
    ground=True,
    camera=((1.6, -1.6, 1.9), (-0.1, 0.0, 1.2), (0.0, 0.0, 1.0)),
    joint_limits=tuple(zip(FRANKA.lower, FRANKA.upper, strict=True)),
    drives=_HELD,
    # Bullet's motor gains are not N m/rad: these hold a joint within a milliradian.
    drive_gains=(0.3, 1.0),
    drive_force=tuple(FRANKA.effort[j] for j in _HELD if j < 7) + (200.0, 200.0),
    sites=(Site(FRANKA.grip_site, "panda_hand", (0.0, 0.0, FRANKA.grip_offset)),),
    boxes=(
        _box(FRANKA.table_size, FRANKA.table_position, (0.45, 0.35, 0.25, 1.0), True),
        _box(FRANKA.stand_size, FRANKA.stand_position, (0.3, 0.3, 0.3, 1.0), False),
    ),
)


class FrankaDNNE(Task):
    """DNNE's FrankaDNNE, ``random_target`` subtask, in either control type.

    Action (clipped to +-1), ``joint_tor``: 7 joint torques of ``joint_cmd_limit`` N m per
    unit; only the controlled joints (0, 1, 3) take them, as in Isaac Gym, where the others
    are position-driven; the gripper stays open. ``osc``: a 6-value end-effector delta
    (``osc_cmd_limit`` per unit) turned into torques by operational-space control from the
    engine's Jacobian and mass matrix, and a gripper command (>= 0 opens).

    Observation (clipped to +-5): ``osc`` 13 values ``target_pos 3, eef_pos 3, eef_quat
    (x, y, z, w) 4, q_gripper 2, episode_time 1``; ``joint_tor`` 20 values with the 9 joint
    positions in place of ``q_gripper``. Done within 0.1 m of the target or with the grip site
    too low; no reward (0). The timeout is the registry's ``max_episode_steps``.
    """

    name = "FrankaDNNE"
    #: DNNE's observation schema of the default control type (osc); see :meth:`fields`.
    observation_fields = {"target_pos": (0, 2), "eef_pos": (3, 5), "eef_quat": (6, 9),
                          "gripper_theta": (10, 11), "episode_time": (12, 12)}
    models: ClassVar[dict[str, ModelSpec]] = {
        "mujoco": ModelSpec(asset_path("franka/panda.xml"), _MUJOCO_SUBSTEPS, camera="side"),
        "pybullet": _PYBULLET,
    }

    def __init__(self, control_type: str = "osc", params: FrankaParams = FRANKA) -> None:
        if control_type not in CONTROL_TYPES:
            raise ValueError(f"control_type must be one of {', '.join(CONTROL_TYPES)}, got "
                             f"{control_type!r}")
        self.params = params
        self.control_type = control_type
        self.osc = control_type == "osc"
        size = 13 if self.osc else 20
        clip = params.clip_observations
        self.observation_space = spaces.Box(-clip, clip, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(7,), dtype=np.float32)
        self._controlled = np.array(params.controlled_joints, dtype=np.intp)
        self._clip_actions = params.clip_actions
        self._clip_observations = params.clip_observations
        self._site = params.grip_site
        self._dt = params.dt
        self._cmd = np.array(params.osc_cmd_limit if self.osc else params.joint_cmd_limit)
        self._cmd /= params.action_scale
        self._effort = np.array(params.effort)
        self._kp, self._kd = params.kp, 2.0 * math.sqrt(params.kp)
        self._kp_null, self._kd_null = params.kp_null, 2.0 * math.sqrt(params.kp_null)
        self._default = np.array(params.default_dof_pos[:7])
        self._held = [j for j in range(7) if j not in params.controlled_joints]
        self.target: Position = params.target_center
        self.steps = 0
        self._hold = np.zeros(len(self._held))
        self._drive_key: Any = None
        self._drive_targets: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        self._a = np.zeros(7)
        self._eye = np.eye(7)
        self._eef_key: Any = None
        self._eef = (np.zeros(3), np.array((0.0, 0.0, 0.0, 1.0)))
        self._distance_key: tuple[Any, Any] = (None, None)
        self._target_key: Any = None
        self._target = np.zeros(3)
        self._distance = 0.0

    @classmethod
    def fields(cls, control_type: str) -> dict[str, tuple[int, int]]:
        """DNNE's observation schema for ``control_type`` (inclusive index ranges)."""
        if control_type == "joint_tor":
            return {"target_pos": (0, 2), "eef_pos": (3, 5), "eef_quat": (6, 9),
                    "joint_theta": (10, 18), "episode_time": (19, 19)}
        return dict(cls.observation_fields)

    # -- episode -----------------------------------------------------------------------------
    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        params = self.params
        self.target = params.sample_target(random)
        q = params.sample_joints(random)
        physics.reset(q.tolist(), [0.0] * 9)
        self.steps = 0
        # Isaac Gym's position targets are the reset position; the fingers' are set per step.
        self._hold = q[self._held]
        self._drive(physics, open_gripper=True)

    def _drive(self, physics: Physics, open_gripper: bool) -> None:
        if self._drive_key is not self._hold:  # the two target arrays, once per held pose
            hold, opened, closed = self._hold.tolist(), self.params.upper[7], self.params.lower[7]
            self._drive_targets = (np.array([*hold, opened, opened]),
                                   np.array([*hold, closed, closed]))
            self._drive_key = self._hold
        physics.set_drive_targets(self._drive_targets[0 if open_gripper else 1])

    def before_step(self, action: Any, physics: Physics) -> None:
        clip = self._clip_actions
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -clip, clip)
        self._a = a
        if self.osc:
            torques = self.osc_torques(physics, a[:6] * self._cmd)
            self._drive(physics, a[6] >= 0.0)
        else:
            torques = a * self._cmd
            self._drive(physics, True)
        physics.set_control(torques[self._controlled])
        self.steps += 1

    def osc_torques(self, physics: Physics, dpose: np.ndarray) -> np.ndarray:
        """Operational-space control (Khatib 1987) as DNNE's ``_compute_osc_torques``.

        ``u = J^T Lambda (kp dpose - kd v_eef) + (I - J^T Jbar^T) M u_null``, with
        ``Lambda = (J M^-1 J^T)^-1``, ``u_null = kp_null (wrap(q0 - q)) - kd_null qdot`` and
        torques clipped to the joints' effort limits. J and M are the engine's (arm joints).
        """
        q, qd = physics.joint_arrays(7)
        jac = physics.site_jacobian(self._site)[:, :7]
        mass = physics.mass_matrix()[:7, :7]
        mass_inv = np.linalg.inv(mass)
        m_eef = np.linalg.inv(jac @ mass_inv @ jac.T)
        v_eef = jac @ qd
        u = jac.T @ m_eef @ (self._kp * dpose - self._kd * v_eef)
        j_bar = m_eef @ jac @ mass_inv
        u_null = self._kd_null * -qd + self._kp_null * (
            (self._default - q + math.pi) % _TWO_PI - math.pi
        )
        u += (self._eye - jac.T @ j_bar) @ (mass @ u_null)
        return np.clip(u, -self._effort, self._effort)

    def state_is_finite(self, physics: Physics) -> bool:
        return math.isfinite(sum(physics.qpos) + sum(physics.qvel))

    # -- observation, reward, termination ------------------------------------------------------
    def eef(self, physics: Physics) -> tuple[np.ndarray, np.ndarray]:
        """The grip site's position and quaternion ``(x, y, z, w)`` (read once per state)."""
        if physics.qpos is not self._eef_key:
            pos, quat = physics.site_pose(self._site)
            # q and -q are one rotation; engines pick either. x >= 0 is continuous over the
            # poses this task reaches (the hand points down, x near 1), so both engines agree.
            self._eef = (pos, -quat if quat[0] < 0.0 else quat)
            self._eef_key = physics.qpos
        return self._eef

    def distance(self, physics: Physics) -> float:
        """Grip site to target, m (once per state and target: reward and info both ask)."""
        pos = self._eef[0] if physics.qpos is self._eef_key else self.eef(physics)[0]
        key = self._distance_key
        if key[0] is not pos or key[1] is not self.target:
            self._distance = float(np.linalg.norm(pos - self._target_array()))
            self._distance_key = (pos, self.target)
        return self._distance

    def _target_array(self) -> np.ndarray:
        """``self.target`` as an array, converted once per target."""
        if self._target_key is not self.target:
            self._target = np.array(self.target, dtype=np.float64)
            self._target_key = self.target
        return self._target

    def get_observation(self, physics: Physics) -> np.ndarray:
        pos, quat = self.eef(physics)
        q = physics.qpos
        joints = q[7:9] if self.osc else q[:9]
        obs = np.concatenate((self._target_array(), pos, quat, joints, (self.steps * self._dt,)))
        clip = self._clip_observations
        return np.clip(obs, -clip, clip).astype(np.float32)

    def get_reward(self, physics: Physics) -> float:
        return 0.0  # FrankaDNNE has no reward: DNNE's graphs compute their own losses

    def get_termination(self, physics: Physics) -> bool:
        params = self.params
        pos, _ = self.eef(physics)
        reached = self.distance(physics) < params.reach_distance
        return reached or bool(pos[2] < params.table_surface + params.gripper_margin)

    # -- markers and state ---------------------------------------------------------------------
    def markers(self) -> dict[str, Position]:
        return {"target": self.target}

    def get_state(self) -> dict[str, Any]:
        return {"target": list(self.target), "steps": self.steps, "hold": self._hold.tolist(),
                "action": self._a.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        x, y, z = state["target"]
        self.target = (float(x), float(y), float(z))
        self.steps = int(state["steps"])
        self._hold = np.array(state["hold"], dtype=np.float64)
        self._a = np.array(state["action"], dtype=np.float64)


@dataclass(frozen=True)
class FrankaReachParams:
    """The project's reward on FrankaDNNE's robot and target, for PPO."""

    #: A success: the grip site within this distance of the target (m).
    success_distance: float = 0.05
    #: Added to the reward on each step within ``success_distance``.
    success_bonus: float = 1.0
    #: Episode length in steps (2.5 s at 60 Hz).
    max_episode_steps: int = 150


FRANKA_REACH = FrankaReachParams()
#: FrankaReach's targets: the half of DNNE's shell in front of its centre (x >= 0). Behind it
#: the shell reaches into the arm's own column, where the grip site cannot go with joints 0,
#: 1 and 3 (the scripted OSC reach of docs/tasks.md misses 15% of DNNE's whole shell).
FRANKA_FRONT = replace(FRANKA, target_azimuth=(-math.pi / 2, math.pi / 2))


class FrankaReach(FrankaDNNE):
    """FrankaDNNE's robot, scene and target with a reward: ``-distance + bonus`` within 5 cm.

    The target is drawn as DNNE's, on the half of its shell in front of the arm
    (:data:`FRANKA_FRONT`).

    ``osc`` control (a joint_tor variant takes ``control_type="joint_tor"``), the same
    observation; the episode never ends early (the arm must reach the target and stay
    there). ``info["is_success"]``: within 5 cm after the step.
    """

    name = "FrankaReach"
    models = FrankaDNNE.models

    def __init__(self, control_type: str = "osc", params: FrankaParams = FRANKA_FRONT,
                 reach: FrankaReachParams = FRANKA_REACH) -> None:
        super().__init__(control_type, params)
        self.reach = reach

    def get_reward(self, physics: Physics) -> float:
        d = self.distance(physics)
        return -d + (self.reach.success_bonus if d < self.reach.success_distance else 0.0)

    # Never ends early: with a reward below 0 on every step, an episode that ends early
    # (DNNE's "too low") would pay more than one that keeps reaching. The table stops the arm.
    # Task's own hook (always False), so that TaskEnv.step knows not to call it.
    get_termination = Task.get_termination

    def get_info(self, physics: Physics) -> dict[str, Any]:
        """``is_success``: the grip site is within ``success_distance`` of the target."""
        return {"is_success": self.distance(physics) < self.reach.success_distance}
