"""Reward normalisation: gymnasium's ``NormalizeReward`` and a clip, as CleanRL applies them.

CleanRL's ``ppo_continuous_action.py`` wraps every environment in
``NormalizeReward(gamma=gamma)`` and then ``TransformReward(clip to [-10, 10])``. Per
environment ``i`` and step, with ``r`` the raw reward and ``d`` the step's ``terminated``::

    ret_i = ret_i * gamma * (1 - d_i) + r_i                 discounted return (float64)
    (mean_i, var_i, count_i) <- Welford update with [ret_i]  a batch of one
    r'_i  = clip(r_i / sqrt(var_i + 1e-8), -10, 10)

The reward is divided by the running standard deviation of the discounted return and is
not centred (openai/baselines#538). The arithmetic, its order and its float64 precision are
those of gymnasium's wrapper (the same from 0.27 to 1.4), so on the same rewards and
termination flags :class:`RewardNormalizer` gives gymnasium's numbers bit for bit
(``tests/rl/test_reward_scaling.py``). As in gymnasium, a truncation does not reset the
return, and a termination resets it *before* the terminal reward is added, so that reward
starts the next episode's return.

Each environment has its own statistics, as CleanRL's wrappers sit inside each environment
of its ``SyncVectorEnv`` (gymnasium's vector ``NormalizeReward`` and SB3's ``VecNormalize``
share one statistic instead; with one environment they all agree). A non-finite reward is
passed through unscaled and leaves that environment's statistics as they were (in gymnasium
it would poison them for the rest of the run).

This module is copied into exported projects with the rest of :mod:`dnne_robot.rl`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .normalizer import fold_in_one

#: CleanRL's ``TransformReward(lambda r: np.clip(r, -10, 10))`` after the normalisation.
REWARD_CLIP = 10.0


class RewardNormalizer:
    """Scales rewards by the running std of each environment's discounted return.

    Args:
        num_envs: Environments per step; each has its own return and statistics.
        gamma: Discount of the return (CleanRL passes its PPO ``gamma``).
        epsilon: Added to the variance under the square root (gymnasium's 1e-8).
        clip: Scaled rewards are clipped to ``[-clip, clip]``.
    """

    def __init__(self, num_envs: int, gamma: float = 0.99, epsilon: float = 1e-8,
                 clip: float = REWARD_CLIP) -> None:
        if num_envs < 1:
            raise ValueError(f"RewardNormalizer num_envs must be >= 1, got {num_envs}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"RewardNormalizer gamma must be in [0, 1], got {gamma}")
        if not epsilon > 0.0:
            raise ValueError(f"RewardNormalizer epsilon must be > 0, got {epsilon}")
        if not clip > 0.0:
            raise ValueError(f"RewardNormalizer clip must be > 0, got {clip}")
        self.num_envs = int(num_envs)
        self.gamma = float(gamma)
        self.epsilon = float(epsilon)
        self.clip = float(clip)
        f64 = torch.float64
        #: Discounted return of each environment (gymnasium's ``discounted_reward``).
        self.returns = torch.zeros(self.num_envs, dtype=f64)
        #: Running statistics of the returns (gymnasium's ``RunningMeanStd`` start values).
        self.mean = torch.zeros(self.num_envs, dtype=f64)
        self.var = torch.ones(self.num_envs, dtype=f64)
        self.count = torch.full((self.num_envs,), 1e-4, dtype=f64)

    @torch.no_grad()
    def __call__(self, reward: Tensor, terminated: Tensor) -> Tensor:
        """Fold one step into the statistics; return its scaled rewards ``(N,)`` float32.

        Args:
            reward: ``(N,)`` raw rewards.
            terminated: ``(N,)`` the step ended the episode in a terminal state
                (truncations are not passed: they do not reset the return).
        """
        r = torch.as_tensor(reward).detach().to("cpu", torch.float64).reshape(-1)
        done = torch.as_tensor(terminated).detach().to("cpu").reshape(-1)
        if r.numel() != self.num_envs or done.numel() != self.num_envs:
            raise ValueError(
                f"RewardNormalizer expects {self.num_envs} rewards and terminated flags per "
                f"step, got {r.numel()} and {done.numel()}")
        finite = torch.isfinite(r)
        not_done = 1.0 - done.to(torch.float64)
        # gymnasium: discounted_reward * gamma * (1 - terminated) + reward
        returns = self.returns * self.gamma * not_done + r
        # RunningMeanStd.update([ret]): batch mean ret, batch variance 0, batch count 1.
        mean, var, total = fold_in_one(self.mean, self.var, self.count, returns)
        self.returns = torch.where(finite, returns, self.returns)
        self.mean = torch.where(finite, mean, self.mean)
        self.var = torch.where(finite, var, self.var)
        self.count = torch.where(finite, total, self.count)
        scaled = r / torch.sqrt(self.var + self.epsilon)
        scaled = torch.where(finite, scaled.clamp(-self.clip, self.clip), r)
        return scaled.to(torch.float32)

    def state_dict(self) -> dict[str, Any]:
        """Returns, statistics and settings (a resumed run continues bit-identically)."""
        return {
            "returns": self.returns.clone(),
            "mean": self.mean.clone(),
            "var": self.var.clone(),
            "count": self.count.clone(),
            "gamma": self.gamma,
            "epsilon": self.epsilon,
            "clip": self.clip,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        tensors = {}
        for key in ("returns", "mean", "var", "count"):
            value = torch.as_tensor(state[key], dtype=torch.float64).reshape(-1)
            if value.numel() != self.num_envs:
                raise ValueError(
                    f"reward normaliser state has {value.numel()} environments' {key}, this run "
                    f"has {self.num_envs}: resume with the num_envs it was saved with")
            tensors[key] = value.clone()
        self.returns, self.mean = tensors["returns"], tensors["mean"]
        self.var, self.count = tensors["var"], tensors["count"]
