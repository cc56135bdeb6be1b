"""A vector env whose MuJoCo and PyBullet sub-envs step at the same time, on threads.

MuJoCo's ``mj_step`` and PyBullet's ``stepSimulation`` release the GIL while they integrate,
so sub-envs stepped from two threads integrate on two cores at once; the Python around them
(observations, rewards, wrappers) still takes turns. :class:`ThreadedVectorEnv` is gymnasium's
``SyncVectorEnv`` with that one change: the sub-envs are split into ``workers`` fixed groups,
and each step runs one group on the calling thread and the others on a
``concurrent.futures.ThreadPoolExecutor`` with ``workers - 1`` threads. Every sub-env is its
own object, stepped by exactly one thread per step, so the results are those of
``SyncVectorEnv`` for the same seeds and actions, bit for bit: the resets of finished episodes,
the info merge and the observation batch are done afterwards on the calling thread, in
sub-env order, by :class:`~.vector.SameStepVectorEnv`'s bookkeeping
(``tests/envs/test_threaded.py``).

``make_env(..., vectorization="threads")`` builds one. It pays off where the physics is most
of a step: on 2 idle cores, 8 sub-envs of Humanoid-v5 stepped in 0.62x the time of the
``SyncVectorEnv``, Ant-v5 0.67x, Hopper-v5 0.79x; where a step is mostly Python it costs more
than it saves (HalfCheetah-v5 1.05x, InvertedPendulum-v5 1.37x, FrankaReach on MuJoCo 1.12x),
so ``"auto"`` does not pick it (``python bench/sb3_bench.py --scaling-only``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gymnasium as gym
import numpy as np

from .vector import SameStepVectorEnv, StepResult


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadedVectorEnv(SameStepVectorEnv):
    """``SameStepVectorEnv`` stepping its sub-envs on ``workers`` threads.

    Args:
        env_fns: One function per sub-env, as for ``SyncVectorEnv``.
        workers: Threads that step at once, the calling one included (at most ``len(env_fns)``);
            None: :func:`usable_cores`.
    """

    def __init__(
        self, env_fns: Sequence[Callable[[], gym.Env]], workers: int | None = None
    ) -> None:
        super().__init__(env_fns)
        workers = usable_cores() if workers is None else int(workers)
        self.workers = max(1, min(workers, self.num_envs))
        self.groups = [g.tolist() for g in np.array_split(np.arange(self.num_envs), self.workers)]
        self._pool = (
            ThreadPoolExecutor(self.workers - 1, thread_name_prefix="dnne-env")
            if self.workers > 1
            else None
        )

    def _step_group(self, group: list[int], actions: Sequence[Any]) -> list[StepResult]:
        return [self.envs[i].step(actions[i]) for i in group]

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        per_env = self.per_env_actions(actions)
        if self._pool is None:
            results = self._step_group(self.groups[0], per_env)
        else:
            futures = [self._pool.submit(self._step_group, g, per_env) for g in self.groups[1:]]
            results = self._step_group(self.groups[0], per_env)
            for future in futures:
                results += future.result()
        # The sequential env's bookkeeping from here on, in sub-env order.
        infos: dict[str, Any] = {}
        for i, result in enumerate(results):
            infos = self.record(i, result, infos)
        return self.batch(infos)

    def close_extras(self, **kwargs: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        super().close_extras(**kwargs)
