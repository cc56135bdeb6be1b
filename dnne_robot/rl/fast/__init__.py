"""The PPO speed path, all of it, behind one switch.

Three shortcuts, each computing what the plain path computes, with less overhead:

* :class:`PPOGradients` (:mod:`.gradients`): the PPO loss's gradient derived by hand, in
  place of autograd;
* :class:`DirectAdam` (:mod:`.adam`): the fused Adam kernel called directly, in place of
  ``Adam.step``;
* :class:`FastForward` (:mod:`.forward`): the policy's act and score passes without module
  calls, and categorical sampling by inverting the CDF (:func:`sample_categorical`) in place
  of ``torch.multinomial``.

The switch is :data:`FAST_PATH` (:mod:`.switch`): ``DNNE_ROBOT_FAST_PATH=0`` in the
environment, or ``FAST_PATH.set(False)``, turns all three off; they also stay off on a torch
outside :data:`TESTED_TORCH`. ``PPO`` and ``ActorCritic`` consult it once and keep the
answer. Each shortcut compares itself with the plain path the first time it runs (the hand
gradient with autograd's, the direct kernel with ``Adam.step``, the forward pass with the
policy's modules) and on a mismatch logs a warning saying what differed and by how much,
and hands over to the plain path for good.

Nothing here imports the rest of ``rl`` but :mod:`..buffer`; ``ppo`` and ``policy`` import this.
"""

from __future__ import annotations

from .adam import ADAM_RTOL, DirectAdam
from .forward import (
    ACTIVATION_FUNCTIONS,
    FORWARD_RTOL,
    FastForward,
    hidden_activations,
    layout_problem,
    linear_layers,
    sample_categorical,
)
from .gradients import GRADIENT_RTOL, LossTerms, PPOGradients
from .switch import ENV_VAR, FAST_PATH, TESTED_TORCH, FastPathSwitch, torch_version

__all__ = [
    "ACTIVATION_FUNCTIONS",
    "ADAM_RTOL",
    "ENV_VAR",
    "FAST_PATH",
    "FORWARD_RTOL",
    "GRADIENT_RTOL",
    "TESTED_TORCH",
    "DirectAdam",
    "FastForward",
    "FastPathSwitch",
    "LossTerms",
    "PPOGradients",
    "hidden_activations",
    "layout_problem",
    "linear_layers",
    "sample_categorical",
    "torch_version",
]
