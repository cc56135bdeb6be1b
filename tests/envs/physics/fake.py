"""A Physics with no engine behind it: unit-mass joints integrated in plain Python.

It proves the split: a task that runs on it uses nothing but the Physics interface.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dnne_robot.envs.errors import StateNotSupportedError
from dnne_robot.envs.physics.base import ModelSpec, Physics, Position


class FakePhysics(Physics):
    """``n`` independent unit-mass joints; the controls push the actuated ones.

    Each ``step`` is ``substeps`` semi-implicit Euler steps of ``timestep``.
    """

    engine = "fake"

    def __init__(self, n: int, actuated: Sequence[int] = (0,), timestep: float = 0.005,
                 substeps: int = 4) -> None:  # fmt: skip
        self.n, self.actuated = n, tuple(actuated)
        self.timestep, self.substeps = timestep, substeps
        self.dt = timestep * substeps
        self.qpos, self.qvel = (0.0,) * n, (0.0,) * n
        self.control: tuple[float, ...] = (0.0,) * len(self.actuated)
        self.calls: list[str] = []
        self.drawn: dict[str, Position] = {}

    @classmethod
    def from_spec(cls, spec: ModelSpec, n: int, **kw: Any) -> FakePhysics:
        return cls(n, spec.actuated or range(n), spec.timestep or 0.005, spec.substeps or 4, **kw)

    @classmethod
    def require_engine(cls) -> None:
        pass

    @classmethod
    def check_model_file(cls, path: str | os.PathLike[str]) -> None:
        pass

    @property
    def nq(self) -> int:
        return self.n

    @property
    def nv(self) -> int:
        return self.n

    def initial_qpos(self) -> np.ndarray:
        return np.zeros(self.n)

    def reset(self, qpos: Sequence[float], qvel: Sequence[float]) -> None:
        self.calls.append("reset")
        self.qpos, self.qvel = tuple(map(float, qpos)), tuple(map(float, qvel))
        self.control = (0.0,) * len(self.actuated)

    def set_joint_velocity(self, index: int, value: float) -> None:
        self.calls.append("set_joint_velocity")
        qvel = list(self.qvel)
        qvel[index] = value
        self.qvel = tuple(qvel)

    def set_control(self, values: Sequence[float]) -> None:
        self.calls.append("set_control")
        self.control = tuple(float(v) for v in values)

    def control_bounds(self, torque_limit: float | None) -> tuple[np.ndarray, np.ndarray]:
        limit = 1.0 if torque_limit is None else torque_limit
        return np.full(len(self.actuated), -limit), np.full(len(self.actuated), limit)

    def step(self) -> None:
        self.calls.append("step")
        q, v = list(self.qpos), list(self.qvel)
        force = [0.0] * self.n
        for joint, u in zip(self.actuated, self.control, strict=True):
            force[joint] = u
        for _ in range(self.substeps):
            v = [vi + self.timestep * fi for vi, fi in zip(v, force, strict=True)]
            q = [qi + self.timestep * vi for qi, vi in zip(q, v, strict=True)]
        self.qpos, self.qvel = tuple(q), tuple(v)

    def state_vector(self) -> np.ndarray:
        return np.array([*self.qpos, *self.qvel])

    def capture(self) -> dict[str, Any]:
        return {"engine": "fake", "qpos": list(self.qpos), "qvel": list(self.qvel)}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("engine") != "fake":
            raise StateNotSupportedError("not a fake state")
        self.qpos, self.qvel = tuple(state["qpos"]), tuple(state["qvel"])

    def render(self, markers: Mapping[str, Position] | None = None) -> np.ndarray:
        self.drawn = dict(markers or {})
        return np.zeros((4, 4, 3), dtype=np.uint8)

    def close(self) -> None:
        pass
