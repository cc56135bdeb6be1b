"""Fixed-size on-policy rollout storage with GAE, shaped ``(num_steps, num_envs, ...)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor


def to_numpy(x: object) -> np.ndarray:
    """``x`` as a numpy array: a CPU tensor's own memory, a tensor elsewhere copied to the
    host, anything else through ``np.asarray``. numpy's TypeError for a tensor of a dtype it
    lacks (bfloat16)."""
    if isinstance(x, Tensor):
        return x.numpy() if x.is_cpu and not x.requires_grad else x.detach().cpu().numpy()
    return np.asarray(x)


class RolloutMinibatch(NamedTuple):
    """One shuffled minibatch of the flattened ``b_*`` batch."""

    mb_obs: Tensor
    mb_actions: Tensor
    mb_logprobs: Tensor
    mb_advantages: Tensor
    mb_returns: Tensor
    mb_values: Tensor


def gae_recursion(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_value: np.ndarray,
    gamma: float,
    gae_lambda: float,
    out: np.ndarray,
) -> None:
    """GAE's backward recursion over ``(T, N)`` float32 arrays, into ``out`` (the advantages).

    The torch loop :meth:`RolloutBuffer.compute_returns_and_advantage` ran before, operation
    for operation in float32 (each Python float rounded to float32 as torch rounds it);
    ``tests/rl/test_buffer.py`` keeps that loop as the reference.
    """
    num_steps = rewards.shape[0]
    g = np.float32(gamma)
    gl = np.float32(gamma * gae_lambda)
    one = np.float32(1.0)
    last = np.zeros_like(last_value)
    next_value = last_value
    for t in range(num_steps - 1, -1, -1):
        non_terminal = one - dones[t]
        if t + 1 < num_steps:
            next_value = values[t + 1]
        delta = rewards[t] + g * next_value * non_terminal - values[t]
        last = delta + gl * non_terminal * last
        out[t] = last


def _host_rows(inputs: tuple[Any, ...]) -> list[Any] | None:
    """:meth:`RolloutBuffer.add`'s inputs as numpy arrays (None stays None), or None where
    numpy cannot hold one (the torch path then stores the step)."""
    try:
        return [None if x is None else to_numpy(x) for x in inputs]
    except (TypeError, RuntimeError):
        return None


class RolloutBuffer:
    """Preallocated rollout of ``num_steps`` transitions from ``num_envs`` environments.

    Row ``t`` holds one transition ``(obs_t, a_t, log pi(a_t|obs_t), V(obs_t), r_t,
    terminated_t, truncated_t)``: the flags say whether the step *taken from* ``obs_t``
    ended the episode. Observations are stored already normalised, exactly as the
    policy saw them, so that log-probabilities recomputed at update time match.

    Args:
        num_steps: Rollout horizon ``T`` per environment.
        num_envs: Number of parallel environments ``N``.
        obs_dim: Observation width.
        action_shape: Shape of one action: ``()`` for discrete, ``(act_dim,)`` otherwise.
        action_dtype: ``torch.long`` for discrete, ``torch.float32`` for continuous.
        device: Where the tensors live.
        gamma: Discount, used by the truncation bootstrap and by GAE.
        gae_lambda: GAE ``lambda``.
    """

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_dim: int,
        action_shape: Sequence[int] = (),
        action_dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
    ) -> None:
        if num_steps < 1 or num_envs < 1:
            raise ValueError(f"num_steps and num_envs must be >= 1, got {num_steps}, {num_envs}")
        self.num_steps = int(num_steps)
        self.num_envs = int(num_envs)
        self.obs_dim = int(obs_dim)
        self.action_shape = tuple(int(s) for s in action_shape)
        self.action_dtype = action_dtype
        self.device = torch.device(device)
        self.gamma = float(gamma)
        self.gae_lambda = float(gae_lambda)

        T, N = self.num_steps, self.num_envs
        f32 = dict(dtype=torch.float32, device=self.device)
        self.obs = torch.zeros((T, N, self.obs_dim), **f32)
        self.actions = torch.zeros((T, N, *self.action_shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((T, N), **f32)
        self.values = torch.zeros((T, N), **f32)
        self.rewards = torch.zeros((T, N), **f32)
        self.dones = torch.zeros((T, N), **f32)
        self.advantages = torch.zeros((T, N), **f32)
        self.returns = torch.zeros((T, N), **f32)
        self.pos = 0
        self.computed = False
        self.deferred = False
        # numpy views of the rows add writes (the tensors' own memory; None off the CPU).
        rows = (self.obs, self.actions, self.logprobs, self.values, self.rewards, self.dones)
        self._host = tuple(x.numpy() for x in rows) if self.device.type == "cpu" else None

    def reset(self) -> None:
        """Start a new rollout (the tensors are overwritten in place, not reallocated)."""
        self.pos = 0
        self.computed = False
        self.deferred = False

    @property
    def full(self) -> bool:
        return self.pos == self.num_steps

    def add(
        self,
        obs: Tensor,
        action: Tensor,
        log_prob: Tensor,
        value: Tensor,
        reward: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        final_values: Tensor | None = None,
    ) -> None:
        """Store one step of all environments.

        Truncation bootstrap (as in SB3): a time-limit truncation is not a real
        terminal state, so the value of the state the episode was cut at is folded
        into the reward, ``r_t += gamma * V(final_obs_t)``, where truncated and not
        terminated. GAE then cuts the trace at every done, as for a termination.

        Args:
            obs: Normalised observations ``(N, obs_dim)``, as returned in ``PolicyStep.obs``.
            action: Raw actions ``(N, *action_shape)``, as in ``PolicyStep.action``.
            log_prob: ``(N,)`` log-probabilities of ``action`` when it was taken.
            value: ``(N,)`` critic values ``V(obs)``. Both may be None on every step of a
                rollout (``ActorCritic.act(score=False)``); then :meth:`fill_scores` must
                supply them before :meth:`compute_returns_and_advantage`.
            reward: ``(N,)`` rewards of this step.
            terminated: ``(N,)`` bool, the episode reached a terminal state.
            truncated: ``(N,)`` bool, the episode was cut off (e.g. time limit).
            final_values: ``(N,)`` ``V(final_obs)`` for the truncated environments, e.g.
                ``policy.predict_value(final_obs)``; entries of environments
                that were not truncated are ignored. Required when any is truncated.
        """
        if self.full:
            raise RuntimeError(
                "RolloutBuffer is full; call compute_returns_and_advantage, get, reset"
            )
        t = self.pos
        deferred = log_prob is None or value is None
        if deferred and (log_prob is not None or value is not None):
            raise ValueError("log_prob and value must both be given or both be None")
        if t == 0:
            self.deferred = deferred
        elif deferred != self.deferred:
            raise ValueError(
                "a rollout must give log_prob and value on every step or on none "
                f"(step {t} {'does not' if deferred else 'does'})"
            )
        inputs = (obs, action, log_prob, value, reward, terminated, truncated)
        rows = None if self._host is None else _host_rows(inputs)
        if rows is not None:
            self._add_host(t, rows, final_values)
        else:
            self._add_torch(t, inputs, final_values)
        self.pos += 1
        self.computed = False

    def _add_host(self, t: int, rows: list[Any], final_values: Tensor | None) -> None:
        """:meth:`add` of a CPU buffer: row ``t`` written through numpy views of its tensors.

        A torch index assignment costs several microseconds, a numpy one a fraction of that;
        both copy the same values (numpy casts float64 to float32 and bool to 0/1 as torch's
        ``copy_`` does). The truncation bootstrap stays torch's arithmetic.
        """
        obs, action, log_prob, value, reward, terminated, truncated = rows
        if terminated.dtype != np.bool_:
            terminated = terminated.astype(np.bool_)
        if truncated.dtype != np.bool_:
            truncated = truncated.astype(np.bool_)
        if reward.dtype != np.float32:
            reward = reward.astype(np.float32)
        if np.count_nonzero(truncated):
            bootstrap = truncated & ~terminated
            if np.count_nonzero(bootstrap):
                # A copy: the caller's array may be read-only or strided the wrong way.
                reward = self._bootstrap(
                    torch.tensor(reward), torch.from_numpy(bootstrap), final_values
                ).numpy()
        obs_rows, action_rows, log_prob_rows, value_rows, reward_rows, done_rows = self._host
        obs_rows[t] = obs
        action_rows[t] = action.reshape(action_rows.shape[1:])
        if log_prob is not None:
            log_prob_rows[t] = log_prob
            value_rows[t] = value
        reward_rows[t] = reward
        done_rows[t] = terminated | truncated

    def _add_torch(self, t: int, inputs: tuple[Any, ...], final_values: Tensor | None) -> None:
        """:meth:`add` through torch index assignment: a buffer off the CPU, or an input
        numpy cannot hold."""
        obs, action, log_prob, value, reward, terminated, truncated = inputs
        terminated = torch.as_tensor(terminated, device=self.device)
        truncated = torch.as_tensor(truncated, device=self.device)
        if terminated.dtype != torch.bool:
            terminated = terminated.bool()
        if truncated.dtype != torch.bool:
            truncated = truncated.bool()
        reward = torch.as_tensor(reward, device=self.device, dtype=torch.float32)
        if bool(truncated.any()):
            bootstrap = truncated & ~terminated
            if bool(bootstrap.any()):
                reward = self._bootstrap(reward, bootstrap, final_values)

        # Row copies (copy_ converts dtypes), so the caller's tensors are never kept.
        self.obs[t] = obs.detach()
        self.actions[t] = action.detach().reshape(self.actions.shape[1:])
        if log_prob is not None:
            self.logprobs[t] = log_prob.detach()
            self.values[t] = value.detach()
        self.rewards[t] = reward
        self.dones[t] = terminated | truncated

    def _bootstrap(self, reward: Tensor, bootstrap: Tensor, final_values: Tensor | None) -> Tensor:
        """``reward + gamma * final_values`` where ``bootstrap`` (truncated, not terminated)."""
        if final_values is None:
            raise ValueError("final_values is required when an environment is truncated")
        final_values = final_values.detach().to(self.device, torch.float32)
        return torch.where(bootstrap, reward + self.gamma * final_values, reward)

    def fill_scores(self, log_probs: Tensor, values: Tensor) -> None:
        """Store the ``(T * N,)`` log-probabilities and values of a rollout that was added
        without them, in the order of :meth:`flatten`."""
        if not self.full:
            raise RuntimeError(f"rollout incomplete: {self.pos}/{self.num_steps} steps added")
        self.logprobs.copy_(log_probs.detach().reshape(self.logprobs.shape))
        self.values.copy_(values.detach().reshape(self.values.shape))
        self.deferred = False

    @torch.no_grad()
    def compute_returns_and_advantage(
        self, last_value: Tensor, last_done: Tensor | None = None
    ) -> None:
        """Generalised Advantage Estimation (Schulman et al. 2016, eq. 11-16).

        With ``d_t = terminated_t or truncated_t`` (stored with step ``t``) and
        ``V(s_T) = last_value``, the value of the observation after the last step::

            delta_t = r_t + gamma * (1 - d_t) * V(s_{t+1}) - V(s_t)
            A_t     = delta_t + gamma * lambda * (1 - d_t) * A_{t+1},   A_T = 0
            R_t     = A_t + V(s_t)          (the value target, TD(lambda) return)

        A done cuts both the bootstrap and the trace: after it, ``s_{t+1}`` is the first
        observation of the next episode (same-step autoreset). For a truncation the
        value of the true final state was already added to ``r_t`` by :meth:`add`, so
        ``r_t + gamma * V(final_obs)`` stands in for the missing ``gamma * V(s_{t+1})``.

        Args:
            last_value: ``(N,)`` ``V(next_obs)`` after the final stored step.
            last_done: Optional ``(N,)`` done flags after the final step, accepted for
                CleanRL-style call sites. The buffer already holds them (``d_{T-1}``);
                if given they must agree, which catches off-by-one storage.
        """
        if not self.full:
            raise RuntimeError(f"rollout incomplete: {self.pos}/{self.num_steps} steps added")
        if self.deferred:
            raise RuntimeError("this rollout was added without log_prob/value: call fill_scores")
        if last_done is not None:
            last_done = torch.as_tensor(last_done, device=self.device).float()
            if not torch.equal(last_done, self.dones[-1]):
                raise ValueError(
                    "last_done disagrees with the done flags stored with the last step"
                )
        next_value = last_value.detach().to(self.device, torch.float32).reshape(self.num_envs)
        # In numpy, float32 operation for operation as the torch loop it replaced (a step of
        # the recursion is a few operations on num_envs values, which torch dispatches at
        # several times numpy's cost; tests/rl/test_buffer.py checks the bits). On the CPU
        # it works on the tensors' own memory; on a GPU on host copies (one copy each way
        # instead of a kernel launch per operation and step).
        on_cpu = self.device.type == "cpu"
        advantages = (
            self.advantages.numpy() if on_cpu else np.empty(self.advantages.shape, np.float32)
        )
        gae_recursion(
            self.rewards.cpu().numpy(), self.values.cpu().numpy(), self.dones.cpu().numpy(),
            next_value.cpu().numpy(), self.gamma, self.gae_lambda, advantages,
        )  # fmt: skip
        if not on_cpu:
            self.advantages.copy_(torch.from_numpy(advantages))
        torch.add(self.advantages, self.values, out=self.returns)
        self.computed = True

    @property
    def batch_size(self) -> int:
        return self.num_steps * self.num_envs

    def flatten_inputs(self) -> tuple[Tensor, Tensor]:
        """Observations ``(T * N, obs_dim)`` and actions of the rollout, as stored."""
        return self.obs.reshape(-1, self.obs_dim), self.actions.reshape(-1, *self.action_shape)

    def flatten(self) -> RolloutMinibatch:
        """The whole rollout as ``b_*`` tensors of ``num_steps * num_envs`` rows."""
        if not self.computed:
            raise RuntimeError("call compute_returns_and_advantage before reading the batch")
        return RolloutMinibatch(
            self.obs.reshape(-1, self.obs_dim),
            self.actions.reshape(-1, *self.action_shape),
            self.logprobs.reshape(-1),
            self.advantages.reshape(-1),
            self.returns.reshape(-1),
            self.values.reshape(-1),
        )

    def get(
        self, minibatch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[RolloutMinibatch]:
        """Yield shuffled minibatches covering every transition exactly once.

        The permutation is drawn from ``generator`` (CPU ``torch.Generator``) so runs are
        reproducible. A last, smaller minibatch carries the remainder if
        ``minibatch_size`` does not divide the batch. A minibatch as large as the batch
        is the batch itself, in storage order: every loss term is a mean over rows, so a
        permutation would change nothing but the rounding (and costs seven copies).
        """
        if minibatch_size >= self.batch_size:
            yield self.flatten()
            return
        b_obs, b_actions, b_logprobs, b_advantages, b_returns, b_values = self.flatten()
        b_inds = torch.randperm(self.batch_size, generator=generator).to(self.device)
        for start in range(0, self.batch_size, minibatch_size):
            mb_inds = b_inds[start : start + minibatch_size]
            yield RolloutMinibatch(
                b_obs[mb_inds],
                b_actions[mb_inds],
                b_logprobs[mb_inds],
                b_advantages[mb_inds],
                b_returns[mb_inds],
                b_values[mb_inds],
            )
