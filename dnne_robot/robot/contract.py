"""The policy contract: what a robot must send and what it gets back, written beside the policy.

``export-policy`` writes it as the ``contract`` object of ``policy.json`` (and, for ONNX, as
the model's ``dnne_robot.contract`` metadata). Its shape follows the ``.onnx.metadata.json`` of
ros2_control_demos example 18, extended; docs/deploy.md documents every field. deploy.py reads
the robot side only from it: which joint and which interface (position, velocity, effort)
fills each observation value, and how the policy's action becomes the command of each joint
(``command = offset + sign * scale * action``, clamped, rate limited).

The tasks' joint names are in :data:`TASK_JOINTS` (kept here, beside the robot side, so the
envs stay unchanged). Imports only the standard library and numpy: it is copied into every
export and imported by deploy.py.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import DeployError

VERSION = 1
INTERFACES = ("position", "velocity", "effort")
#: How a joint value becomes an observation value.
TRANSFORMS = ("identity", "cos", "sin")
#: Where an observation value that is not a joint state comes from (``fields[i].source``):
#: the goal the policy reaches for; the pose of a site, computed from the joint positions by
#: the robot's forward kinematics; the seconds since the episode started (steps x dt).
SOURCES = ("target", "forward_kinematics", "episode_time")
#: How many observation values each source fills, in field order: the target's x, y, z; the
#: site's x, y, z and quaternion qx, qy, qz, qw; the episode time. The ROS 2 transport reads
#: them from a PointStamped, a PoseStamped and the episode clock (docs/deploy.md).
SOURCE_SIZES = {"target": 3, "forward_kinematics": 7, "episode_time": 1}
#: Commands that are not one value per joint: an end-effector displacement (a Cartesian
#: controller on the robot side turns it into joint torques; ``action.controller`` says how).
CARTESIAN_INTERFACES = ("end_effector_delta",)

# name, joint, interface, transform, unit[, extra keys: source, site, frame, note]. A joint of
# None: not in a JointState (the robot side supplies it some other way, named by its source;
# the ROS 2 transport refuses such a value with no source).
_F = tuple[Any, ...]


def _franka(joint_tor: bool) -> dict[str, Any]:
    """FrankaReach / FrankaDNNE (``envs/tasks/franka.py``, FRANKA's numbers; checked against
    them by tests/robot/test_franka.py). Observation ``target_pos 3, eef_pos 3, eef_quat 4``,
    then the finger positions (osc, 13 values) or all 9 joint positions (joint_tor, 20
    values), then ``episode_time``; values clipped to +-5 by the env."""
    arm = [f"panda_joint{i}" for i in range(1, 8)]
    fingers = ["panda_finger_joint1", "panda_finger_joint2"]
    world = {"frame": "world"}
    grip = {"source": "forward_kinematics", "site": "panda_grip_site", "frame": "world"}
    obs: list[_F] = [(f"target_{a}", None, None, "identity", "m", {"source": "target", **world})
                     for a in "xyz"]
    obs += [(f"eef_{a}", None, None, "identity", "m", grip) for a in "xyz"]
    obs += [(f"eef_q{a}", None, None, "identity", "1",
             {**grip, "note": "quaternion (x, y, z, w), the sign with qx >= 0"}) for a in "xyzw"]
    obs += [(f"{j}_position", j, "position", "identity", "m" if j in fingers else "rad")
            for j in ([*arm, *fingers] if joint_tor else fingers)]
    obs.append(("episode_time", None, None, "identity", "s", {"source": "episode_time"}))
    held = [arm[i] for i in (2, 4, 5, 6)]  # position drives at the episode's start pose
    controller: dict[str, Any] = {
        "torque_joints": [arm[i] for i in (0, 1, 3)], "held_joints": held,
        "gripper": {"joints": fingers, "open": 0.04, "closed": 0.0},
    }
    spec: dict[str, Any] = {
        "joints": [*arm, *fingers], "observation": obs, "observation_clip": 5.0,
        "default_pose": None,
        # The fixed frames the non-joint values refer to: each origin in its parent (no
        # rotation). The world is the task's; the grip site is DNNE's end effector.
        "frames": {"panda_link0": {"parent": "world", "position": [-0.45, 0.0, 1.125]},
                   "panda_grip_site": {"parent": "panda_hand", "position": [0.0, 0.0, 0.1025]}},
    }
    if joint_tor:  # 7 torques, N m per unit; the simulation applies joints 1, 2 and 4 only
        return {**spec, "command_joints": arm, "command_interface": "effort",
                "command_units": ["N m"] * 7, "scale": [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5],
                "offset": [0.0] * 7, "controller": {"law": "joint_torque", **controller}}
    # osc: the grip site's displacement (m, then a rotation vector in rad, world frame) and
    # the gripper (>= 0 opens); operational-space control turns it into the 3 torques.
    return {**spec, "command_joints": None, "command_interface": "end_effector_delta",
            "command_names": ["eef_dx", "eef_dy", "eef_dz", "eef_drx", "eef_dry", "eef_drz",
                              "gripper"],
            "command_units": ["m", "m", "m", "rad", "rad", "rad", "1"],
            "scale": [0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 1.0], "offset": [0.0] * 7,
            "controller": {
                "law": "operational_space", "site": "panda_grip_site",
                "kp": 150.0, "kd": 2.0 * math.sqrt(150.0),
                "kp_null": 10.0, "kd_null": 2.0 * math.sqrt(10.0),
                "null_pose": [0.0, 0.1963, 0.0, -2.618, 0.0, 2.9416, 0.7854],
                "effort_limit": [87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0], **controller}}

#: Per task (lower-case name): joints, observation sources, commanded joints, command mapping.
TASK_JOINTS: dict[str, dict[str, Any]] = {
    "cartpole": {
        "joints": ["slider", "hinge"],
        "observation": [
            ("cart_position", "slider", "position", "identity", "m"),
            ("cart_velocity", "slider", "velocity", "identity", "m/s"),
            ("pole_angle", "hinge", "position", "identity", "rad"),
            ("pole_angular_velocity", "hinge", "velocity", "identity", "rad/s"),
        ],
        "command_joints": ["slider"], "command_interface": "effort", "command_units": ["N"],
        # Action index -> command: 0 pushes -10 N, 1 pushes +10 N (CartPole-v1).
        "command_values": [[-10.0], [10.0]],
        "default_pose": None,
    },
    "pendulum": {
        "joints": ["hinge"],
        "observation": [
            ("cos_theta", "hinge", "position", "cos", "1"),
            ("sin_theta", "hinge", "position", "sin", "1"),
            ("theta_dot", "hinge", "velocity", "identity", "rad/s"),
        ],
        "command_joints": ["hinge"], "command_interface": "effort", "command_units": ["N m"],
        "scale": [1.0], "offset": [0.0], "default_pose": None,
    },
    "reach": {
        "joints": ["shoulder", "elbow"],
        "observation": [
            ("cos_q_shoulder", "shoulder", "position", "cos", "1"),
            ("cos_q_elbow", "elbow", "position", "cos", "1"),
            ("sin_q_shoulder", "shoulder", "position", "sin", "1"),
            ("sin_q_elbow", "elbow", "position", "sin", "1"),
            ("q_dot_shoulder", "shoulder", "velocity", "identity", "rad/s"),
            ("q_dot_elbow", "elbow", "velocity", "identity", "rad/s"),
            ("target_x", None, None, "identity", "m"),
            ("target_y", None, None, "identity", "m"),
            ("tip_to_target_x", None, None, "identity", "m"),
            ("tip_to_target_y", None, None, "identity", "m"),
        ],
        # The motor's control in [-1, 1]; the model's gear (0.05) makes it a torque.
        "command_joints": ["shoulder", "elbow"], "command_interface": "effort",
        "command_units": ["1", "1"], "scale": [1.0, 1.0], "offset": [0.0, 0.0],
        "default_pose": {"shoulder": 0.0, "elbow": 0.0},
        # The start-up ramp's PD law (ramp.py), in command units per rad and per rad/s:
        # 2 units (0.1 N m) per rad, 0.1 per rad/s. Tried on mujoco at 50 Hz from 0.15 and
        # 1.6 rad away: both settle; kd 0.3 already oscillates at 25 Hz (the light elbow).
        "ramp_gains": {"kp": [2.0, 2.0], "kd": [0.1, 0.1]},
    },
    # One layout per control type, told apart by the observation's size (13 or 20).
    "frankareach": {"variants": [_franka(joint_tor=False), _franka(joint_tor=True)]},
    "frankadnne": {"variants": [_franka(joint_tor=False), _franka(joint_tor=True)]},
}


def task_joints(task: str | None, obs_dim: int | None = None) -> dict[str, Any] | None:
    """The :data:`TASK_JOINTS` entry of ``task``; of a task with variants, the one whose
    observation has ``obs_dim`` values (None when none has)."""
    spec = TASK_JOINTS.get((task or "").lower())
    if spec is not None and "variants" in spec:
        return next((v for v in spec["variants"] if len(v["observation"]) == obs_dim), None)
    return spec


def build(info: dict[str, Any], examples: list[dict[str, Any]] | None = None
          ) -> dict[str, Any] | None:
    """The contract of the policy that ``info`` (the rest of policy.json) describes, or None
    when its task is not one of :data:`TASK_JOINTS`."""
    meta = info.get("metadata") or {}
    obs_info, action = info["observation"], info["action"]
    obs_dim = obs_info["dim"]
    spec = task_joints(meta.get("task"), obs_dim)
    if spec is None:
        return None
    fields = spec["observation"]
    if fields is None or len(fields) != obs_dim:
        fields = [(f"obs_{i}", None, None, "identity", "") for i in range(obs_dim)]
    discrete = action["kind"] == "discrete"
    joints = spec["command_joints"]
    names = spec.get("command_names") or joints
    n = len(names)
    out_action: dict[str, Any] = {
        "kind": action["kind"],
        "size": 1 if discrete else len(action.get("low") or action["high"]),
        "joints": joints,
        "interface": spec["command_interface"],
        "units": spec["command_units"],
        "sign": [1.0] * n,
        "scale": spec.get("scale"),
        "offset": spec.get("offset"),
        "clamp": {"low": action.get("low"), "high": action.get("high")},
        "rate_limit": None,
        "safe_command": [0.0] * n,
    }
    if discrete:
        out_action.update(n=action["n"], command_values=spec["command_values"],
                          names=[f"action_{i}" for i in range(action["n"])])
    elif joints is None:  # a Cartesian command: its values are named, not its joints
        out_action["names"] = names
    else:
        out_action["names"] = [f"{j}_{spec['command_interface']}" for j in joints]
    if "controller" in spec:
        out_action["controller"] = spec["controller"]
    return {
        "version": VERSION,
        "task": meta.get("task"),
        "policy_file": info.get("file"),
        "policy_sha256": info.get("sha256"),
        "control_rate_hz": meta.get("control_rate_hz"),
        "joint_names": spec["joints"],
        "observation": {
            "size": obs_dim,
            "names": [f[0] for f in fields],
            "fields": [{"name": f[0], "joint": f[1], "interface": f[2], "transform": f[3],
                        "unit": f[4], "source": None, **(f[5] if len(f) > 5 else {})}
                       for f in fields],
            "clip": spec.get("observation_clip"),
            "normalizer": {"inside_policy": True, "mean": obs_info.get("mean"),
                           "var": obs_info.get("var"), "epsilon": obs_info.get("epsilon"),
                           "clip": obs_info.get("clip")} if obs_info.get("normalize") else None,
        },
        "action": out_action,
        "frames": spec.get("frames"),
        "default_pose": spec["default_pose"],
        "ramp_s": 2.0 if spec["default_pose"] else None,
        "ramp_gains": spec.get("ramp_gains"),
        "examples": examples or [],
    }


class Contract:
    """The parts of a contract that a transport uses, checked: each problem is one
    :class:`DeployError` line naming the file and the field."""

    def __init__(self, data: Any, where: str) -> None:
        self.where = where
        if not isinstance(data, dict):
            raise self.fail("contract", "is missing: run `runner.py export-policy` again to "
                                        "write it (it names the joints the robot must send)")
        self.data = data
        obs = self._obj(data.get("observation"), "contract.observation")
        fields = obs.get("fields")
        if not isinstance(fields, list) or not fields:
            raise self.fail("contract.observation.fields", "must be a non-empty list")
        self.fields: list[tuple[str, str | None, str | None, str]] = []
        #: Per observation value: where a value with no joint comes from (None: not stated).
        self.sources: list[str | None] = []
        for i, f in enumerate(fields):
            f = self._obj(f, f"contract.observation.fields[{i}]")
            joint, interface, transform = f.get("joint"), f.get("interface"), f.get("transform")
            if joint is not None and interface not in INTERFACES:
                raise self.fail(f"contract.observation.fields[{i}].interface",
                                f"must be one of {', '.join(INTERFACES)}, not {interface!r}")
            if transform not in TRANSFORMS:
                raise self.fail(f"contract.observation.fields[{i}].transform",
                                f"must be one of {', '.join(TRANSFORMS)}, not {transform!r}")
            source = f.get("source")
            if source is not None and source not in SOURCES:
                raise self.fail(f"contract.observation.fields[{i}].source",
                                f"must be null or one of {', '.join(SOURCES)}, not {source!r}")
            self.fields.append((str(f.get("name")), joint, interface, transform))
            self.sources.append(source)
        clip = obs.get("clip")
        #: The env clips every observation value to +-this (None: no clip).
        self.clip = None if clip is None else self._number(clip, "contract.observation.clip")
        action = self._obj(data.get("action"), "contract.action")
        joints = action.get("joints")
        #: A Cartesian command (``action.joints`` null): its interface, else None.
        self.cartesian: str | None = None
        if joints is None and action.get("interface") in CARTESIAN_INTERFACES:
            self.cartesian = action["interface"]
            joints = []
            names = action.get("names")
            if (not isinstance(names, list) or not names
                    or not all(isinstance(j, str) for j in names)):
                raise self.fail("contract.action.names", "must be a non-empty list of the "
                                f"{self.cartesian} command's value names")
            n = len(names)
        elif (not isinstance(joints, list) or not joints
                or not all(isinstance(j, str) for j in joints)):
            raise self.fail("contract.action.joints", "must be a non-empty list of joint names")
        else:
            n = len(joints)
        #: The commanded joints, in command order (empty for a Cartesian command).
        self.command_joints: list[str] = joints
        self.discrete = action.get("kind") == "discrete"
        if self.discrete:
            self.command_values = self._matrix(action.get("command_values"),
                                               "contract.action.command_values", n)
        else:
            self.scale = self._vector(action.get("scale"), "contract.action.scale", n, 1.0)
            self.offset = self._vector(action.get("offset"), "contract.action.offset", n, 0.0)
            self.sign = self._vector(action.get("sign"), "contract.action.sign", n, 1.0)
        clamp = self._obj(action.get("clamp") or {}, "contract.action.clamp")
        self.low = self._vector(clamp.get("low"), "contract.action.clamp.low", None, -math.inf)
        self.high = self._vector(clamp.get("high"), "contract.action.clamp.high", None, math.inf)
        self.safe_command = self._vector(action.get("safe_command"),
                                         "contract.action.safe_command", n, 0.0)
        rate = action.get("rate_limit")
        self.rate_limit = None if rate is None else self._vector(
            rate, "contract.action.rate_limit", n, math.inf)
        pose = data.get("default_pose")
        self.default_pose: dict[str, float] | None = None
        if pose is not None:
            pose = self._obj(pose, "contract.default_pose")
            self.default_pose = {str(k): self._number(v, f"contract.default_pose.{k}")
                                 for k, v in pose.items()}
        self.ramp_s = data.get("ramp_s") or 0.0
        gains = data.get("ramp_gains")
        self.ramp_kp: np.ndarray | None = None
        self.ramp_kd: np.ndarray | None = None
        if gains is not None:
            gains = self._obj(gains, "contract.ramp_gains")
            self.ramp_kp = self._vector(gains.get("kp"), "contract.ramp_gains.kp", n, 0.0)
            self.ramp_kd = self._vector(gains.get("kd"), "contract.ramp_gains.kd", n, 0.0)

    # -- checks ------------------------------------------------------------------------------
    def fail(self, field: str, problem: str) -> DeployError:
        return DeployError(f"{self.where}: {field} {problem}")

    def _obj(self, value: Any, field: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, "must be a JSON object")
        return value

    def _number(self, value: Any, field: str) -> float:
        try:
            if isinstance(value, bool):
                raise TypeError
            x = float(value)
        except (TypeError, ValueError):
            raise self.fail(field, f"must be a number, not {value!r}") from None
        if math.isnan(x):
            raise self.fail(field, "must not be NaN")
        return x

    def _vector(self, value: Any, field: str, n: int | None, default: float) -> np.ndarray:
        if value is None:
            return np.full(n or 1, default)
        if not isinstance(value, list) or (n is not None and len(value) != n):
            raise self.fail(field, f"must be a list of {n if n else 'some'} numbers")
        return np.array([self._number(v, f"{field}[{i}]") for i, v in enumerate(value)])

    def _matrix(self, value: Any, field: str, n: int) -> np.ndarray:
        if not isinstance(value, list) or not value:
            raise self.fail(field, f"must be a list of rows of {n} numbers")
        return np.stack([self._vector(row, f"{field}[{i}]", n, 0.0)
                         for i, row in enumerate(value)])

    def check_examples(self, policy: Any, atol: float = 1e-4) -> int:
        """Run the contract's example observations through ``policy``: a parity check of
        the file against what export-policy computed. Returns how many were checked."""
        examples = self.data.get("examples") or []
        for i, ex in enumerate(examples):
            obs = np.asarray(ex.get("observation"), dtype=np.float32)
            want = np.asarray(ex.get("action"), dtype=np.float32).reshape(-1)
            got = policy(obs)
            if got.shape != want.shape or not np.allclose(got, want, atol=atol):
                raise self.fail(f"contract.examples[{i}]",
                                f"expects action {want.tolist()}, but the policy returns "
                                f"{got.tolist()}: the policy file does not match its contract")
        return len(examples)

    def require_ros2(self, what: str = "policy",
                     advice: str = "deploy it over UDP (--robot udp://HOST:PORT), where the "
                                   "robot sends the whole observation") -> None:
        """The ROS 2 transport's condition: every observation value comes from a JointState
        or from a source it reads (:data:`SOURCE_SIZES`: a PointStamped target, a
        PoseStamped site pose, the episode clock), each source's values complete. Otherwise
        one line that names every value it cannot fill, then ``advice``."""
        sourceless = [name for (name, joint, _, _), source in zip(self.fields, self.sources,
                                                                   strict=True)
                      if joint is None and source is None]
        problems = []
        if sourceless:
            problems.append(f"{len(sourceless)} of its {len(self.fields)} observation values "
                            f"are neither in a JointState nor from a known source: "
                            f"{', '.join(sourceless)}")
        for source, size in SOURCE_SIZES.items():
            n = self.sources.count(source)
            if n not in (0, size):
                problems.append(f"it has {n} observation values from {source}, which gives "
                                f"{size}")
        if problems:
            raise DeployError(f"{self.where}: the ROS 2 transport cannot serve this {what}: "
                              f"{', and '.join(problems)}; {advice}")

    @property
    def needs(self) -> list[str]:
        """The sources this observation reads, in :data:`SOURCE_SIZES` order."""
        return [s for s in SOURCE_SIZES if s in self.sources]

    # -- mapping -----------------------------------------------------------------------------
    @property
    def joints_observed(self) -> list[str]:
        return sorted({j for _, j, _, _ in self.fields if j is not None})

    def observation(self, position: dict[str, float], velocity: dict[str, float],
                    effort: dict[str, float], sources: dict[str, Any] | None = None
                    ) -> np.ndarray:
        """The observation in contract order from joint values by name and, for the values
        with no joint, each source's values in field order (:data:`SOURCE_SIZES`); NaN where
        missing; clipped to the contract's ``observation.clip``."""
        source = {"position": position, "velocity": velocity, "effort": effort}
        sources = sources or {}
        taken = dict.fromkeys(SOURCE_SIZES, 0)
        out = np.empty(len(self.fields), dtype=np.float32)
        for i, ((_, joint, interface, transform), src) in enumerate(
                zip(self.fields, self.sources, strict=True)):
            if joint and interface:
                x = source[interface].get(joint, math.nan)
            elif src in sources and taken[src] < len(sources[src]):
                x = float(sources[src][taken[src]])
                taken[src] += 1
            else:
                x = math.nan
            out[i] = math.cos(x) if transform == "cos" else math.sin(x) if transform == "sin" \
                else x
        return out if self.clip is None else np.clip(out, -self.clip, self.clip)

    def source_values(self, obs: np.ndarray) -> dict[str, list[float]]:
        """The inverse for the values with no joint: each source's values in ``obs``."""
        out: dict[str, list[float]] = {}
        for src, x in zip(self.sources, obs, strict=True):
            if src is not None:
                out.setdefault(src, []).append(float(x))
        return out

    def command(self, action: np.ndarray) -> np.ndarray:
        """The joint commands for a policy action (an index for a discrete policy)."""
        if self.discrete:
            index = int(action[0])
            if not 0 <= index < len(self.command_values):
                return self.safe_command.copy()
            return self.command_values[index].copy()
        a = np.clip(np.asarray(action, dtype=np.float64), self.low, self.high)
        return self.offset + self.sign * self.scale * a

    def action(self, command: np.ndarray) -> Any:
        """The inverse of :meth:`command`: the env action nearest to a joint command (the
        simulated robot uses it; a discrete policy's nearest row, ties to the lower index)."""
        c = np.asarray(command, dtype=np.float64)
        if self.discrete:
            return int(np.argmin(np.abs(self.command_values - c).sum(axis=1)))
        return ((c - self.offset) / (self.sign * self.scale)).astype(np.float32)

    def joint_state(self, obs: np.ndarray) -> tuple[list[str], list[float], list[float]]:
        """Joint names, positions and velocities that produce ``obs`` (inverts the fields;
        position from identity or from atan2(sin, cos))."""
        pos: dict[str, float] = {}
        vel: dict[str, float] = {}
        trig: dict[str, dict[str, float]] = {}
        for (_, joint, interface, transform), x in zip(self.fields, obs, strict=True):
            if joint is None:
                continue
            if interface == "velocity":
                vel[joint] = float(x)
            elif interface == "position" and transform == "identity":
                pos[joint] = float(x)
            elif interface == "position":
                trig.setdefault(joint, {})[transform] = float(x)
        for joint, t in trig.items():
            pos.setdefault(joint, math.atan2(t.get("sin", 0.0), t.get("cos", 1.0)))
        names = [j for j in self.data.get("joint_names", []) if j in pos or j in vel]
        return names, [pos.get(j, 0.0) for j in names], [vel.get(j, 0.0) for j in names]


def file_sha256(path: Any) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
