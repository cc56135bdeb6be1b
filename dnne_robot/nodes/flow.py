"""Graph plumbing: merges, and DNNE's gates, joins, splits and pacing.

The OR merge closes a feedback loop; Barrier, Concat, Split, Eat_N and Balancer are DNNE's,
with its semantics (``custom_nodes/*_visnode.py`` and their templates).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, ClassVar

import torch

from ..runtime import In, QueueNode


class OrMergeNode(QueueNode):
    """Forwards whichever input arrives: the env's first observation, then each step's.

    This is how a feedback loop closes: the env feeds one input once, the step node the
    other on every step, and the agent sees one stream.
    """

    INPUTS = (
        In("input_a", mode="any", optional=True),
        In("input_b", mode="any", optional=True),
        In("input_c", mode="any", optional=True),
    )
    OUTPUTS = ("output",)

    def compute(self, **inputs: Any) -> dict[str, Any]:
        (value,) = inputs.values()  # exactly one input arrives per call
        return {"output": value}


# ----------------------------------------------------------------------------- DNNE flow
def as_rows(x: torch.Tensor) -> torch.Tensor:
    """DNNE's tensor standard: data is ``[batch, features, ...]``; a 1-d tensor is one row."""
    return x.unsqueeze(0) if x.dim() == 1 else x


class BarrierNode(QueueNode):
    """Holds items first in, first out; each ``release`` message lets one through. A release
    that comes before any item is banked. Several links into ``release``: any of them."""

    INPUTS = (In("input", mode="any", optional=True), In("release", mode="any", optional=True))
    OUTPUTS = ("output",)
    HOLD_MODE: ClassVar[str]

    def setup(self) -> None:
        self.held: deque[Any] = deque()
        self.releases = 0

    async def compute(self, **inputs: Any) -> dict[str, Any]:
        if "input" in inputs:
            self.held.append(inputs["input"])
        else:
            self.releases += 1
        while self.releases and self.held:
            self.releases -= 1
            await self.emit({"output": self.held.popleft()})
        return {}


class ConcatNode(QueueNode):
    """Joins the connected inputs (``CONNECTED``, in a-to-d order) along the feature axis.

    ``MODE`` "wait for all": one item from each, then one output. "as available": every item
    updates its input's latest value and an output goes out at once; an input not seen yet is
    zeros ("pad with zeros") or left out ("hold previous").
    """

    INPUTS = tuple(In(f"input_{c}", mode="any", optional=True) for c in "abcd")
    OUTPUTS = ("output",)
    CONNECTED: ClassVar[tuple[str, ...]]
    MODE: ClassVar[str]
    PAD_MODE: ClassVar[str]

    def setup(self) -> None:
        self.pending: dict[str, deque[torch.Tensor]] = {n: deque() for n in self.CONNECTED}
        self.previous: dict[str, torch.Tensor] = {}

    def compute(self, **inputs: Any) -> dict[str, Any]:
        ((name, value),) = inputs.items()
        value = as_rows(value)
        self.previous[name] = value
        if self.MODE == "wait for all":
            self.pending[name].append(value)
            if not all(self.pending.values()):
                return {}
            parts = [self.pending[n].popleft() for n in self.CONNECTED]
        else:
            parts = []
            for n in self.CONNECTED:
                if n in self.previous:
                    parts.append(self.previous[n])
                elif self.PAD_MODE == "pad with zeros":
                    parts.append(torch.zeros_like(value))
        return {"output": torch.cat(parts, dim=1)}


class SplitNode(QueueNode):
    """Cuts the feature axis (dim 1) into up to four parts, ``SLICES`` (start, stop) in order
    (the exporter resolved "by index", "by size" or "by name" into them)."""

    INPUTS = (In("input"),)
    OUTPUTS = tuple(f"output_{c}" for c in "abcd")
    SLICES: ClassVar[tuple[tuple[int, int | None], ...]]
    DIMENSION: ClassVar[int]
    SPLIT_MODE: ClassVar[str]
    SPLIT_POS: ClassVar[str]

    def compute(self, input: torch.Tensor) -> dict[str, Any]:  # noqa: A002 - DNNE's name
        x = as_rows(input)
        width = x.shape[1]
        out = {}
        for name, (start, stop) in zip(self.OUTPUTS, self.SLICES, strict=False):
            if start >= width:
                break  # DNNE: cut points past the width end the outputs
            out[name] = x[:, start:stop]
        return out


class EatNNode(QueueNode):
    """Swallows the first ``NUM_TO_EAT`` items, then passes the rest: it delays a stream by
    N items. Sends a ``trigger`` for each item eaten ("every_eat") or the last ("last_only"),
    which starts the loops that wait for it."""

    INPUTS = (In("input", optional=True),)
    OUTPUTS = ("output", "trigger")
    NUM_TO_EAT: ClassVar[int]
    TRIGGER_MODE: ClassVar[str]

    def setup(self) -> None:
        self.eaten = 0

    def compute(self, input: Any) -> dict[str, Any]:  # noqa: A002 - DNNE's name
        if self.eaten >= self.NUM_TO_EAT:
            return {"output": input}
        self.eaten += 1
        last = self.eaten == self.NUM_TO_EAT
        if self.TRIGGER_MODE == "every_eat" or last:
            return {"trigger": {"source": self.node_id, "consumed_count": self.eaten,
                                "is_last": last}}
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"eaten": self.eaten}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.eaten = state["eaten"]


class BalancerNode(QueueNode):
    """Passes a stream on unchanged while it measures its rate over ``WINDOW_SIZE`` items.

    It holds items back to stay under ``MAX_HZ`` and paces them at ``TARGET_HZ`` (-1: off),
    warns when the rate falls below ``MIN_HZ`` or an item comes more than ``MAX_LATENCY_MS``
    after the one before, and reports the rate every ``REPORT_INTERVAL`` items.
    """

    INPUTS = (In("input"),)
    OUTPUTS = ("output",)
    ITEM_NAME: ClassVar[str]
    ENABLED: ClassVar[bool]
    MIN_HZ: ClassVar[float]
    MAX_HZ: ClassVar[float]
    TARGET_HZ: ClassVar[float]
    MAX_LATENCY_MS: ClassVar[float]
    WINDOW_SIZE: ClassVar[int]
    LOG_VIOLATIONS: ClassVar[bool]
    REPORT_INTERVAL: ClassVar[int]

    def setup(self) -> None:
        self.times: deque[float] = deque(maxlen=max(2, self.WINDOW_SIZE))
        self.items = 0
        self.violations = 0
        self.next_due = 0.0

    def rate(self) -> float | None:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return None
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def _violation(self, message: str) -> None:
        self.violations += 1
        if self.LOG_VIOLATIONS:
            self.log.warning("%s: %s", self.ITEM_NAME, message)

    async def compute(self, input: Any) -> dict[str, Any]:  # noqa: A002 - DNNE's name
        if not self.ENABLED:
            return {"output": input}
        now = time.perf_counter()
        pace = max(self.MAX_HZ if self.MAX_HZ > 0 else 0.0, self.TARGET_HZ)
        if pace > 0:
            if now < self.next_due:
                await asyncio.sleep(self.next_due - now)
                now = time.perf_counter()
            self.next_due = max(now, self.next_due) + 1.0 / pace
        if self.times and self.MAX_LATENCY_MS > 0:
            gap_ms = (now - self.times[-1]) * 1e3
            if gap_ms > self.MAX_LATENCY_MS:
                self._violation(f"{gap_ms:.1f} ms since the last item (max {self.MAX_LATENCY_MS})")
        self.times.append(now)
        self.items += 1
        rate = self.rate()
        if rate is not None and self.MIN_HZ > 0 and len(self.times) == self.times.maxlen \
                and rate < self.MIN_HZ:
            self._violation(f"{rate:.1f} Hz is below min_hz {self.MIN_HZ}")
        if self.items % max(1, self.REPORT_INTERVAL) == 0 and rate is not None:
            self.log.info("%s: %d items, %.1f Hz", self.ITEM_NAME, self.items, rate)
        return {"output": input}

    def close(self, reason: str) -> None:
        rate = self.rate()
        self.ctx.summary[f"balancer_{self.node_id}"] = {
            "items": self.items, "rate_hz": None if rate is None else round(rate, 2),
            "violations": self.violations}
