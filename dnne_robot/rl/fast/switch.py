"""The one switch of the PPO speed path, the torch versions it runs on, and the comparison
its first-use checks make.

The speed path (this package) is on by default where the installed torch is in
:data:`TESTED_TORCH`. Turn it off with the environment variable ``DNNE_ROBOT_FAST_PATH=0``
(read when a :class:`~..ppo.PPO` is made and when a policy first acts), or in-process with
``FAST_PATH.set(False)``; ``DNNE_ROBOT_FAST_PATH=force`` (or ``FAST_PATH.set("force")``) runs it
on a torch outside the range too. Every part of it still checks itself against the plain path
the first time it runs, and falls back for good on a mismatch.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor

log = logging.getLogger(__name__.rpartition(".")[0])  # dnne_robot.rl.fast (framework.rl.fast)

ENV_VAR = "DNNE_ROBOT_FAST_PATH"
"""``0``/``false``/``off``/``no``: off; ``force``: on whatever the torch version; ``1``,
empty or unset: on where the torch version is in :data:`TESTED_TORCH`."""

TESTED_TORCH = ((2, 13), (2, 15))
"""The torch versions, ``(major, minor)``, from the first up to but excluding the second, that
the speed path runs on. Tested on Linux x86_64, CPython 3.11, CPU: torch 2.13.0+cpu (tests/rl,
tests/training, weights bit-identical to the code before the switch, ``python -m bench --only
train``) and torch 2.14.1+cu130 run on the CPU (tests/rl, tests/training, the same bits). It
calls the private ``torch._fused_adam_``: widen the range only after running tests/rl on the
new version (``DNNE_ROBOT_FAST_PATH=force`` runs it there meanwhile)."""

Setting = Literal["on", "off", "force"]
_ENV_VALUES: dict[str, Setting] = {
    "": "on", "1": "on", "true": "on", "on": "on", "yes": "on",
    "0": "off", "false": "off", "off": "off", "no": "off",
    "force": "force",
}  # fmt: skip


def torch_version() -> tuple[int, int] | None:
    """``(major, minor)`` of the installed torch, None where ``torch.__version__`` is unreadable."""
    match = re.match(r"(\d+)\.(\d+)", str(torch.__version__))
    return (int(match[1]), int(match[2])) if match else None


class FastPathSwitch:
    """Whether PPO and the policy may take the speed path; the one instance is :data:`FAST_PATH`.

    :class:`~..ppo.PPO` asks it when it is made, :class:`~..policy.ActorCritic` when it first
    acts; each then keeps its answer, and turns its own parts off for good where their
    first-use check finds a mismatch.
    """

    def __init__(self) -> None:
        self._setting: Setting | None = None  # None: the environment variable decides
        self._said: set[str] = set()

    def set(self, setting: bool | Setting | None) -> None:
        """``True``/``"on"``, ``False``/``"off"``, ``"force"``; None: back to the environment."""
        if isinstance(setting, bool):
            setting = "on" if setting else "off"
        if setting not in (None, "on", "off", "force"):
            raise ValueError(f"FAST_PATH.set takes True, False, 'force' or None, not {setting!r}")
        self._setting = setting

    @contextmanager
    def disabled(self) -> Iterator[None]:
        """Turn the speed path off inside a ``with`` block (for parts made inside it)."""
        before, self._setting = self._setting, "off"
        try:
            yield
        finally:
            self._setting = before

    def setting(self) -> Setting:
        if self._setting is not None:
            return self._setting
        raw = os.environ.get(ENV_VAR, "").strip().lower()
        if raw not in _ENV_VALUES:
            self._say_once(
                f"env:{raw}", logging.WARNING,
                f"{ENV_VAR}={raw!r} is not one of {sorted(_ENV_VALUES)}; taken as unset",
            )  # fmt: skip
        return _ENV_VALUES.get(raw, "on")

    def enabled(self) -> bool:
        """True where the speed path may run: not switched off, and a tested torch (or forced)."""
        setting = self.setting()
        if setting != "on":
            return setting == "force"
        version = torch_version()
        (low, high) = TESTED_TORCH
        if version is not None and low <= version < high:
            return True
        self._say_once(
            "version", logging.WARNING,
            f"PPO speed path off: torch {torch.__version__} is outside the tested range "
            f"{low[0]}.{low[1]} <= version < {high[0]}.{high[1]}; the plain path (autograd, "
            f"Adam.step) gives the same training, slower ({ENV_VAR}=force runs it anyway)",
        )  # fmt: skip
        return False

    def _say_once(self, key: str, level: int, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            log.log(level, message)


FAST_PATH = FastPathSwitch()
"""The switch: ``FAST_PATH.enabled()``, ``FAST_PATH.set(False)``, ``with FAST_PATH.disabled():``."""


def mismatch(pairs: Iterable[tuple[str, Tensor, Tensor, float]], rtol: float) -> str | None:
    """None where every ``got`` is within ``rtol`` of ``want``; else what differed, by how much.

    ``pairs`` holds ``(name, got, want, floor)``. A tensor's error is ``max|got - want|``
    over ``max(max|want|, floor)``: relative to its own scale, so a wrong small tensor is
    caught as surely as a wrong large one, with ``floor`` for tensors that may be near zero.
    NaN or inf anywhere is a mismatch. The answer names the worst tensor and counts the rest.
    """
    worst: tuple[float, str] | None = None
    failed = 0
    for name, got, want, floor in pairs:
        got, want = got.detach().double(), want.detach().double()
        if got.shape != want.shape:
            error, what = math.inf, f"{name}: shape {tuple(got.shape)}, not {tuple(want.shape)}"
        elif not want.numel():
            continue
        else:
            diff = float((got - want).abs().max())
            scale = max(float(want.abs().max()), floor, 1e-30)
            error = diff / scale if math.isfinite(diff / scale) else math.inf
            what = (
                f"{name}: off by up to {diff:.3g} ({diff / scale:.3g} of its scale "
                f"{scale:.3g}; tolerance {rtol:g})"
            )
        if not error <= rtol:
            failed += 1
            if worst is None or error > worst[0]:
                worst = (error, what)
    if worst is None:
        return None
    return worst[1] + (f", and {failed - 1} more" if failed > 1 else "")
