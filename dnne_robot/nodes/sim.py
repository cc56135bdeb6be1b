"""The bridge between the simulator adapters (numpy) and the graph's tensors.

The simulator node creates a :class:`SimHandle`; the step node calls :meth:`SimHandle.step`;
the Ray rollout workers step one the same way.
The handle keeps what a checkpoint needs to resume bit-identically: the simulator state and
the observation the agent is about to act on.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from ..envs import capture_state, make_env, restore_state
from ..runtime import RunContext


class Done(NamedTuple):
    """Why each env's episode ended this step. Truncation and termination stay distinct."""

    terminated: torch.Tensor
    truncated: torch.Tensor
    final_observations: torch.Tensor

    @property
    def any(self) -> torch.Tensor:
        return self.terminated | self.truncated


class StepResult(NamedTuple):
    observations: torch.Tensor
    rewards: torch.Tensor
    done: Done
    info: dict[str, Any]
    next_observations: torch.Tensor


def _action_spec(space: Any) -> dict[str, Any]:
    if hasattr(space, "n"):
        return {"kind": "discrete", "n": int(space.n), "low": None, "high": None}
    return {"kind": "continuous", "n": None,
            "low": [float(v) for v in np.asarray(space.low).reshape(-1)],
            "high": [float(v) for v in np.asarray(space.high).reshape(-1)]}


class SimHandle:
    """A vector env plus the bookkeeping the graph needs (steps, episodes, state)."""

    def __init__(self, ctx: RunContext, task: str, engine: str, *, num_envs: int, seed: int,
                 vectorization: str = "sync", options: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.task = task
        self.engine = engine
        self.num_envs = num_envs
        self.seed = seed
        self.env = make_env(task, engine, num_envs=num_envs, seed=seed,
                            vectorization=vectorization, **(options or {}))
        obs, _ = self.env.reset(seed=seed)
        self.obs = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        self.discrete = hasattr(self.env.single_action_space, "n")
        self.episode_return = np.zeros(num_envs, dtype=np.float64)
        self.episode_length = np.zeros(num_envs, dtype=np.int64)
        self.episodes: list[tuple[int, float, int]] = []  # (global step, return, length)
        self.episodes_before = 0  # finished before the checkpoint this run resumed from
        self.unstable = 0
        dt = getattr(self.env, "metadata", {}).get("dt")
        if dt is None:
            dt = self.env.get_attr("dt")[0] if hasattr(self.env, "get_attr") else None
        ctx.env_info.update(
            task=task, engine=engine, num_envs=num_envs,
            obs_dim=int(np.prod(self.env.single_observation_space.shape)),
            action=_action_spec(self.env.single_action_space),
            dt=float(dt) if dt is not None else None,
            async_workers=type(self.env).__name__ == "AsyncVectorEnv",
        )

    # ------------------------------------------------------------------ stepping
    def reset(self) -> torch.Tensor:
        """Start new episodes in every env (their RNGs go on); returns the observations."""
        obs, _ = self.env.reset()
        self.obs = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        self.episode_return[:] = 0.0
        self.episode_length[:] = 0
        return self.obs

    def step(self, actions: torch.Tensor) -> StepResult:
        # A CPU tensor's own memory (detach and cpu cost a microsecond where they do nothing).
        act = (actions.numpy() if actions.is_cpu and not actions.requires_grad
               else actions.detach().cpu().numpy())  # fmt: skip
        if self.discrete:
            act = act.astype(np.int64).reshape(self.num_envs)
        obs, rewards, terminated, truncated, info = self.env.step(act)
        obs = np.asarray(obs, dtype=np.float32)
        final = obs
        if "_final_obs" in info and np.count_nonzero(info["_final_obs"]):
            final = obs.copy()
            for i in np.flatnonzero(info["_final_obs"]):
                final[i] = info["final_obs"][i]
        final_info = info.get("final_info")
        if final_info and "_unstable" in final_info:  # the adapter ended an unstable episode
            self.unstable += int(np.sum(final_info["_unstable"] & final_info["unstable"]))
        self._track_episodes(rewards, terminated | truncated)
        self.ctx.env_steps += self.num_envs
        self.obs = torch.from_numpy(obs)
        done = Done(torch.from_numpy(np.asarray(terminated, dtype=bool)),
                    torch.from_numpy(np.asarray(truncated, dtype=bool)),
                    torch.from_numpy(final))
        return StepResult(done.final_observations,
                          torch.from_numpy(np.asarray(rewards, dtype=np.float32)),
                          done, info, self.obs)

    def _track_episodes(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.episode_return += rewards
        self.episode_length += 1
        if np.count_nonzero(done):  # a fraction of any()'s cost
            step = self.ctx.env_steps + self.num_envs
            for i in np.flatnonzero(done):
                self.episodes.append((step, float(self.episode_return[i]),
                                      int(self.episode_length[i])))
            self.episode_return[done] = 0.0
            self.episode_length[done] = 0

    #: Finished episodes a checkpoint keeps (for recent returns after a resume).
    KEEP_EPISODES = 100

    @property
    def num_episodes(self) -> int:
        """Episodes finished since the run started, a resumed run's earlier ones included."""
        return self.episodes_before + len(self.episodes)

    def recent_return(self, last: int = 20) -> float | None:
        if not self.episodes:
            return None
        return float(np.mean([r for _, r, _ in self.episodes[-last:]]))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "env": capture_state(self.env),
            "obs": self.obs.clone(),
            "episode_return": self.episode_return.tolist(),
            "episode_length": self.episode_length.tolist(),
            "env_steps": self.ctx.env_steps,
            "unstable": self.unstable,
            "num_episodes": self.num_episodes,
            "recent_episodes": self.episodes[-self.KEEP_EPISODES:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_state(self.env, state["env"])
        self.obs = state["obs"].clone()
        self.episode_return = np.asarray(state["episode_return"], dtype=np.float64)
        self.episode_length = np.asarray(state["episode_length"], dtype=np.int64)
        self.ctx.env_steps = int(state["env_steps"])
        self.unstable = int(state["unstable"])
        self.episodes = [tuple(e) for e in state.get("recent_episodes", [])]
        self.episodes_before = int(state.get("num_episodes", 0)) - len(self.episodes)

    def close(self) -> None:
        self.env.close()
