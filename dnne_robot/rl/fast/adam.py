"""``Adam.step`` through the fused kernel, called directly.

``Adam.step`` spends more time on bookkeeping (hooks, grouping tensors by device) than the
fused kernel spends updating a small network. :class:`DirectAdam` calls the kernel that
``Adam(fused=True).step`` calls, ``torch._fused_adam_``, with the arguments in the order
``Adam.step`` uses, and keeps every parameter's step counter as a view of one tensor, so
that counting a step is one operation. The kernel is private torch, so the first direct
step is checked: the kernel runs on clones of the parameters and the optimiser state, the
real ``Adam.step`` runs on the originals, and the two must agree (they are the same kernel
on the same numbers: bit for bit on the tested torch). A kernel that is missing, refuses
the arguments or disagrees leaves ``Adam.step`` in charge for good.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .switch import log, mismatch

_FUSED_ADAM = getattr(torch, "_fused_adam_", None)
"""The kernel ``Adam(fused=True).step`` calls (None on a torch without it)."""

ADAM_RTOL = 1e-6
"""Tolerance of the first-use check, relative to each tensor's scale."""


class DirectAdam:
    """``optimizer.step()`` through ``torch._fused_adam_``, checked on its first direct step.

    Args:
        optimizer: A ``torch.optim.Adam`` made with ``fused=True`` over ``params`` alone.
        params: The parameters, in the optimiser's order.
        grads: Their gradients (views of PPO's one flat gradient).
        plain_step: The reference, ``Adam.step`` on these gradients; it also makes the
            state on the first step, and takes over where the kernel cannot.
    """

    def __init__(
        self,
        optimizer: torch.optim.Adam,
        params: list[nn.Parameter],
        grads: list[Tensor],
        plain_step: Callable[[], None],
    ) -> None:
        self.optimizer = optimizer
        self.params = params
        self.grads = grads
        self.plain_step = plain_step
        self.usable = _FUSED_ADAM is not None and self._plain_setup()
        """False once the kernel is known not to stand in for ``Adam.step``."""
        self.checked = False
        """True once the first-use check passed."""
        self._args: tuple[list[Tensor], ...] | None = None
        self._steps = torch.zeros(0)

    def _plain_setup(self) -> bool:
        """True where ``Adam.step`` itself would call the fused kernel with plain arguments."""
        groups = self.optimizer.param_groups
        return (
            len(groups) == 1
            and bool(groups[0].get("fused"))
            and not groups[0].get("amsgrad")
            and not groups[0].get("decoupled_weight_decay", False)
            and not groups[0].get("capturable", False)
            and not groups[0].get("differentiable", False)
            and not isinstance(groups[0]["lr"], Tensor)
            and len(groups[0]["params"]) == len(self.params)
            and all(a is b for a, b in zip(groups[0]["params"], self.params, strict=True))
        )

    def reset(self) -> None:
        """Forget the state tensors (after ``optimizer.load_state_dict`` replaced them)."""
        self._args = None

    def step(self) -> None:
        """One Adam step: ``Adam.step`` until the state exists and the kernel is checked."""
        args = self._args or (self._kernel_args() if self.usable else None)
        if args is None:
            self.plain_step()
        elif not self.checked:
            self._checked_step(args)
        else:
            self._kernel_step(args)

    def _kernel_args(self) -> tuple[list[Tensor], ...] | None:
        """The kernel's tensor lists, or None until ``Adam.step`` has made the state."""
        state = self.optimizer.state
        if any(len(state[p]) == 0 for p in self.params):
            return None  # the first step creates the state
        # Every parameter's step counter a view of one tensor: one add counts a step.
        self._steps = torch.stack([state[p]["step"] for p in self.params])
        for i, p in enumerate(self.params):
            state[p]["step"] = self._steps[i]
        self._args = (
            self.params,
            self.grads,
            [state[p]["exp_avg"] for p in self.params],
            [state[p]["exp_avg_sq"] for p in self.params],
            [state[p]["step"] for p in self.params],
        )
        return self._args

    def _call_kernel(self, args: tuple[list[Tensor], ...]) -> None:
        group = self.optimizer.param_groups[0]
        params, grads, exp_avgs, exp_avg_sqs, steps = args
        beta1, beta2 = group["betas"]
        _FUSED_ADAM(
            params, grads, exp_avgs, exp_avg_sqs, [], steps,
            amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2,
            weight_decay=group["weight_decay"], eps=group["eps"],
            maximize=group["maximize"], grad_scale=None, found_inf=None,
        )  # fmt: skip

    def _kernel_step(self, args: tuple[list[Tensor], ...]) -> None:
        self._steps.add_(1)  # every parameter's step counter: views of this one tensor
        try:
            self._call_kernel(args)
        except (TypeError, RuntimeError) as exc:
            # It refused before touching anything: undo the count, Adam.step from now on.
            self._steps.sub_(1)
            self._give_up(f"torch._fused_adam_ refused its arguments ({exc})")
            self.plain_step()

    def _checked_step(self, args: tuple[list[Tensor], ...]) -> None:
        """The kernel on clones, ``Adam.step`` on the real tensors, and the two compared."""
        params, grads, exp_avgs, exp_avg_sqs, _ = args
        clones = [[t.detach().clone() for t in tensors] for tensors in (params, grads, exp_avgs,
                                                                       exp_avg_sqs)]  # fmt: skip
        steps = self._steps + 1
        try:
            self._call_kernel((*clones, list(steps.unbind())))
        except (TypeError, RuntimeError) as exc:
            self._give_up(f"torch._fused_adam_ refused its arguments ({exc})")
            self.plain_step()
            return
        self.plain_step()  # the real step
        pairs = [
            (f"{what} of parameter {i}", got, want, 1e-12)
            for what, got_list, want_list in (
                ("the weights", clones[0], params),
                ("Adam's first moment", clones[2], exp_avgs),
                ("Adam's second moment", clones[3], exp_avg_sqs),
            )
            for i, (got, want) in enumerate(zip(got_list, want_list, strict=True))
        ]
        pairs.append(("the step counts", steps, self._steps, 1.0))
        problem = mismatch(pairs, ADAM_RTOL)
        if problem is None:
            self.checked = True
        else:
            self._give_up(f"torch._fused_adam_ and Adam.step differ: {problem}")

    def _give_up(self, why: str) -> None:
        log.warning("PPO speed path: %s; Adam.step from now on", why)
        self.usable = False
        self._args = None
