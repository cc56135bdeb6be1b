"""Step-driven PPO training, for callers that see one environment step at a time.

A dataflow graph's trainer node does not own a loop: it is handed, per step, the
agent's :class:`~.policy.PolicyStep`, the rewards, the done flags and the next
observations. :class:`PPOTrainer` turns that stream into rollouts and updates, with
exactly the arithmetic of the plain loop::

    step = policy.act(obs, update_normalizer=True)              # agent node
    obs, reward, terminated, truncated, final_obs = env(step.env_action)
    stats = trainer.record(step, reward, terminated, truncated, obs, final_obs)
    if stats is not None:                                       # an update just ran
        logger.log(trainer.global_step, stats)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .buffer import RolloutBuffer, to_numpy
from .metrics import EpisodeTracker
from .policy import ActorCritic, PolicyStep
from .ppo import PPO, PPOConfig
from .reward_scaling import RewardNormalizer


def _host_flags(flags: Tensor) -> np.ndarray:
    """Done flags as a numpy bool array, the values ``torch.as_tensor(flags).bool()`` holds."""
    if isinstance(flags, Tensor) and flags.dtype != torch.bool:
        flags = flags.bool()
    array = to_numpy(flags)
    return array if array.dtype == np.bool_ else array.astype(np.bool_)


class PPOTrainer:
    """Rollout buffer, PPO update, learning-rate schedule and episode statistics.

    Args:
        policy: The policy the agent acts with (trained in place).
        config: PPO hyperparameters; ``num_steps`` is the rollout horizon.
        num_envs: Environments per step.
        total_timesteps: Training budget in environment steps (``num_envs`` per call),
            the horizon of the learning-rate annealing and of :attr:`finished`.
        seed: Seeds the minibatch shuffling.
        device: Where the rollout is stored.
    """

    def __init__(
        self,
        policy: ActorCritic,
        config: PPOConfig,
        num_envs: int,
        total_timesteps: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.policy = policy
        self.ppo = PPO(policy, config, seed=seed)
        self.buffer: RolloutBuffer = self.ppo.make_buffer(num_envs, device)
        self.episodes = EpisodeTracker(num_envs)
        #: With ``config.normalize_rewards``: scales the rewards the rollout stores.
        self.reward_normalizer = (
            RewardNormalizer(num_envs, config.gamma) if config.normalize_rewards else None
        )
        self.num_envs = int(num_envs)
        self.total_timesteps = int(total_timesteps)
        self.global_step = 0
        #: ``(return, length)`` of episodes finished since the last :meth:`pop_episodes`.
        self.finished_episodes: list[tuple[float, int]] = []

    @property
    def config(self) -> PPOConfig:
        return self.ppo.config

    @property
    def finished(self) -> bool:
        """The budget is spent, or the run of non-finite losses says stop."""
        return self.global_step >= self.total_timesteps or self.ppo.should_stop

    def record(
        self,
        step: PolicyStep,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        next_obs: Tensor,
        final_obs: Tensor | None = None,
    ) -> dict[str, float] | None:
        """Store one step; after every ``num_steps``-th, run the update.

        Args:
            step: What :meth:`ActorCritic.act` returned for this step.
            reward: ``(N,)`` raw rewards (scaled here with ``normalize_rewards``; the
                episode statistics keep them raw).
            terminated: ``(N,)`` bool.
            truncated: ``(N,)`` bool.
            next_obs: ``(N, obs_dim)`` raw observations after the step (the reset
                observation where an episode ended).
            final_obs: ``(N, obs_dim)`` raw last observations of the episodes that ended
                this step; only rows of truncated environments are read. Required when
                any environment is truncated.

        Returns:
            None, or after an update PPO's diagnostics plus ``global_step``,
            ``episode_return_mean`` and ``episode_length_mean`` (recent episodes).
        """
        reward = torch.as_tensor(reward)
        # Host views of the flags (a CPU tensor's own memory), read here, by the buffer and
        # by the episode statistics: each tensor conversion or any() costs a microsecond.
        terminated_np = _host_flags(terminated)
        truncated_np = _host_flags(truncated)
        final_values = None
        if np.count_nonzero(truncated_np):
            if final_obs is None:
                raise ValueError("final_obs is required when an environment is truncated")
            final_values = self.ppo.denormalize_values(
                self.policy.predict_value(torch.as_tensor(final_obs))
            )
        self.buffer.add(
            step.obs,
            step.action,
            step.log_prob,
            step.value,
            self.scale_rewards(reward, terminated),
            terminated_np,
            truncated_np,
            final_values,
        )
        self.finished_episodes.extend(self.episodes.step(reward, terminated_np, truncated_np))
        self.global_step += self.num_envs
        if not self.buffer.full:
            return None

        return self.finish_rollout(self.policy.predict_value(next_obs))

    def scale_rewards(self, reward: Tensor, terminated: Tensor) -> Tensor:
        """The rewards the rollout stores: ``reward`` itself, or with ``normalize_rewards``
        scaled by :class:`~.reward_scaling.RewardNormalizer` (which this step updates). Call
        it once per step, in order (callers that fill :attr:`buffer` themselves do)."""
        if self.reward_normalizer is None:
            return torch.as_tensor(reward)
        scaled = self.reward_normalizer(reward, torch.as_tensor(terminated).bool())
        return scaled.to(torch.as_tensor(reward).device)

    def finish_rollout(self, last_value: Tensor) -> dict[str, float]:
        """GAE from ``last_value``, the PPO update at the scheduled learning rate, an empty
        buffer. Returns PPO's diagnostics plus ``global_step``, ``episode_return_mean`` and
        ``episode_length_mean``. (Callers that fill :attr:`buffer` themselves, such as the
        distributed learner, call this directly.)"""
        if self.buffer.deferred:  # the agent acted with act(score=False)
            self.buffer.fill_scores(*self.policy.score(*self.buffer.flatten_inputs()))
        if self.ppo.value_rms is not None:  # the value head speaks normalised units
            self.buffer.values.copy_(self.ppo.denormalize_values(self.buffer.values))
            last_value = self.ppo.denormalize_values(last_value)
        self.buffer.compute_returns_and_advantage(last_value)
        self.ppo.normalize_value_targets(self.buffer)
        rollout_start = self.global_step - self.buffer.batch_size
        self.ppo.set_progress(rollout_start / max(self.total_timesteps, 1))
        stats = self.ppo.update(self.buffer)
        self.buffer.reset()
        stats.update(
            global_step=self.global_step,
            episode_return_mean=self.episodes.recent_mean_return,
            episode_length_mean=self.episodes.recent_mean_length,
        )
        return stats

    def pop_episodes(self) -> list[tuple[float, int]]:
        """Episodes finished since the last call (for ``MetricsLogger.log_episodes``)."""
        finished, self.finished_episodes = self.finished_episodes, []
        return finished

    def state_dict(self) -> dict[str, Any]:
        """Policy, PPO state, step counter and episode statistics, and the reward
        normaliser's returns and statistics with ``normalize_rewards`` (take it between
        rollouts: the partial rollout in the buffer is not included)."""
        state = {
            "policy_config": self.policy.config(),
            "policy": self.policy.state_dict(),
            "ppo": self.ppo.state_dict(),
            "global_step": self.global_step,
            "total_timesteps": self.total_timesteps,
            "episodes": self.episodes.state_dict(),
        }
        if self.reward_normalizer is not None:
            state["reward_normalizer"] = self.reward_normalizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.ppo.load_state_dict(state["ppo"])
        self.global_step = int(state["global_step"])
        if "episodes" in state:  # checkpoints from before it was kept have none
            self.episodes.load_state_dict(state["episodes"])
        if self.reward_normalizer is not None:
            if "reward_normalizer" not in state:
                raise ValueError(
                    "this run scales rewards (normalize_rewards) but the checkpoint has no "
                    "reward normaliser state: it was saved by a run without normalize_rewards")
            self.reward_normalizer.load_state_dict(state["reward_normalizer"])
        self.buffer.reset()
