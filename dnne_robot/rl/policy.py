"""Actor-critic policy: everything inference needs, and nothing the optimiser owns.

The policy holds the networks, the observation normaliser and the action scaling, so
it can be saved, loaded and exported on its own (see :mod:`.export`). The PPO
algorithm (:mod:`.ppo`) owns the optimiser, the rollout buffer and the schedules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from .normalizer import RunningMeanStd
from .spaces import ActionSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
ACTIVATION_FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu, "elu": nn.functional.elu}
"""The functions the modules of ``ACTIVATIONS`` apply, for the per-step paths."""


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


def linear_layers(body: nn.Sequential | None) -> list[nn.Linear]:
    """The Linear layers of a hidden stack built by :func:`mlp`, in order."""
    return [] if body is None else [m for m in body if isinstance(m, nn.Linear)]


def hidden_activations(layers: list[nn.Linear], activation: str, x: Tensor) -> list[Tensor]:
    """``[x, h_1, ..., h_n]`` with ``h_i = f(h_{i-1} W_i^T + b_i)``.

    What the ``nn.Sequential`` of :func:`mlp` computes, with the same kernels, without a
    module call per layer: on small batches the calls cost more than the arithmetic.
    Training keeps every ``h_i`` for the backward pass.
    """
    fn = ACTIVATION_FUNCTIONS[activation]
    hs = [x]
    for layer in layers:
        x = fn(F.linear(x, layer.weight, layer.bias))
        hs.append(x)
    return hs


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One draw per row of ``probs`` ``(B, n)`` by inverting the CDF with a uniform draw.

    ``k`` is drawn when ``cdf[k-1] <= u < cdf[k]``, i.e. with probability ``p_k``. Where
    rounding leaves the float32 CDF's total at or below ``u``, the draw is the last
    category of nonzero probability, so a category of zero probability is never drawn. A
    few small operations, a fraction of what ``torch.multinomial`` costs on a few rows.
    """
    u = torch.rand((*probs.shape[:-1], 1), generator=generator, device=probs.device,
                   dtype=probs.dtype)  # fmt: skip
    cdf = probs.cumsum(-1)
    # Counting only the cdf values below the total also bounds the index by n - 1.
    return ((cdf <= u) & (cdf < cdf[..., -1:])).sum(-1)


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
        # Plain lists (not submodules): the per-step paths walk them without module calls.
        self._actor_layers = linear_layers(self.actor_body)
        self._critic_layers = linear_layers(self.critic_body)
        self._head_params = (
            self.actor_head.weight, self.actor_head.bias,
            self.critic_head.weight, self.critic_head.bias,
        )  # fmt: skip

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
            return sample_categorical(torch.softmax(out, dim=-1), generator)
        assert self.log_std is not None
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        return out + torch.exp(self.log_std) * noise

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
        obs_raw = obs_raw.to(self._head_params[0].device)
        if update_normalizer and self.obs_rms is not None:
            self.obs_rms.update(obs_raw)
        obs = self.normalize(obs_raw)
        h_actor, out = self._actor_forward(obs)
        if deterministic:
            action = out.argmax(-1) if self.is_discrete else out
        else:
            action = self._sample(out, generator)
        if not score:
            return PolicyStep(obs, action, self.env_action(action), None, None)
        return PolicyStep(
            obs,
            action,
            self.env_action(action),
            self._log_prob(out, action),
            self._critic_forward(obs, h_actor),
        )

    @torch.no_grad()
    def score(self, obs_norm: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """``(log_prob, value)`` of stored normalised observations and raw actions.

        The forward pass of the PPO update (:mod:`.gradients`), so that on the first
        epoch the probability ratios of a whole-batch minibatch are exactly 1.
        """
        h_actor, out = self._actor_forward(obs_norm)
        return self._log_prob(out, actions), self._critic_forward(obs_norm, h_actor)

    # -- the per-step forward pass (no module calls; see hidden_activations) ----------

    def _actor_forward(self, obs_norm: Tensor) -> tuple[Tensor, Tensor]:
        """``(h, out)``: the actor body's last activations and the logits or means."""
        actor_w, actor_b, _, _ = self._head_params
        h_actor = hidden_activations(self._actor_layers, self.activation, obs_norm)[-1]
        return h_actor, F.linear(h_actor, actor_w, actor_b)

    def _critic_forward(self, obs_norm: Tensor, h_actor: Tensor) -> Tensor:
        """``V(obs)``, ``(B,)``; a shared trunk reuses the actor's activations."""
        _, _, critic_w, critic_b = self._head_params
        h_critic = (
            h_actor
            if self.critic_body is None
            else hidden_activations(self._critic_layers, self.activation, obs_norm)[-1]
        )
        return F.linear(h_critic, critic_w, critic_b).squeeze(-1)

    def _log_prob(self, out: Tensor, actions: Tensor) -> Tensor:
        """``log pi(actions)``: :meth:`_log_prob_entropy` without the entropy."""
        if self.is_discrete:
            logp_all = torch.log_softmax(out, dim=-1).clamp(min=torch.finfo(out.dtype).min)
            return logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        return self._log_prob_entropy(out, actions)[0]

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
