"""Proximal Policy Optimisation (clipped surrogate), the algorithm half of the split.

:class:`PPO` owns the optimiser, the learning-rate schedule and the minibatch RNG; the
policy (:class:`~.policy.ActorCritic`) owns everything inference needs. The update is
CleanRL's ``ppo.py``: epochs of shuffled minibatches, the clipped surrogate, the (clipped)
value loss, the entropy bonus, a global gradient-norm clip, Adam, and an early stop on the
approximate KL. Two of its steps have a faster stand-in in :mod:`.fast`, which checks itself
against them on first use and can be switched off (``DNNE_ROBOT_FAST_PATH=0``): the gradient
of the loss (:meth:`PPO._autograd_gradient` is the reference) and the Adam step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from .buffer import RolloutBuffer, RolloutMinibatch
from .fast import FAST_PATH, DirectAdam, LossTerms, PPOGradients
from .limits import ppo_problems
from .normalizer import RunningMeanStd
from .policy import ActorCritic

LOSS_KEYS = (
    "policy_loss",
    "value_loss",
    "entropy",
    "loss",
    "old_approx_kl",
    "approx_kl",
    "clipfrac",
    "grad_norm",
)


class NonFiniteLossError(RuntimeError):
    """Raised after ``max_nonfinite_updates`` consecutive NaN/inf losses."""


@dataclass
class PPOConfig:
    """PPO hyperparameters.

    The defaults are CleanRL's, from two of its scripts. The rollout and minibatch shape
    is ``ppo.py``'s: 128 steps per environment, 4 epochs, minibatches of 128 (its 4
    environments x 128 steps in 4 minibatches; ``ppo_continuous_action.py`` takes 2048
    steps, 10 epochs, minibatches of 64). The learning rate 3e-4 and no entropy bonus are
    ``ppo_continuous_action.py``'s (``ppo.py``: 2.5e-4 and 0.01). The rest is common to both:
    gamma 0.99, GAE lambda 0.95, clip 0.2 with the value loss clipped too, value weight 0.5,
    gradient norm 0.5, normalised advantages, a linearly annealed learning rate, no KL stop.
    """

    num_steps: int = 128
    """Rollout horizon: steps per environment between updates."""
    num_epochs: int = 4
    """Passes over the rollout per update."""
    minibatch_size: int = 128
    """Transitions per gradient step (the batch is ``num_steps * num_envs``)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda: bias/variance trade-off of the advantage estimate."""
    clip_coef: float = 0.2
    """Surrogate clipping range epsilon: the ratio is clipped to ``[1-eps, 1+eps]``."""
    clip_vloss: bool = True
    """Clip the value update to ``clip_coef`` around the rollout's values."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    learning_rate: float = 3e-4
    """Adam learning rate (the starting value when annealed)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over training (see ``PPO.set_progress``)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float | None = None
    """Stop the update's epochs early once the mean approx KL exceeds this (None = off)."""
    adaptive_kl: float | None = None
    """Steer the learning rate to this KL (rl_games' ``lr_schedule: adaptive`` with its
    ``kl_threshold``): after every minibatch step, ``lr / 1.5`` if its approx KL is above
    twice this, ``lr * 1.5`` if below half, kept within [1e-6, 1e-2]. None: off. Needs
    ``anneal_lr`` off; the learning rate it reaches is saved with the optimiser's state."""
    normalize_value: bool = False
    """Learn the value in running-normalised units (rl_games' ``normalize_value``): the
    value head's outputs are turned back into returns for GAE, and the value targets are
    normalised by running statistics of the rollout's values and returns before each update."""
    normalize_rewards: bool = False
    """Scale rewards as CleanRL's ``ppo_continuous_action.py`` does: divided by the running
    std of each environment's discounted return (gymnasium's ``NormalizeReward`` with this
    ``gamma``), then clipped to [-10, 10] (:mod:`.reward_scaling`). The rollout and the update
    see the scaled rewards; episode returns stay raw."""
    max_nonfinite_updates: int = 100
    """Raise NonFiniteLossError after this many consecutive NaN/inf minibatch losses."""

    def __post_init__(self) -> None:
        # The ranges are limits.PPO_BOUNDS, which `dnne-robot validate` checks too.
        problems = ppo_problems(asdict(self))
        if problems:
            raise ValueError("; ".join(f"PPOConfig.{k} {why}" for k, why in problems.items()))
        if self.adaptive_kl is not None:
            if self.anneal_lr:
                raise ValueError("PPOConfig.adaptive_kl and anneal_lr are two learning-rate "
                                 "schedules: choose one (anneal_lr=False)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PPOConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PPOConfig fields: {unknown}")
        return cls(**d)


def explained_variance(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    """``1 - Var[y_true - y_pred] / Var[y_true]``; NaN when ``y_true`` is constant."""
    var_y = torch.var(y_true)
    if var_y == 0:
        return float("nan")
    return float(1.0 - torch.var(y_true - y_pred) / var_y)


def flat_views(flat: Tensor, params: list[nn.Parameter]) -> list[Tensor]:
    """One view of ``flat`` shaped like each parameter, laid end to end."""
    views, offset = [], 0
    for p in params:
        views.append(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return views


def loss_statistics(
    pg_loss: Tensor,
    v_loss: Tensor,
    entropy: Tensor,
    loss: Tensor,
    logratio: Tensor,
    ratio: Tensor,
    clip_coef: float,
) -> Tensor:
    """One minibatch's statistics, ``LOSS_KEYS`` without ``grad_norm``, as one vector."""
    ratio_m1 = ratio - 1.0
    return torch.stack(
        (
            pg_loss,
            v_loss,
            entropy,
            loss,
            (-logratio).mean(),  # old_approx_kl
            (ratio_m1 - logratio).mean(),  # approx_kl, http://joschu.net/blog/kl-approx.html
            (ratio_m1.abs() > clip_coef).float().mean(),  # clipfrac
        )
    )


def make_adam(params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam (eps 1e-5, as in CleanRL and SB3), fused into one kernel where torch can.

    On CPU the fused step is about 5x faster than the per-tensor loop torch uses by
    default, and the update step is the bulk of PPO's time on small networks.
    """
    try:
        return torch.optim.Adam(params, lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an old torch or an unsupported device
        return torch.optim.Adam(params, lr=lr, eps=1e-5)


def preload_optimizer() -> None:
    """Pay torch.optim's one-time start-up cost now rather than at the first update.

    The first optimiser a process makes imports ``torch._dynamo``, about a second on a
    small machine. Trainer nodes call this while the graph is set up (as SB3 does when
    it builds its model), so the training clock and the first rollout do not carry it.
    """
    make_adam([nn.Parameter(torch.zeros(1))], 1e-3)


class PPO:
    """PPO update over a filled :class:`RolloutBuffer`.

    Args:
        policy: The actor-critic to train (updated in place).
        config: Hyperparameters.
        seed: Seeds the ``torch.Generator`` that shuffles minibatches.
        fast_path: False: the plain path (autograd, ``Adam.step``) for this PPO whatever
            the switch (:data:`~.fast.FAST_PATH`) says; True: the speed path where it allows.
    """

    def __init__(
        self,
        policy: ActorCritic,
        config: PPOConfig | None = None,
        seed: int = 0,
        fast_path: bool = True,
    ) -> None:
        self.policy = policy
        self.config = config if config is not None else PPOConfig()
        self.params = [p for p in policy.parameters() if p.requires_grad]
        # One flat gradient: the norm and the clip are one operation each, and every
        # parameter's .grad is a view of it, which the optimiser reads.
        self.flat_grad = torch.zeros(
            sum(p.numel() for p in self.params),
            device=self.params[0].device if self.params else "cpu",
        )
        self.grads = flat_views(self.flat_grad, self.params)
        for p, g in zip(self.params, self.grads, strict=True):
            p.grad = g
        self.optimizer = make_adam(self.params, self.config.learning_rate)
        self.generator = torch.Generator().manual_seed(seed)
        #: Running statistics of value targets, with ``normalize_value``.
        self.value_rms = RunningMeanStd((), epsilon=1e-5) if self.config.normalize_value else None
        self.num_updates = 0
        self.num_gradient_steps = 0
        self.consecutive_nonfinite = 0
        self.total_nonfinite = 0
        # The speed path (rl/fast): stand-ins for _autograd_gradient and Adam.step that
        # check themselves against those on first use. None: the plain path.
        fast = fast_path and bool(self.params) and FAST_PATH.enabled()
        self.hand_gradient = PPOGradients.build(policy, self.params, self.grads) if fast else None
        self.direct_adam = (
            DirectAdam(self.optimizer, self.params, self.grads, self._adam_step) if fast else None
        )

    # -- schedules -------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_progress(self, fraction: float) -> None:
        """Linear annealing: ``lr = (1 - fraction) * learning_rate`` when ``anneal_lr``.

        ``fraction`` is the share of the training budget already spent, e.g.
        ``global_step / total_timesteps`` before the rollout (so it never reaches 0).
        """
        if not self.config.anneal_lr:
            return
        frac = 1.0 - min(max(float(fraction), 0.0), 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = frac * self.config.learning_rate

    # -- value normalisation ---------------------------------------------------------

    #: rl_games' clip of normalised values (its RunningMeanStd clips to [-5, 5] both ways).
    VALUE_CLIP = 5.0

    def denormalize_values(self, values: Tensor) -> Tensor:
        """The value head's outputs as returns (unchanged without ``normalize_value``)."""
        rms = self.value_rms
        if rms is None:
            return values
        std = torch.sqrt(rms.var.float() + rms.epsilon)
        return values.clamp(-self.VALUE_CLIP, self.VALUE_CLIP) * std + rms.mean.float()

    def normalize_value_targets(self, buffer: RolloutBuffer) -> None:
        """With ``normalize_value``: fold the rollout's values and returns into the running
        statistics, then express both in normalised units for the update (in place)."""
        rms = self.value_rms
        if rms is None:
            return
        rms.update(buffer.values.reshape(-1))
        rms.update(buffer.returns.reshape(-1))
        for target in (buffer.values, buffer.returns):
            target.copy_(rms.normalize(target, clip=self.VALUE_CLIP))

    #: rl_games' AdaptiveScheduler: its factor and its bounds on the learning rate.
    ADAPTIVE_FACTOR = 1.5
    ADAPTIVE_LR_RANGE = (1e-6, 1e-2)

    def _adapt_learning_rate(self, kl: float) -> None:
        """rl_games' adaptive schedule, after one minibatch step whose approx KL was ``kl``."""
        target = self.config.adaptive_kl
        if target is None:
            return
        low, high = self.ADAPTIVE_LR_RANGE
        lr = self.learning_rate
        if kl > 2.0 * target:
            lr = max(lr / self.ADAPTIVE_FACTOR, low)
        elif kl < 0.5 * target:
            lr = min(lr * self.ADAPTIVE_FACTOR, high)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def should_stop(self) -> bool:
        """True once ``max_nonfinite_updates`` consecutive losses were NaN/inf."""
        return self.consecutive_nonfinite >= self.config.max_nonfinite_updates

    def make_buffer(self, num_envs: int, device: str | torch.device = "cpu") -> RolloutBuffer:
        """A buffer shaped for this policy and configured with this ``gamma``/``gae_lambda``."""
        spec = self.policy.action_spec
        return RolloutBuffer(
            num_steps=self.config.num_steps,
            num_envs=num_envs,
            obs_dim=self.policy.obs_dim,
            action_shape=spec.shape,
            action_dtype=torch.long if spec.is_discrete else torch.float32,
            device=device,
            gamma=self.config.gamma,
            gae_lambda=self.config.gae_lambda,
        )

    # -- the update ------------------------------------------------------------------

    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """Run ``num_epochs`` of minibatch updates on a buffer with computed advantages.

        Returns:
            ``policy_loss``, ``value_loss``, ``entropy``, ``loss``, ``old_approx_kl``,
            ``approx_kl`` (``E[(ratio - 1) - log ratio]``), ``clipfrac``, ``grad_norm``
            (means over the minibatch steps taken), ``explained_variance``,
            ``learning_rate``, ``epochs_run`` (fewer than ``num_epochs`` after a KL early
            stop), ``gradient_steps`` and ``skipped_nonfinite``.

        Raises:
            NonFiniteLossError: after ``max_nonfinite_updates`` consecutive NaN/inf
                losses (or gradient norms); each one is skipped without an optimiser step.
        """
        cfg = self.config
        if (buffer.gamma, buffer.gae_lambda) != (cfg.gamma, cfg.gae_lambda):
            raise ValueError(
                f"buffer gamma/gae_lambda ({buffer.gamma}, {buffer.gae_lambda}) differ from "
                f"PPOConfig ({cfg.gamma}, {cfg.gae_lambda}); build it with PPO.make_buffer"
            )
        self.policy.train()
        sums = [0.0] * len(LOSS_KEYS)
        loss_index, kl_index = LOSS_KEYS.index("loss"), LOSS_KEYS.index("approx_kl")
        steps = skipped = epochs_run = 0
        # A minibatch as large as the batch is the same rows every epoch: normalise once.
        whole_batch = (
            [self._normalize_advantages(buffer.flatten())]
            if cfg.minibatch_size >= buffer.batch_size
            else None
        )

        for _epoch in range(cfg.num_epochs):
            epoch_kl: list[float] = []
            minibatches = whole_batch or (
                self._normalize_advantages(mb)
                for mb in buffer.get(cfg.minibatch_size, self.generator)
            )
            for mb in minibatches:
                # The loss (_autograd_gradient) and its gradient, written into flat_grad.
                mb_stats = self._gradient(mb)
                with torch.no_grad():
                    grad_norm = torch.linalg.vector_norm(self.flat_grad).item()
                values = mb_stats.tolist()  # one read of the whole vector
                if not (math.isfinite(grad_norm) and math.isfinite(values[loss_index])):
                    # Skip: no optimiser step, so NaNs never reach the weights.
                    skipped += 1
                    self.total_nonfinite += 1
                    self.consecutive_nonfinite += 1
                    if self.should_stop:
                        raise NonFiniteLossError(
                            f"{self.consecutive_nonfinite} consecutive non-finite PPO losses "
                            f"(max_nonfinite_updates={cfg.max_nonfinite_updates}); "
                            "check observations and rewards for NaN/inf"
                        )
                    continue
                # Gradient clipping: clip_grad_norm_(max_grad_norm)'s rule on the flat gradient.
                clip = cfg.max_grad_norm / (grad_norm + 1e-6)
                with torch.no_grad():
                    if clip < 1.0:
                        self.flat_grad.mul_(clip)
                    self._optimizer_step()
                values.append(grad_norm)
                sums = [total + value for total, value in zip(sums, values, strict=True)]
                self.consecutive_nonfinite = 0
                self.num_gradient_steps += 1
                steps += 1
                epoch_kl.append(values[kl_index])
                self._adapt_learning_rate(values[kl_index])

            epochs_run += 1
            # Early stop on the KL (CleanRL tests the epoch's last minibatch; this its mean).
            if (
                cfg.target_kl is not None
                and epoch_kl
                and math.fsum(epoch_kl) / len(epoch_kl) > cfg.target_kl
            ):
                break

        self.num_updates += 1
        b_values, b_returns = buffer.values.reshape(-1), buffer.returns.reshape(-1)
        means = [total / steps for total in sums] if steps else [math.nan] * len(LOSS_KEYS)
        stats = dict(zip(LOSS_KEYS, means, strict=True))
        stats.update(
            explained_variance=explained_variance(b_values, b_returns),
            learning_rate=self.learning_rate,
            epochs_run=epochs_run,
            gradient_steps=steps,
            skipped_nonfinite=skipped,
        )
        return stats

    def _normalize_advantages(self, mb: RolloutMinibatch) -> RolloutMinibatch:
        """``mb`` with advantages normalised to zero mean and unit std (``norm_adv``)."""
        adv = mb.mb_advantages
        if self.config.norm_adv and adv.numel() > 1:
            mb = mb._replace(mb_advantages=(adv - adv.mean()) / (adv.std() + 1e-8))
        return mb

    def _gradient(self, mb: RolloutMinibatch) -> Tensor:
        """Write ``dL/dtheta`` of one minibatch into :attr:`flat_grad`; return the loss
        statistics (``LOSS_KEYS`` without ``grad_norm``)."""
        if self.hand_gradient is not None:  # the speed path: rl/fast/gradients.py
            terms = self.hand_gradient.gradient(
                mb, self.config, self.flat_grad, reference=self._autograd_gradient
            )
            if self.hand_gradient.failed:  # it differed from autograd: autograd from now on
                self.hand_gradient = None
        else:
            terms = self._autograd_gradient(mb)
        with torch.no_grad():
            return loss_statistics(*terms, self.config.clip_coef)

    def _autograd_gradient(self, mb: RolloutMinibatch) -> LossTerms:
        """The PPO loss through autograd, the reference path (any policy module): write the
        gradient into :attr:`flat_grad`; return ``(pg_loss, v_loss, entropy, loss, logratio,
        ratio)``."""
        cfg = self.config
        with torch.enable_grad():
            newlogprob, entropy, newvalue = self.policy.evaluate_actions(mb.mb_obs, mb.mb_actions)
            logratio = newlogprob - mb.mb_logprobs
            ratio = logratio.exp()

            mb_advantages = mb.mb_advantages  # normalised by the caller where configured

            # Policy loss: pessimistic (max of negatives) clipped surrogate.
            pg_loss1 = -mb_advantages * ratio
            pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()

            # Value loss, optionally clipped around the rollout's values.
            if cfg.clip_vloss:
                v_loss_unclipped = (newvalue - mb.mb_returns) ** 2
                v_clipped = mb.mb_values + torch.clamp(
                    newvalue - mb.mb_values, -cfg.clip_coef, cfg.clip_coef
                )
                v_loss_clipped = (v_clipped - mb.mb_returns) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
            else:
                v_loss = 0.5 * ((newvalue - mb.mb_returns) ** 2).mean()

            entropy_loss = entropy.mean()
            loss = pg_loss - cfg.ent_coef * entropy_loss + cfg.vf_coef * v_loss
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        with torch.no_grad():
            for view, grad in zip(self.grads, grads, strict=True):
                view.copy_(grad) if grad is not None else view.zero_()
        terms = pg_loss, v_loss, entropy_loss, loss, logratio, ratio
        return tuple(t.detach() for t in terms)  # type: ignore[return-value]

    def _optimizer_step(self) -> None:
        """``optimizer.step()`` on the clipped gradient."""
        if self.direct_adam is not None:  # the speed path: rl/fast/adam.py
            self.direct_adam.step()
        else:
            self._adam_step()

    def _adam_step(self) -> None:
        """``Adam.step`` on this PPO's gradient (re-pointed: another PPO made for the same
        policy may have pointed the parameters' ``.grad`` at its own)."""
        for p, g in zip(self.params, self.grads, strict=True):
            if p.grad is not g:
                p.grad = g
        self.optimizer.step()

    # -- checkpointing ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, minibatch RNG and counters (the policy is saved separately)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "config": self.config.to_dict(),
            "num_updates": self.num_updates,
            "num_gradient_steps": self.num_gradient_steps,
            "consecutive_nonfinite": self.consecutive_nonfinite,
            "total_nonfinite": self.total_nonfinite,
            **({"value_rms": self.value_rms.state_dict()} if self.value_rms is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.direct_adam is not None:
            self.direct_adam.reset()  # the optimiser holds new state tensors
        self.generator.set_state(state["generator"])
        self.num_updates = int(state["num_updates"])
        self.num_gradient_steps = int(state["num_gradient_steps"])
        self.consecutive_nonfinite = int(state["consecutive_nonfinite"])
        self.total_nonfinite = int(state["total_nonfinite"])
        if self.value_rms is not None:
            self.value_rms.load_state_dict(state["value_rms"])
