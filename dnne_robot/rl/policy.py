"""Actor-critic policy: everything inference needs, and nothing the optimiser owns.

The policy holds the networks, the observation normaliser and the action scaling, so
it can be saved, loaded and exported on its own (see :mod:`.export`). The PPO
algorithm (:mod:`.ppo`) owns the optimiser, the rollout buffer and the schedules.

The modules (``_head``, ``value``, ``evaluate_actions``) are the reference forward pass.
Where the speed-path switch allows (:mod:`.fast`), ``act`` and ``score`` take a shortcut
with the same numbers and no module calls, and draw categories by inverting the CDF; it is
checked against the modules on the first call and dropped for good if they differ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .fast import FastForward
from .limits import actor_critic_parameters, max_param_memory, memory_problem
from .normalizer import RunningMeanStd
from .spaces import ActionSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


class PolicyStep(NamedTuple):
    """One call of :meth:`ActorCritic.act` on a batch of ``B`` observations."""

    obs: Tensor
    """Normalised observations ``(B, obs_dim)`` float32; store these in the buffer."""
    action: Tensor
    """Raw sampled action: long ``(B,)`` (discrete) or float ``(B, act_dim)``."""
    env_action: Tensor
    """What to send to the environment: clipped, or tanh-squashed and scaled."""
    log_prob: Tensor | None
    """``log pi(action | obs)`` of the raw action, ``(B,)``; None from ``act(score=False)``."""
    value: Tensor | None
    """Critic estimate ``V(obs)``, ``(B,)``; None from ``act(score=False)``."""


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (CleanRL / SB3 default)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(in_dim: int, hidden_sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Hidden layers only; the output head is added by the caller."""
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [layer_init(nn.Linear(in_dim, size)), ACTIVATIONS[activation]()]
        in_dim = size
    return nn.Sequential(*layers)


def to_env_action(action: Tensor, low: Tensor, high: Tensor, squash: bool) -> Tensor:
    """Map a raw continuous action to the environment's box.

    ``squash``: ``low + (tanh(a) + 1) / 2 * (high - low)``; otherwise ``clip(a, low, high)``.
    Shared by training and the exported deploy policy so both give identical actions.
    """
    if squash:
        return low + (torch.tanh(action) + 1.0) * 0.5 * (high - low)
    return torch.maximum(torch.minimum(action, high), low)


class ActorCritic(nn.Module):
    """Separate (or shared-trunk) actor and critic MLPs for discrete or continuous actions.

    Args:
        obs_dim: Length of the flat observation vector.
        action: The action space; see :class:`ActionSpec`.
        hidden_sizes: Hidden layer widths of each MLP.
        activation: ``"tanh"``, ``"relu"`` or ``"elu"``.
        init_log_std: Initial value of the state-independent Gaussian ``log_std``.
        normalize_obs: Keep a :class:`RunningMeanStd` and feed normalised observations.
        shared: One trunk for both heads instead of two separate MLPs.
        obs_clip: Normalised observations are clipped to ``[-obs_clip, obs_clip]``.
    """

    def __init__(
        self,
        obs_dim: int,
        action: ActionSpec,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        init_log_std: float = 0.0,
        normalize_obs: bool = True,
        shared: bool = False,
        obs_clip: float = 10.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if obs_dim < 1:
            raise ValueError(f"obs_dim must be >= 1, got {obs_dim}")
        count = actor_critic_parameters(obs_dim, action.dim, hidden_sizes, shared,
                                        not action.is_discrete)
        too_big = memory_problem(count, max_param_memory())
        if too_big:  # before any of it is allocated
            raise ValueError(f"ActorCritic with hidden_sizes {tuple(hidden_sizes)}: {too_big}")
        self.obs_dim = int(obs_dim)
        self.action_spec = action
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.activation = activation
        self.init_log_std = float(init_log_std)
        self.shared = bool(shared)
        self.obs_clip = float(obs_clip)

        self.obs_rms = RunningMeanStd(self.obs_dim) if normalize_obs else None
        feature_dim = self.hidden_sizes[-1] if self.hidden_sizes else self.obs_dim
        self.actor_body = mlp(self.obs_dim, self.hidden_sizes, activation)
        self.critic_body = None if shared else mlp(self.obs_dim, self.hidden_sizes, activation)
        self.actor_head = layer_init(nn.Linear(feature_dim, action.dim), std=0.01)
        self.critic_head = layer_init(nn.Linear(feature_dim, 1), std=1.0)
        # The speed path's act and score passes (rl/fast), decided on the first call.
        self._fast: FastForward | None = None
        self._fast_decided = False
        # A plain reference, not a registered parameter: act reads the device without two
        # module attribute lookups (about 1.3 us of its 35).
        self._device_ref = (self.actor_head.weight,)

        if action.is_discrete:
            self.log_std = None
            low, high = torch.zeros(0), torch.zeros(0)
        else:
            self.log_std = nn.Parameter(torch.full((action.dim,), self.init_log_std))
            low = torch.tensor(action.low, dtype=torch.float32)
            high = torch.tensor(action.high, dtype=torch.float32)
        # Rebuilt from the config, so they stay out of state_dict.
        self.register_buffer("action_low", low, persistent=False)
        self.register_buffer("action_high", high, persistent=False)

    # -- building blocks -------------------------------------------------------------

    @property
    def is_discrete(self) -> bool:
        return self.action_spec.is_discrete

    def normalize(self, obs_raw: Tensor) -> Tensor:
        """Raw observations to the float32 network input (frozen statistics)."""
        if self.obs_rms is None:
            return obs_raw.to(torch.float32)
        return self.obs_rms.normalize(obs_raw, self.obs_clip)

    def value(self, obs_norm: Tensor) -> Tensor:
        """``V(obs)`` of normalised observations, ``(B,)``."""
        body = self.actor_body if self.critic_body is None else self.critic_body
        return self.critic_head(body(obs_norm)).squeeze(-1)

    def _head(self, obs_norm: Tensor) -> Tensor:
        """Logits (discrete) or Gaussian means (continuous)."""
        return self.actor_head(self.actor_body(obs_norm))

    def _log_prob_entropy(self, out: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        if self.is_discrete:
            # Clamp -inf so that 0 * log(0) is 0 rather than NaN in the entropy.
            logp_all = torch.log_softmax(out, dim=-1).clamp(min=torch.finfo(out.dtype).min)
            log_prob = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            return log_prob, entropy
        assert self.log_std is not None
        log_std = self.log_std.expand_as(out)
        z = (actions - out) * torch.exp(-log_std)
        log_prob = (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
        return log_prob, entropy

    def _sample(self, out: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.is_discrete:
            probs = torch.softmax(out, dim=-1)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        log_std = self.log_std  # one module attribute lookup, not two
        assert log_std is not None
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        return out + torch.exp(log_std) * noise

    def env_action(self, action: Tensor) -> Tensor:
        """Raw action to environment action (identity for discrete)."""
        if self.is_discrete:
            return action
        return to_env_action(action, self.action_low, self.action_high, self.action_spec.squash)

    # -- public API ------------------------------------------------------------------

    @torch.no_grad()
    def act(
        self,
        obs_raw: Tensor,
        deterministic: bool = False,
        update_normalizer: bool = False,
        generator: torch.Generator | None = None,
        score: bool = True,
    ) -> PolicyStep:
        """Sample actions for a batch of raw observations ``(B, obs_dim)``.

        Args:
            obs_raw: Raw observations as the environment returned them.
            deterministic: Take the mode (argmax / Gaussian mean) instead of sampling.
            update_normalizer: Fold ``obs_raw`` into the running statistics first
                (training rollouts only).
            generator: Optional ``torch.Generator`` for the sampling noise; the global
                torch RNG is used otherwise.
            score: Also compute ``log_prob`` and ``value``. A trainer that stores the
                step in a :class:`RolloutBuffer` does not need them per step: the weights
                do not change during a rollout, so :meth:`score` computes both for the
                whole rollout at its end in one batched pass (``PPOTrainer`` does).
        """
        weight = self._device_ref[0]
        if not (obs_raw.is_cpu and weight.is_cpu):  # to() costs a microsecond, moving or not
            obs_raw = obs_raw.to(weight.device)
        rms = self.obs_rms
        if update_normalizer and rms is not None:
            rms._update(obs_raw)  # update, already inside no_grad
        obs = self.normalize(obs_raw)
        fast = self._fast if self._fast_decided else self._decide_fast_path(obs)
        if fast is not None:  # the speed path: the same numbers without module calls
            h_actor, out = fast.actor(obs)
        else:
            out = self._head(obs)
        if deterministic:
            action = out.argmax(-1) if self.is_discrete else out
        elif fast is not None:
            action = fast.sample(out, generator)
        else:
            action = self._sample(out, generator)
        env_action = self.env_action(action)
        if not score:
            return PolicyStep(obs, action, env_action, None, None)
        if fast is not None:
            return PolicyStep(
                obs, action, env_action, fast.log_prob(out, action), fast.value(obs, h_actor)
            )
        log_prob, _ = self._log_prob_entropy(out, action)
        return PolicyStep(obs, action, env_action, log_prob, self.value(obs))

    @torch.no_grad()
    def score(self, obs_norm: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """``(log_prob, value)`` of stored normalised observations and raw actions.

        The forward pass of the PPO update, so that on the first epoch the probability
        ratios of a whole-batch minibatch are exactly 1.
        """
        fast = self._fast if self._fast_decided else self._decide_fast_path(obs_norm)
        if fast is not None:
            h_actor, out = fast.actor(obs_norm)
            return fast.log_prob(out, actions), fast.value(obs_norm, h_actor)
        log_prob, _, value = self.evaluate_actions(obs_norm, actions)
        return log_prob, value

    def _decide_fast_path(self, obs_norm: Tensor) -> FastForward | None:
        """The speed path's act and score passes, or None for the modules (kept for good).

        Asked on the first call: None where the switch is off, the layout is not one the
        shortcut knows, or it does not give the modules' numbers on ``obs_norm``.
        """
        own_sampler = type(self)._sample is ActorCritic._sample
        self._fast = FastForward.build(self, obs_norm, categorical_sampler=own_sampler)
        self._fast_decided = True
        return self._fast

    @torch.no_grad()
    def predict_value(self, obs_raw: Tensor) -> Tensor:
        """``V`` of raw observations with frozen statistics: for ``last_value`` and the
        truncation bootstrap ``final_values`` of :meth:`RolloutBuffer.add`."""
        return self.value(self.normalize(obs_raw.to(self.actor_head.weight.device)))

    def evaluate_actions(self, obs_norm: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(log_prob, entropy, value)`` of stored actions under the current weights."""
        log_prob, entropy = self._log_prob_entropy(self._head(obs_norm), actions)
        return log_prob, entropy, self.value(obs_norm)

    @torch.no_grad()
    def deterministic_action(self, obs_raw: Tensor) -> Tensor:
        """The inference path: normalise, take the mode, clip or scale."""
        out = self._head(self.normalize(obs_raw.to(self.actor_head.weight.device)))
        return out.argmax(-1) if self.is_discrete else self.env_action(out)

    def config(self) -> dict[str, Any]:
        """Plain-data constructor arguments; ``ActorCritic.from_config(p.config())`` rebuilds."""
        return {
            "obs_dim": self.obs_dim,
            "action": self.action_spec.to_dict(),
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "init_log_std": self.init_log_std,
            "normalize_obs": self.obs_rms is not None,
            "shared": self.shared,
            "obs_clip": self.obs_clip,
        }

    @classmethod
    def from_config(cls, d: dict[str, Any]) -> ActorCritic:
        d = dict(d)
        action = d.pop("action")
        if not isinstance(action, ActionSpec):
            action = ActionSpec.from_dict(action)
        return cls(action=action, **d)

    def save(self, path: str) -> None:
        """Save ``{"config", "state_dict"}`` atomically; load with :meth:`load`."""
        from .checkpoint import save_checkpoint

        save_checkpoint(path, {"config": self.config(), "state_dict": self.state_dict()})

    @classmethod
    def load(cls, path: str, map_location: str | torch.device = "cpu") -> ActorCritic:
        from .checkpoint import load_checkpoint

        payload = load_checkpoint(path, map_location=map_location)
        policy = cls.from_config(payload["config"])
        policy.load_state_dict(payload["state_dict"])
        return policy
