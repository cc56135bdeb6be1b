"""What a run refuses to build: PPO settings out of range, and networks too big for memory.

Defined once, here. :class:`~.ppo.PPOConfig` checks its fields against :data:`PPO_BOUNDS`,
and :class:`~.policy.ActorCritic` (and the ML graphs' MLP) check their size with
:func:`memory_problem` before allocating anything. ``dnne-robot validate`` and ``export``
check a workflow's values against the same table and estimate, so a workflow they accept
is not refused when it trains. This module imports only the standard library: the build
side reads it without importing torch.

Parameter memory: each parameter holds 16 bytes while training (its float32 weight, its
gradient and Adam's two moments). A network whose parameters would need more than the
limit is refused. The limit is :data:`DEFAULT_MAX_PARAM_MEMORY` unless the environment
variable ``DNNE_ROBOT_MAX_PARAM_MEMORY`` sets another (``16GiB``, ``500MB``, a number of
bytes, or ``none`` for no limit); ``dnne-robot validate`` and ``export`` take
``--max-param-memory``, and an export made with it trains with that limit.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_PARAM_MEMORY_ENV = "DNNE_ROBOT_MAX_PARAM_MEMORY"
DEFAULT_MAX_PARAM_MEMORY = 4 * 2**30
#: Training bytes per parameter: float32 weight, gradient, Adam's exp_avg and exp_avg_sq.
BYTES_PER_PARAMETER = 16


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Bound:
    """The values a numeric setting may take: ``low`` to ``high``, ``low`` itself excluded
    when ``above`` is set; ``None`` allowed when ``optional`` (the feature is off)."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    optional: bool = False

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.above else '['}{_num(self.low)}, {_num(self.high)}]"
        if self.low is not None:
            return f"{'>' if self.above else '>='} {_num(self.low)}"
        return f"<= {_num(self.high)}" if self.high is not None else "a number"

    def why(self, value: Any) -> str | None:
        """Why ``value`` is refused (``"must be > 0, got 0.0"``), or None."""
        if value is None and self.optional:
            return None
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (not number or math.isnan(value)
                or (self.low is not None and (value <= self.low if self.above
                                              else value < self.low))
                or (self.high is not None and value > self.high)):
            return f"must be {self.describe()}, got {value!r}"
        return None


#: PPOConfig's fields that have a range (the others take any value of their type).
PPO_BOUNDS: dict[str, Bound] = {
    "num_steps": Bound(1),
    "num_epochs": Bound(1),
    "minibatch_size": Bound(1),
    "max_nonfinite_updates": Bound(1),
    "gamma": Bound(0.0, 1.0),
    "gae_lambda": Bound(0.0, 1.0),
    "clip_coef": Bound(0.0, above=True),
    "learning_rate": Bound(0.0, above=True),
    "adaptive_kl": Bound(0.0, above=True, optional=True),
}


def ppo_problems(values: dict[str, Any]) -> dict[str, str]:
    """``{field: why}`` for each of ``values`` (PPOConfig field names) out of its range."""
    return {name: why for name, value in values.items()
            if name in PPO_BOUNDS and (why := PPO_BOUNDS[name].why(value)) is not None}


# -- parameter memory ------------------------------------------------------------------


def mlp_parameters(in_dim: int, hidden_sizes: Sequence[int], out_dim: int | None = None) -> int:
    """Weights and biases of linear layers ``in_dim -> hidden_sizes... [-> out_dim]``."""
    widths = [int(in_dim), *(int(h) for h in hidden_sizes)]
    if out_dim is not None:
        widths.append(int(out_dim))
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


def actor_critic_parameters(obs_dim: int, action_dim: int, hidden_sizes: Sequence[int],
                            shared: bool = False, continuous: bool = True) -> int:
    """Parameters of an :class:`~.policy.ActorCritic`: actor and critic bodies (one when
    ``shared``), both heads and, for a continuous action, ``log_std``."""
    feature = int(hidden_sizes[-1]) if hidden_sizes else int(obs_dim)
    body = mlp_parameters(obs_dim, hidden_sizes) * (1 if shared else 2)
    return (body + mlp_parameters(feature, (), action_dim) + mlp_parameters(feature, (), 1)
            + (int(action_dim) if continuous else 0))


def parse_memory(text: str) -> int | None:
    """``"16GiB"``, ``"500MB"``, ``"2e9"`` -> bytes; ``"none"`` -> None (no limit).

    Raises:
        ValueError: for anything else, or a size that is not positive.
    """
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgtp]?)(i?)b?\s*",
                         str(text), re.IGNORECASE)
    if str(text).strip().lower() in ("none", "off", "unlimited"):
        return None
    if not found:
        raise ValueError(f"{text!r} is not a size such as 16GiB, 500MB or a number of bytes "
                         "(or 'none')")
    number, prefix, binary = found.groups()
    power = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
    size = float(number) * (1024 if binary else 1000) ** power
    if not (math.isfinite(size) and size >= 1):
        raise ValueError(f"{text!r} is not a positive size")
    return int(size)


def max_param_memory() -> int | None:
    """The limit in bytes: ``DNNE_ROBOT_MAX_PARAM_MEMORY``, else the default; None: none.

    Raises:
        ValueError: naming the variable, when it holds no size.
    """
    text = os.environ.get(MAX_PARAM_MEMORY_ENV)
    if text is None or not text.strip():
        return DEFAULT_MAX_PARAM_MEMORY
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise ValueError(f"{MAX_PARAM_MEMORY_ENV}: {exc}") from None


def format_bytes(size: float) -> str:
    """``17179869184`` -> ``"16 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def memory_problem(parameters: int, limit: int | None, *, at_least: bool = False) -> str | None:
    """Why a network of ``parameters`` is refused under ``limit`` bytes, or None.

    ``at_least``: the count leaves out what is not known yet (the observation size, at
    validate time), so the text says so.
    """
    need = parameters * BYTES_PER_PARAMETER
    if limit is None or need <= limit:
        return None
    about = "at least" if at_least else "about"
    return (f"the network has {about} {parameters:,} parameters, which need {about} "
            f"{format_bytes(need)} while training ({BYTES_PER_PARAMETER} bytes each: weight, "
            f"gradient and Adam's two moments), over the limit of {format_bytes(limit)}; "
            f"allow more with --max-param-memory SIZE or {MAX_PARAM_MEMORY_ENV}=SIZE "
            "(e.g. 64GiB, or none)")
