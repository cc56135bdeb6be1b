"""The PPO loss and its gradient for an ``ActorCritic``, derived by hand.

On a CPU the networks PPO trains are tiny (two 64-wide layers, minibatches of a few
hundred), so a gradient step is dominated by per-operation overhead, not arithmetic:
autograd records a graph on the way forward and walks it on the way back. This module
computes the same loss and the same gradient with the chain rule written out, into the
views of PPO's one flat gradient. With the fused Adam kernel called directly
(:mod:`.adam`), a gradient step of the CartPole network takes about 0.5 ms instead of
1.35 ms through autograd. The first minibatch it sees is also run through autograd (PPO's
``_autograd_gradient``, the reference) and compared (:meth:`PPOGradients.gradient`);
``tests/rl/test_fast.py`` checks it against autograd for every head, activation and loss
option. Advantages arrive normalised (``PPO.update`` does that).

Notation (one minibatch of ``B`` rows; every loss term is a mean over rows)::

    r      = exp(logp - logp_old)                              probability ratio
    L_pg   = mean(max(-A r, -A clip(r, 1-eps, 1+eps)))         clipped surrogate
    L_v    = 0.5 mean((v - R)^2)  or, clipped, 0.5 mean(max((v-R)^2, (v_clip-R)^2))
    L      = L_pg - c_ent mean(H) + c_v L_v

    dL/dlogp_i = -A_i r_i [-A_i r_i >= -A_i clip(r_i)] / B     (0 where the clip binds)
    dL/dv_i    = c_v (v_i - R_i) / B, or c_v (v_clip_i - R_i) [|v_i - v_old_i| <= eps] / B
                 where the clipped term is the larger (at an exact tie outside the clip
                 range autograd's max splits the gradient in two; the unclipped term's,
                 taken whole here, is as valid a subgradient)

Categorical head with logits ``o``, ``p = softmax(o)``, ``l = log p``, ``H = -sum p l``:
``dlogp_a/do = onehot(a) - p`` and ``dH/do = -p (l + H)``. Gaussian head with mean
``mu``, state-independent ``log_std = s`` and ``z = (a - mu) e^-s``:
``dlogp/dmu = z e^-s``, ``dlogp/ds = z^2 - 1``, ``dH/ds = 1``. A hidden layer
``h = f(W x + b)`` passes ``dz = dh f'`` back, with ``f'`` read off its output ``h``:
``1 - h^2`` (tanh), ``[h > 0]`` (relu), ``[h > 0] + [h <= 0] (h + 1)`` (elu).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from ..buffer import RolloutMinibatch
from .forward import hidden_activations, layout_problem, linear_layers
from .switch import log, mismatch

LossTerms = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
"""``(pg_loss, v_loss, entropy, loss, logratio, ratio)`` of one minibatch: what PPO turns
into its statistics (``ppo.loss_statistics``) on either path."""

GRADIENT_RTOL = 1e-3
"""Tolerance of the first-use check, relative to each parameter's largest gradient entry
(and to the largest loss term). The two paths sum the same products in other orders, so
they differ by float32 rounding: below 2e-6 on the CartPole and test networks. A gradient
that assumes another network is off by 1e-2 to 1."""


class LossConfig(Protocol):
    """The ``PPOConfig`` fields the loss reads."""

    clip_coef: float
    clip_vloss: bool
    vf_coef: float
    ent_coef: float


def _activation_grad(name: str, h: Tensor, dh: Tensor) -> Tensor:
    """``dh * f'(z)`` for ``h = f(z)``, with ``f'`` written in terms of ``h``."""
    if name == "tanh":
        return torch.addcmul(dh, dh * h, h, value=-1.0)  # dh (1 - h^2)
    if name == "relu":
        return dh * (h > 0)
    return dh * torch.where(h > 0, 1.0, h + 1.0)  # elu, alpha 1


class PPOGradients:
    """The PPO loss of one minibatch and its gradient, written into PPO's gradient views.

    Args:
        policy: The actor-critic being trained; its parameters are read, never copied,
            so the gradient always belongs to the current weights.
        params: The parameters (every one of the policy's).
        grads: Where :meth:`compute` writes each parameter's gradient, in the order of
            ``params`` (views of one flat tensor).

    Make it with :meth:`build`, which returns None for a layout it does not know.
    """

    def __init__(self, policy: nn.Module, params: list[nn.Parameter], grads: list[Tensor]) -> None:
        self.policy = policy
        self.params = params
        self.grads = grads
        self._grad_of = {id(p): g for p, g in zip(params, grads, strict=True)}
        self._actor = linear_layers(policy.actor_body)
        self._critic = None if policy.critic_body is None else linear_layers(policy.critic_body)
        # (W, b, dL/dW, dL/db) per layer: no module attribute lookups in the step.
        self._actor_params = [self._layer(m) for m in self._actor]
        self._critic_params = [self._layer(m) for m in self._critic or []]
        self._actor_head = self._layer(policy.actor_head)
        self._critic_head = self._layer(policy.critic_head)
        self.checked = False
        """True once the first-use check passed."""
        self.failed = False
        """True once the first-use check failed: the caller takes the reference path."""

    def _layer(self, layer: nn.Linear) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        w, b = layer.weight, layer.bias
        return w, b, self._grad_of[id(w)], self._grad_of[id(b)]

    @classmethod
    def build(
        cls, policy: nn.Module, params: list[nn.Parameter], grads: list[Tensor]
    ) -> PPOGradients | None:
        """A hand gradient for ``policy``, or None (said at info level) where its layout is
        not the one this module differentiates: Linear layers and activation modules, a
        Linear head per output, a state-independent ``log_std``, every parameter trained."""
        problem = cls.layout_problem(policy, params)
        if problem is not None:
            log.info("PPO speed path: autograd for %s (%s)", type(policy).__name__, problem)
            return None
        return cls(policy, params, grads)

    @staticmethod
    def layout_problem(policy: nn.Module, params: list[nn.Parameter]) -> str | None:
        """Why :class:`PPOGradients` cannot differentiate ``policy`` (None: it can)."""
        problem = layout_problem(policy)
        if problem is not None:
            return problem
        known = [policy.actor_head, policy.critic_head, *linear_layers(policy.actor_body),
                 *linear_layers(policy.critic_body)]  # fmt: skip
        expected = {id(t) for layer in known for t in (layer.weight, layer.bias)}
        log_std = getattr(policy, "log_std", None)
        if policy.is_discrete != (log_std is None):
            return "log_std does not match the action space"
        if log_std is not None:
            expected.add(id(log_std))
        if any(not p.requires_grad for p in policy.parameters()):
            return "a parameter is frozen"
        if {id(p) for p in policy.parameters()} != expected or len(params) != len(expected):
            return "parameters outside the actor-critic layers"
        return None

    # -- the first-use check -----------------------------------------------------------

    def gradient(
        self,
        mb: RolloutMinibatch,
        cfg: LossConfig,
        flat_grad: Tensor,
        reference: Callable[[RolloutMinibatch], LossTerms],
    ) -> LossTerms:
        """:meth:`compute`, compared with ``reference`` (autograd) on first use.

        ``flat_grad`` is the tensor the gradient views belong to. Until a minibatch gives
        autograd a finite loss and gradient, both run and the reference's result is kept;
        on that minibatch the hand gradient's result is kept where they agree within
        :data:`GRADIENT_RTOL`. On a mismatch the reference's
        result is kept, a warning says what differed and by how much, and :attr:`failed`
        tells the caller to take the reference path from now on.
        """
        if self.checked:
            return self.compute(mb, cfg)
        want_terms = reference(mb)
        want = flat_grad.clone()
        got_terms = self.compute(mb, cfg)  # overwrites flat_grad: kept where they agree
        if not (torch.isfinite(want).all() and torch.isfinite(want_terms[3])):
            flat_grad.copy_(want)  # nothing to compare: the caller skips the reference's
            return want_terms  # non-finite step, and the next minibatch is checked
        problem = self._compare(got_terms, want_terms, flat_grad, want)
        if problem is None:
            self.checked = True
            return got_terms
        flat_grad.copy_(want)
        self.failed = True
        log.warning(
            "PPO speed path: the hand-derived gradient for %s differs from autograd's: %s; "
            "training through autograd from now on",
            type(self.policy).__name__, problem,
        )  # fmt: skip
        return want_terms

    def _compare(
        self, got_terms: LossTerms, want_terms: LossTerms, got: Tensor, want: Tensor
    ) -> str | None:
        """What differs between the two paths' loss terms and gradients (None: nothing)."""
        pairs = []
        offset = 0
        for index, p in enumerate(self.params):
            n = p.numel()
            pairs.append((f"the gradient of parameter {index} {tuple(p.shape)}",
                          got[offset : offset + n], want[offset : offset + n], 1e-12))  # fmt: skip
            offset += n
        pairs += [
            ("the loss terms (policy, value, entropy, total)",
             torch.stack(got_terms[:4]), torch.stack(want_terms[:4]), 1e-6),
            ("the log-ratios", got_terms[4], want_terms[4], 1.0),  # ~0 on a fresh rollout
        ]  # fmt: skip
        return mismatch(pairs, GRADIENT_RTOL)

    # -- the network, forward and back ----------------------------------------------

    @staticmethod
    def _linear_grad(layer: tuple[Tensor, ...], x: Tensor, dz: Tensor) -> None:
        """Write ``dL/dW = dz^T x`` and ``dL/db = sum(dz)`` for ``z = x W^T + b``."""
        torch.mm(dz.t(), x, out=layer[2])
        torch.sum(dz, 0, out=layer[3])

    def _backward(self, layers: list[tuple[Tensor, ...]], hs: list[Tensor], dh: Tensor) -> None:
        """Gradients of a hidden stack from ``dh = dL/dh_n`` (the input gets none)."""
        name = self.policy.activation
        for i in range(len(layers) - 1, -1, -1):
            dz = _activation_grad(name, hs[i + 1], dh)
            self._linear_grad(layers[i], hs[i], dz)
            if i > 0:
                dh = torch.mm(dz, layers[i][0])

    # -- one minibatch ---------------------------------------------------------------

    @torch.no_grad()
    def compute(self, mb: RolloutMinibatch, cfg: LossConfig) -> LossTerms:
        """Write ``dL/dtheta`` into the gradient views; return the loss terms."""
        policy = self.policy
        n = mb.mb_obs.shape[0]
        actor_hs = hidden_activations(self._actor, policy.activation, mb.mb_obs)
        critic_hs = (
            actor_hs
            if self._critic is None
            else hidden_activations(self._critic, policy.activation, mb.mb_obs)
        )
        h_actor, h_critic = actor_hs[-1], critic_hs[-1]
        actor_w, actor_b, _, _ = self._actor_head
        critic_w, critic_b, _, _ = self._critic_head
        out = nn.functional.linear(h_actor, actor_w, actor_b)
        value = nn.functional.linear(h_critic, critic_w, critic_b).squeeze(-1)

        # The log-probability of the stored actions, and the entropy.
        if policy.is_discrete:
            logp_all = torch.log_softmax(out, dim=-1).clamp(min=torch.finfo(out.dtype).min)
            index = mb.mb_actions.long().unsqueeze(-1)
            newlogprob = logp_all.gather(-1, index).squeeze(-1)
            probs = logp_all.exp()
            entropy = -(probs * logp_all).sum(-1)
            entropy_mean = entropy.mean()
        else:
            log_std = policy.log_std
            assert log_std is not None
            inv_std = torch.exp(-log_std)
            z = (mb.mb_actions - out) * inv_std
            # The same expression as ActorCritic._log_prob_entropy, so ratios start at 1.
            newlogprob = (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            entropy_mean = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()

        logratio = newlogprob - mb.mb_logprobs
        ratio = logratio.exp()
        neg_advantages = mb.mb_advantages.neg()  # normalised by the caller where configured
        surr1 = neg_advantages * ratio
        surr2 = neg_advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)
        unclipped = surr1 >= surr2
        pg_loss = torch.maximum(surr1, surr2).mean()
        g_logp = surr1 * unclipped / n  # -A r [unclipped] / B

        v_err = value - mb.mb_returns
        if cfg.clip_vloss:
            v_step = value - mb.mb_values
            v_clipped_err = mb.mb_values + v_step.clamp(-cfg.clip_coef, cfg.clip_coef)
            v_clipped_err -= mb.mb_returns
            loss_unclipped, loss_clipped = v_err.square(), v_clipped_err.square()
            v_loss = 0.5 * torch.maximum(loss_unclipped, loss_clipped).mean()
            # Inside the clip range the two terms differ only by rounding, and either
            # one's gradient is the unclipped one's; outside it the clipped term is flat.
            g_value = torch.where(
                loss_unclipped >= loss_clipped,
                v_err,
                v_clipped_err * (v_step.abs() <= cfg.clip_coef),
            ) * (cfg.vf_coef / n)
        else:
            v_loss = 0.5 * v_err.square().mean()
            g_value = v_err * (cfg.vf_coef / n)

        # Back through the heads.
        if policy.is_discrete:
            g_out = probs * (-g_logp).unsqueeze(-1)  # g (onehot - p): the -g p part ...
            g_out.scatter_add_(-1, index, g_logp.unsqueeze(-1))  # ... and the g onehot part
            if cfg.ent_coef:
                g_out += probs * (logp_all + entropy.unsqueeze(-1)) * (cfg.ent_coef / n)
        else:
            g_logp_col = g_logp.unsqueeze(-1)
            g_out = g_logp_col * z * inv_std
            torch.sum(g_logp_col * (z.square() - 1.0), 0, out=self._grad_of[id(log_std)])
            if cfg.ent_coef:
                self._grad_of[id(log_std)].sub_(cfg.ent_coef)
        self._linear_grad(self._actor_head, h_actor, g_out)
        g_value_col = g_value.unsqueeze(-1)
        self._linear_grad(self._critic_head, h_critic, g_value_col)

        dh_actor = torch.mm(g_out, actor_w)
        dh_critic = g_value_col * critic_w
        if self._critic is None:
            self._backward(self._actor_params, actor_hs, dh_actor + dh_critic)
        else:
            self._backward(self._actor_params, actor_hs, dh_actor)
            self._backward(self._critic_params, critic_hs, dh_critic)

        loss = pg_loss - cfg.ent_coef * entropy_mean + cfg.vf_coef * v_loss
        return pg_loss, v_loss, entropy_mean, loss, logratio, ratio
