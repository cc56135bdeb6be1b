"""Lock-step between an acting node and the trainer that updates its policy.

PPO needs every action of a rollout to come from the policy as it was when the rollout
started, and the update to finish before the next rollout's first action. The agent sends a
:class:`PolicyModel` on its ``model`` output; the trainer calls :meth:`StepGate.advance` after
it has consumed each step (and updated, when the rollout was full). Before acting on step
``n`` the agent awaits ``gate.wait_for(n)``. In a single event loop this costs nothing when
the trainer is already caught up, and it keeps runs deterministic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


class StepGate:
    def __init__(self) -> None:
        self.attached = False
        self.consumed = 0
        self._target = 0
        self._waiter: asyncio.Future | None = None

    async def wait_for(self, step: int) -> None:
        """Return once the trainer has consumed ``step`` steps (at once if none is attached)."""
        if not self.attached or self.consumed >= step:
            return
        self._target = step
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    def advance(self) -> None:
        self.consumed += 1
        waiter = self._waiter
        if waiter is not None and self.consumed >= self._target and not waiter.done():
            waiter.set_result(None)
            self._waiter = None


@dataclass
class PolicyModel:
    """What a PPO agent node sends to its trainer: the policy and the gate between them."""

    policy: Any
    gate: StepGate = field(default_factory=StepGate)
    learning_rate: float | None = None
