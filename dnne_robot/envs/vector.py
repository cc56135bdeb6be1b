"""The sequential vector env: gymnasium's ``SyncVectorEnv`` step, with less around it.

``make_env(..., vectorization="sync")`` (and ``"auto"`` where a task has no batched
implementation) builds a :class:`SameStepVectorEnv`: gymnasium's ``SyncVectorEnv`` with
same-step autoreset, whose ``step`` does what ``SyncVectorEnv.step`` does, in the same order
(each sub-env stepped, then reset at once if its episode ended, then its info merged), and
returns the same arrays and infos. What it leaves out is the generic machinery that costs a
one-env HalfCheetah step about 10 of its 62 µs: the per-step dispatch on the action and
observation spaces (``iterate``, ``concatenate``), ``deepcopy`` of a plain array, and the
autoreset modes this package never uses. Spaces other than arrays (Box, Discrete,
MultiDiscrete, MultiBinary) go through gymnasium's own functions.
``tests/envs/test_vector.py::test_same_step_env_returns_what_sync_vector_env_returns``
compares the two step by step.

:class:`~.threaded.ThreadedVectorEnv` extends it: it steps groups of sub-envs on threads and
then does the same bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Discrete, MultiBinary, MultiDiscrete
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import concatenate, iterate

#: Single-env spaces whose batch is one numpy array (``concatenate`` is ``np.stack``).
ARRAY_SPACES = (Box, Discrete, MultiBinary, MultiDiscrete)
#: Batched spaces that ``iterate`` walks row by row (``iter(array)``).
ROW_SPACES = (Box, MultiBinary, MultiDiscrete)

StepResult = tuple[Any, Any, Any, Any, dict[str, Any]]


class SameStepVectorEnv(SyncVectorEnv):
    """``SyncVectorEnv`` with same-step autoreset: on a termination or truncation the returned
    observation is already the reset one, and ``infos["final_obs"]``/``["final_info"]`` hold
    the episode's last observation and info.

    Args:
        env_fns: One function per sub-env, as for ``SyncVectorEnv``.
        copy: Return a copy of the batched observations (``SyncVectorEnv``'s ``copy``).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], copy: bool = True) -> None:
        super().__init__(env_fns, copy=copy, autoreset_mode=AutoresetMode.SAME_STEP)
        self._array_obs = type(self.single_observation_space) in ARRAY_SPACES
        self._row_actions = type(self.action_space) in ROW_SPACES

    def per_env_actions(self, actions: Any) -> Sequence[Any]:
        """One action per sub-env, as ``iterate`` gives them (an array's rows)."""
        if self._row_actions and isinstance(actions, np.ndarray):
            return actions  # indexing a row is iterating to it
        return list(iterate(self.action_space, actions))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        per_env = self.per_env_actions(actions)
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            infos = self.record(i, env.step(per_env[i]), infos)
        return self.batch(infos)

    def record(self, i: int, result: StepResult, infos: dict[str, Any]) -> dict[str, Any]:
        """Store sub-env ``i``'s step; reset it if its episode ended; merge its info."""
        obs, reward, terminated, truncated, env_info = result
        self._env_obs[i] = obs
        self._rewards[i] = reward
        self._terminations[i] = terminated
        self._truncations[i] = truncated
        if self._terminations[i] or self._truncations[i]:
            infos = self._add_info(infos, {"final_obs": obs, "final_info": env_info}, i)
            self._env_obs[i], env_info = self.envs[i].reset()
        return self._add_info(infos, env_info, i)

    def _add_info(
        self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int
    ) -> dict[str, Any]:
        """``VectorEnv._add_info``: the same arrays, made only where a key is new.

        gymnasium's builds a fresh mask array for every key of every step (a default
        argument evaluated whether used or not); a one-env HalfCheetah step merges four
        keys, about 6 µs of it.
        """
        for key, value in env_info.items():
            if key == "final_obs" or isinstance(value, dict):
                super()._add_info(vector_infos, {key: value}, env_num)
                continue
            array = vector_infos.get(key)
            if array is None:
                if type(value) in (int, float, bool) or issubclass(type(value), np.number):
                    array = np.zeros(self.num_envs, dtype=type(value))
                elif isinstance(value, np.ndarray):
                    array = np.zeros((self.num_envs, *value.shape), dtype=value.dtype)
                else:
                    array = np.full(self.num_envs, fill_value=None, dtype=object)
                vector_infos[key] = array
            array[env_num] = value
            mask_key = f"_{key}"
            mask = vector_infos.get(mask_key)
            if mask is None:
                mask = vector_infos[mask_key] = np.zeros(self.num_envs, dtype=np.bool_)
            mask[env_num] = True
        return vector_infos

    def batch(self, infos: dict[str, Any]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray,
                                                      dict[str, Any]]:
        """The step's return value once every sub-env is recorded."""
        if self._array_obs:  # np.stack(..., out=) row by row: a few envs, a fraction of its cost
            rows = self._observations
            for i, obs in enumerate(self._env_obs):
                rows[i] = obs
        else:
            self._observations = concatenate(
                self.single_observation_space, self._env_obs, self._observations
            )
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        if not self.copy:
            observations = self._observations
        elif self._array_obs:
            observations = self._observations.copy()
        else:
            observations = deepcopy(self._observations)
        return (
            observations,
            self._rewards.copy(),
            self._terminations.copy(),
            self._truncations.copy(),
            infos,
        )
