"""A tiny, gymnasium-free description of action spaces.

``rl/`` is copied into exports that may not have gymnasium, so the policy is built from
an :class:`ActionSpec` instead of a ``gymnasium.spaces.Space``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ActionKind = Literal["discrete", "continuous"]


@dataclass(frozen=True)
class ActionSpec:
    """What the policy outputs and how to turn it into an environment action.

    Attributes:
        kind: ``"discrete"`` (one categorical choice) or ``"continuous"`` (a float vector).
        n: Number of choices; discrete only.
        low: Per-dimension lower bounds; continuous only (``-inf`` for unbounded).
        high: Per-dimension upper bounds; continuous only (``inf`` for unbounded).
        squash: Continuous only. ``False``: the Gaussian sample is clipped to
            ``[low, high]``. ``True``: it is passed through ``tanh`` and scaled to
            ``[low, high]`` (requires finite bounds).
    """

    kind: ActionKind
    n: int | None = None
    low: list[float] | None = None
    high: list[float] | None = None
    squash: bool = False

    def __post_init__(self) -> None:
        if self.kind == "discrete":
            if self.n is None or int(self.n) != self.n or self.n < 1:
                raise ValueError(f"a discrete ActionSpec needs n >= 1, got n={self.n!r}")
            if self.low is not None or self.high is not None or self.squash:
                raise ValueError("a discrete ActionSpec takes no low/high/squash")
            object.__setattr__(self, "n", int(self.n))
        elif self.kind == "continuous":
            if self.low is None or self.high is None:
                raise ValueError("a continuous ActionSpec needs low and high (inf if unbounded)")
            low = [float(v) for v in self.low]
            high = [float(v) for v in self.high]
            if len(low) != len(high) or not low:
                raise ValueError(f"low and high must be non-empty and equal length: {low} {high}")
            if any(lo > hi for lo, hi in zip(low, high, strict=True)):
                raise ValueError(f"low must be <= high: {low} {high}")
            if self.n is not None and self.n != len(low):
                raise ValueError(f"n={self.n} disagrees with len(low)={len(low)}")
            if self.squash and not all(math.isfinite(v) for v in low + high):
                raise ValueError("squash=True needs finite low and high")
            object.__setattr__(self, "low", low)
            object.__setattr__(self, "high", high)
            object.__setattr__(self, "n", None)
        else:
            raise ValueError(f"kind must be 'discrete' or 'continuous', got {self.kind!r}")

    @classmethod
    def discrete(cls, n: int) -> ActionSpec:
        return cls(kind="discrete", n=n)

    @classmethod
    def continuous(
        cls,
        low: float | Sequence[float],
        high: float | Sequence[float],
        dim: int | None = None,
        squash: bool = False,
    ) -> ActionSpec:
        """Continuous spec; scalar bounds are broadcast to ``dim`` dimensions."""
        if not isinstance(low, Sequence):
            low = [float(low)] * (dim if dim is not None else 1)
        if not isinstance(high, Sequence):
            high = [float(high)] * (dim if dim is not None else len(low))
        return cls(kind="continuous", low=list(low), high=list(high), squash=squash)

    @classmethod
    def from_gymnasium(cls, space: Any, squash: bool = False) -> ActionSpec:
        """Build from a ``gymnasium.spaces.Discrete`` or 1-D ``Box`` by duck typing."""
        if hasattr(space, "n") and not hasattr(space, "nvec"):
            start = int(getattr(space, "start", 0))
            if start != 0:
                raise ValueError(f"Discrete spaces with start={start} are not supported")
            return cls.discrete(int(space.n))
        if hasattr(space, "low") and hasattr(space, "high"):
            shape = tuple(space.shape)
            if len(shape) != 1:
                raise ValueError(f"only 1-D Box action spaces are supported, got shape {shape}")
            low = [float(v) for v in space.low.reshape(-1)]
            high = [float(v) for v in space.high.reshape(-1)]
            return cls(kind="continuous", low=low, high=high, squash=squash)
        raise TypeError(
            f"unsupported action space {space!r}: expected Discrete (has .n) or 1-D Box"
        )

    @property
    def is_discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one action: ``()`` for discrete, ``(act_dim,)`` for continuous."""
        return () if self.kind == "discrete" else (len(self.low or []),)

    @property
    def dim(self) -> int:
        """Width of the policy head: ``n`` logits, or ``act_dim`` Gaussian means."""
        return int(self.n) if self.kind == "discrete" else len(self.low or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "low": None if self.low is None else list(self.low),
            "high": None if self.high is None else list(self.high),
            "squash": self.squash,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionSpec:
        return cls(
            kind=d["kind"],
            n=d.get("n"),
            low=d.get("low"),
            high=d.get("high"),
            squash=bool(d.get("squash", False)),
        )
