"""Batched vector envs: every sub-env stepped at once as numpy arrays.

A ``SyncVectorEnv`` of CartPole-v1 calls eight Python ``step`` methods through four
wrappers each; the physics is a few float operations per env. :class:`CartPoleBatch`
runs gymnasium's CartPole-v1 equations on ``(num_envs,)`` arrays instead, with what the
rest of the package relies on kept exactly: same-step autoreset with ``final_obs``, a
time limit that truncates, one ``np_random`` per sub-env seeded ``seed + i`` as
``make_env`` seeds them, and state capture for checkpoints. For the same seed and
actions it returns the same observations, rewards and flags, bit for bit, as
``make_env("CartPole-v1", vectorization="sync")`` (tests/envs/test_batched.py).

``make_env(..., vectorization="batched")`` builds one; ``"auto"`` does where the task
has a batched implementation (:data:`BATCHED`) and falls back to ``"sync"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .errors import EnvError, StateNotSupportedError
from .state import make_rng, rng_state

STATE_FORMAT = "dnne-batched-cartpole/1"


class CartPoleBatch(VectorEnv):
    """``num_envs`` CartPole-v1 environments (gymnasium's dynamics, Euler integration).

    Args:
        num_envs: Number of sub-envs.
        max_episode_steps: Truncate episodes at this length (CartPole-v1: 500).
        seed: Sub-env ``i`` draws its reset states from ``np_random(seed + i)``; None
            leaves them unseeded until ``reset(seed=...)``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    #: What ``step`` reads of gymnasium's CartPoleEnv; taken from an instance, not copied.
    PHYSICS = ("gravity", "masspole", "total_mass", "length", "polemass_length", "force_mag",
               "tau", "theta_threshold_radians", "x_threshold")  # fmt: skip

    def __init__(
        self, num_envs: int = 1, max_episode_steps: int = 500, seed: int | None = None
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = None
        reference = CartPoleEnv()
        if reference.kinematics_integrator != "euler":  # what step() integrates with
            raise EnvError(
                f"CartPoleBatch steps with Euler, gymnasium's CartPoleEnv with "
                f"{reference.kinematics_integrator!r}"
            )
        for name in self.PHYSICS:
            setattr(self, name, getattr(reference, name))
        self.metadata = {**self.metadata, "dt": reference.tau}
        self.single_observation_space = reference.observation_space
        self.single_action_space = reference.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.rngs = [self._rng(seed, i) for i in range(self.num_envs)]
        self.state = np.zeros((4, self.num_envs), dtype=np.float64)
        self.elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self.has_reset = False

    @staticmethod
    def _rng(seed: int | None, i: int) -> np.random.Generator:
        return seeding.np_random(None if seed is None else seed + i)[0]

    def _reset_env(self, i: int) -> None:
        self.state[:, i] = self.rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
        self.elapsed[i] = 0

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if options:
            raise ValueError(f"CartPoleBatch.reset takes no options, got {sorted(options)}")
        if seed is not None:
            seeds = seed if isinstance(seed, list) else [seed + i for i in range(self.num_envs)]
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
            self.rngs = [seeding.np_random(s)[0] for s in seeds]
        for i in range(self.num_envs):
            self._reset_env(i)
        self.has_reset = True
        return self.state.T.astype(np.float32), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self.has_reset:
            raise RuntimeError("CartPoleBatch: call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or ((actions != 0) & (actions != 1)).any():
            raise ValueError(
                f"CartPoleBatch.step expects {self.num_envs} actions in {{0, 1}}, got {actions!r}"
            )
        # CartPoleEnv.step, one column per env, operation for operation.
        x, x_dot, theta, theta_dot = self.state
        force = np.where(actions == 1, self.force_mag, -self.force_mag)  # exactly +-10
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = np.stack((x, x_dot, theta, theta_dot))

        # |v| > t is exactly v < -t or v > t.
        terminated = (np.abs(x) > self.x_threshold) | (np.abs(theta) > self.theta_threshold_radians)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        rewards = np.ones(self.num_envs, dtype=np.float64)
        obs = self.state.T.astype(np.float32)

        infos: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():
            infos["final_obs"] = obs.copy()
            infos["_final_obs"] = done.copy()
            infos["final_info"] = {}
            infos["_final_info"] = done.copy()
            for i in np.flatnonzero(done):
                self._reset_env(int(i))
                obs[i] = self.state[:, i].astype(np.float32)
        return obs, rewards, terminated, truncated, infos

    # -- checkpoints -----------------------------------------------------------------

    def capture(self) -> dict[str, Any]:
        """Physics, time limit and RNG of every sub-env, as plain Python values."""
        return {
            "format": STATE_FORMAT,
            "state": self.state.T.tolist(),
            "elapsed": self.elapsed.tolist(),
            "has_reset": self.has_reset,
            "rngs": [rng_state(rng) for rng in self.rngs],
        }

    def restore(self, saved: dict[str, Any]) -> None:
        if saved.get("format") != STATE_FORMAT:
            raise StateNotSupportedError(
                f"not a {STATE_FORMAT} state: format={saved.get('format')!r}"
            )
        if len(saved["elapsed"]) != self.num_envs:
            raise StateNotSupportedError(
                f"state has {len(saved['elapsed'])} sub-envs, the vector env has {self.num_envs}"
            )
        self.state = np.array(saved["state"], dtype=np.float64).T.copy()
        self.elapsed = np.array(saved["elapsed"], dtype=np.int64)
        self.has_reset = bool(saved["has_reset"])
        self.rngs = [make_rng(state) for state in saved["rngs"]]


BATCHED: dict[str, type[CartPoleBatch]] = {
    "CartPole-v1": CartPoleBatch,
    "dnne/CartPole-gymnasium-v0": CartPoleBatch,
}
"""Registered ids with a batched implementation, and the class that steps them."""
