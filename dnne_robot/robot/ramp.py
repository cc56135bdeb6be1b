"""The start-up ramp: from the joint positions of the first fresh state to the contract's
``default_pose``, over ``ramp_s`` seconds, before the policy runs.

The reference moves linearly: ``q_ref(t) = q0 + (pose - q0) * min(1, t / ramp_s)``, ``t``
from the first ramp cycle. What is commanded depends on the contract's ``action.interface``:

* ``position`` (the command is a joint target): the command is ``q_ref(t)`` itself, a linear
  interpolation of the targets.
* ``effort`` (the command is a torque or force; Reach: the motor control in [-1, 1], 0.05 N m
  per unit): a PD law toward the moving reference,
  ``command = kp * (q_ref(t) - q) - kd * q_dot``, with ``kp`` and ``kd`` per joint in
  command units per rad and per rad/s, from ``--ramp-kp``/``--ramp-kd`` or else the
  contract's ``ramp_gains``; without gains there is no ramp.
* ``velocity``, and every discrete policy (an action index cannot carry a PD law): no ramp.

The command becomes an action through the contract's inverse mapping
(:meth:`~.contract.Contract.action`), clipped into the action bounds, and goes through the
transport like a policy action (the same clamp and rate limit). ``q`` and ``q_dot`` come
from the observation through the contract's fields (:meth:`~.contract.Contract.joint_state`:
an identity position, or ``atan2(sin, cos)``), so the ramp works on any transport. Every
commanded joint must be in ``default_pose`` and observed, or there is no ramp.

Imports only the standard library and numpy: it is copied into every export.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import Contract
from .errors import DeployError


class Ramp:
    """Commands that bring the commanded joints to ``pose`` over ``seconds``."""

    def __init__(self, contract: Contract, seconds: float, pose: np.ndarray,
                 kp: np.ndarray | None, kd: np.ndarray | None) -> None:
        self.contract = contract
        self.seconds = seconds
        self.pose = pose
        self.kp, self.kd = kp, kd
        self.joints = contract.command_joints
        self.position = contract.data["action"].get("interface") == "position"
        self.t0: float | None = None
        self.q0: np.ndarray | None = None
        self.cycles = 0
        #: max |q - pose| (rad) at each ramp cycle, before its command.
        self.errors: list[float] = []
        self.q_last: np.ndarray | None = None

    @classmethod
    def plan(cls, contract: Contract | None, seconds: float | None,
             kp: list[float] | None = None, kd: list[float] | None = None
             ) -> tuple[Ramp | None, str]:
        """The ramp for ``contract`` (``seconds`` None: the contract's ``ramp_s``, else 2 s),
        or None and why there is none."""
        if contract is None:
            return None, "policy.json has no contract"
        if contract.default_pose is None:
            return None, "the contract names no default pose"
        seconds = (contract.ramp_s or 2.0) if seconds is None else seconds
        if seconds <= 0:
            return None, "--ramp-s 0"
        if contract.discrete:
            return None, "a discrete action cannot ramp"
        interface = contract.data["action"].get("interface")
        if interface not in ("position", "effort"):
            return None, f"no ramp for {interface!r} commands"
        missing = [j for j in contract.command_joints if j not in contract.default_pose]
        if missing:
            return None, f"the default pose has no {', '.join(missing)}"
        observed = set(contract.joints_observed)
        unseen = [j for j in contract.command_joints if j not in observed]
        if unseen:
            return None, f"the observation has no position of {', '.join(unseen)}"
        pose = np.array([contract.default_pose[j] for j in contract.command_joints])
        n = len(pose)
        gains = []
        for name, v in (("--ramp-kp", kp), ("--ramp-kd", kd)):
            if v is not None and len(v) not in (1, n):
                raise DeployError(f"{name} needs 1 or {n} values (one per joint "
                                  f"{', '.join(contract.command_joints)}), not {len(v)}")
            gains.append(None if v is None else
                         np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy())
        kp_v = gains[0] if gains[0] is not None else contract.ramp_kp
        kd_v = gains[1] if gains[1] is not None else contract.ramp_kd
        if interface == "effort" and (kp_v is None or kd_v is None):
            return None, ("effort commands need PD gains: the contract has no ramp_gains; "
                          "pass --ramp-kp and --ramp-kd")
        return cls(contract, seconds, pose, kp_v, kd_v), ""

    def describe(self) -> str:
        pose = ", ".join(f"{j} {x:g}" for j, x in zip(self.joints, self.pose, strict=True))
        law = ("linear interpolation of the position targets" if self.position else
               f"PD effort, kp {_fmt(self.kp)}, kd {_fmt(self.kd)}")
        return f"to the default pose ({pose} rad) over {self.seconds:g} s: {law}"

    def joints_of(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names, pos, vel = self.contract.joint_state(obs)
        index = {n: i for i, n in enumerate(names)}
        q = np.array([pos[index[j]] for j in self.joints])
        qd = np.array([vel[index[j]] if j in index else 0.0 for j in self.joints])
        return q, qd

    def action(self, obs: np.ndarray, now: float) -> np.ndarray | None:
        """The action for this cycle, or None once ``seconds`` passed (the ramp is over)."""
        q, qd = self.joints_of(obs)
        if self.t0 is None:
            self.t0, self.q0 = now, q
        s = (now - self.t0) / self.seconds
        self.q_last = q
        self.errors.append(float(np.max(np.abs(q - self.pose))))
        if s >= 1.0:
            return None
        ref = self.q0 + (self.pose - self.q0) * s
        command = ref if self.position else self.kp * (ref - q) - self.kd * qd
        action = np.clip(self.contract.action(command), self.contract.low, self.contract.high)
        self.cycles += 1
        return np.asarray(action, dtype=np.float32)

    def summary(self) -> dict[str, Any]:
        e = self.errors
        return {"seconds": self.seconds, "cycles": self.cycles,
                "law": "position" if self.position else "pd_effort",
                "kp": None if self.kp is None else self.kp.tolist(),
                "kd": None if self.kd is None else self.kd.tolist(),
                "pose": dict(zip(self.joints, self.pose.tolist(), strict=True)),
                "start": None if self.q0 is None else
                dict(zip(self.joints, np.round(self.q0, 5).tolist(), strict=True)),
                "end": None if self.q_last is None else
                dict(zip(self.joints, np.round(self.q_last, 5).tolist(), strict=True)),
                "error_rad": [round(x, 5) for x in e]}


def _fmt(v: np.ndarray | None) -> str:
    return "-" if v is None else "/".join(f"{x:g}" for x in v)
