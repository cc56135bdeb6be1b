"""The act path's shortcuts: the policy's forward pass without module calls, and
categorical sampling by inverting the CDF.

On small batches a module call costs more than its arithmetic, so :class:`FastForward` runs
the Linear layers and activations of an :class:`~..policy.ActorCritic` as functions over
its parameters (the same kernels, in the same order: the same numbers), and
:func:`sample_categorical` draws a category with a few small operations instead of
``torch.multinomial``. :meth:`FastForward.check` compares the shortcut with the policy's
own modules on the first batch it sees, so a policy whose forward differs (a subclass, a
patched activation) is caught before its first step is taken.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from .switch import FAST_PATH, log, mismatch

ACTIVATION_FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu, "elu": F.elu}
"""The functions the activation modules of the policy's MLPs apply, by name."""

FORWARD_RTOL = 1e-5
"""Tolerance of the first-use check: the shortcut runs the modules' own kernels, so it gives
the same numbers unless the policy computes something else."""


def linear_layers(body: nn.Sequential | None) -> list[nn.Linear]:
    """The Linear layers of a hidden stack built by ``policy.mlp``, in order."""
    return [] if body is None else [m for m in body if isinstance(m, nn.Linear)]


def hidden_activations(layers: list[nn.Linear], activation: str, x: Tensor) -> list[Tensor]:
    """``[x, h_1, ..., h_n]`` with ``h_i = f(h_{i-1} W_i^T + b_i)``.

    What the ``nn.Sequential`` of ``policy.mlp`` computes, with the same kernels, without a
    module call per layer. The hand-derived gradient keeps every ``h_i`` for its backward pass.
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


def layout_problem(policy: nn.Module) -> str | None:
    """Why the shortcuts cannot run ``policy``'s layout (None: they can).

    They know hidden stacks of Linear layers and activation modules named after
    ``policy.activation``, and Linear heads: what ``ActorCritic`` builds.
    """
    activation = getattr(policy, "activation", None)
    if activation not in ACTIVATION_FUNCTIONS:
        return f"activation {activation!r} is not one of {sorted(ACTIVATION_FUNCTIONS)}"
    for name in ("actor_head", "critic_head"):
        if type(getattr(policy, name, None)) is not nn.Linear:
            return f"{name} is not an nn.Linear"
    for name in ("actor_body", "critic_body"):
        body = getattr(policy, name, None)
        if body is None and name == "critic_body":
            continue
        if not isinstance(body, nn.Sequential):
            return f"{name} is not an nn.Sequential"
        for module in body:
            if type(module) is not nn.Linear and type(module).__name__.lower() != activation:
                return f"{name} holds a {type(module).__name__}, not Linear or {activation}"
    return None


class FastForward:
    """An ``ActorCritic``'s act and score passes as functions over its parameters.

    Made by :meth:`build` on the policy's first ``act`` or ``score``; it keeps the layers it
    was made with. ``categorical_sampler``: draw categories with :func:`sample_categorical`
    (False where the policy brings its own ``_sample``, which is then called instead).
    """

    def __init__(self, policy: nn.Module, categorical_sampler: bool = True) -> None:
        self.policy = policy
        self.categorical_sampler = categorical_sampler
        self.activation: str = policy.activation
        self.discrete: bool = policy.is_discrete
        self.actor_layers = linear_layers(policy.actor_body)
        self.critic_layers = linear_layers(policy.critic_body)
        self.shared = policy.critic_body is None
        # The hidden layers' (weight, bias) and the activation, looked up once: act reads
        # them every step, and each module attribute costs a few tenths of a microsecond.
        self.activation_fn = ACTIVATION_FUNCTIONS[self.activation]
        self.actor_params = [(layer.weight, layer.bias) for layer in self.actor_layers]
        self.critic_params = [(layer.weight, layer.bias) for layer in self.critic_layers]
        self.head_params = (
            policy.actor_head.weight, policy.actor_head.bias,
            policy.critic_head.weight, policy.critic_head.bias,
        )  # fmt: skip

    @classmethod
    def build(
        cls, policy: nn.Module, obs_norm: Tensor, categorical_sampler: bool = True
    ) -> FastForward | None:
        """The shortcut for ``policy``, checked on ``obs_norm``; None where the switch is off,
        the layout is not one it knows (said at info level) or the check fails (a warning)."""
        if not FAST_PATH.enabled():
            return None
        name = type(policy).__name__
        problem = layout_problem(policy)
        if problem is not None:
            log.info("PPO speed path: %s acts through its modules (%s)", name, problem)
            return None
        fast = cls(policy, categorical_sampler)
        problem = fast.check(obs_norm)
        if problem is not None:
            log.warning(
                "PPO speed path: the module-free forward pass of %s differs from its modules: "
                "%s; it acts through its modules from now on", name, problem,
            )  # fmt: skip
            return None
        return fast

    def actor(self, obs_norm: Tensor) -> tuple[Tensor, Tensor]:
        """``(h, out)``: the actor body's last activations and the logits or means."""
        actor_w, actor_b, _, _ = self.head_params
        h_actor = self.body(self.actor_params, obs_norm)
        return h_actor, F.linear(h_actor, actor_w, actor_b)

    def value(self, obs_norm: Tensor, h_actor: Tensor) -> Tensor:
        """``V(obs)``, ``(B,)``; a shared trunk reuses the actor's activations."""
        _, _, critic_w, critic_b = self.head_params
        h_critic = h_actor if self.shared else self.body(self.critic_params, obs_norm)
        return F.linear(h_critic, critic_w, critic_b).squeeze(-1)

    def body(self, params: list[tuple[Tensor, Tensor]], x: Tensor) -> Tensor:
        """A hidden stack's last activations: :func:`hidden_activations`' last, the same
        kernels in the same order, without keeping the others."""
        fn = self.activation_fn
        for weight, bias in params:
            x = fn(F.linear(x, weight, bias))
        return x

    def log_prob(self, out: Tensor, actions: Tensor) -> Tensor:
        """``log pi(actions)``: the policy's ``_log_prob_entropy`` without the entropy."""
        if self.discrete:
            logp_all = torch.log_softmax(out, dim=-1).clamp(min=torch.finfo(out.dtype).min)
            return logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        return self.policy._log_prob_entropy(out, actions)[0]

    def sample(self, out: Tensor, generator: torch.Generator | None) -> Tensor:
        """A categorical draw by :func:`sample_categorical` (otherwise the policy's own)."""
        if self.discrete and self.categorical_sampler:
            return sample_categorical(torch.softmax(out, dim=-1), generator)
        return self.policy._sample(out, generator)

    @torch.no_grad()
    def check(self, obs_norm: Tensor) -> str | None:
        """Compare the shortcut with the policy's modules on ``obs_norm``; None where they agree.

        Logits or means (``_head``), values (``value``) and the log-probabilities
        ``evaluate_actions`` gives to actions drawn from a private generator (the global
        and the caller's random streams are left alone).
        """
        policy = self.policy
        h_actor, out = self.actor(obs_norm)
        value = self.value(obs_norm, h_actor)
        gen = torch.Generator(device=out.device).manual_seed(0)
        if self.discrete:
            actions = torch.randint(out.shape[-1], out.shape[:-1], generator=gen,
                                    device=out.device)  # fmt: skip
        else:
            noise = torch.randn(out.shape, generator=gen, device=out.device, dtype=out.dtype)
            actions = out + noise * math.exp(0.5)
        ref_log_prob, _, ref_value = policy.evaluate_actions(obs_norm, actions)
        return mismatch(
            (
                ("actor output", out, policy._head(obs_norm), 1e-6),
                ("value", value, ref_value, 1e-6),
                ("log-probability", self.log_prob(out, actions), ref_log_prob, 1e-6),
            ),
            FORWARD_RTOL,
        )
