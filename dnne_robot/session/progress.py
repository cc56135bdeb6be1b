"""Training progress on the terminal: a tqdm bar, or a plain line every few seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

#: (env steps so far, the last update's statistics) -> None
Progress = Callable[[int, dict[str, Any]], None]
PLAIN_INTERVAL_S = 5.0


def progress_reporter(
    total: int | None, enabled: bool, initial: int = 0
) -> tuple[Progress | None, Callable[[], None]]:
    """A progress callback and the function that closes it (both no-ops when disabled).

    A bar needs tqdm and a known total; otherwise a line with the step, the steps/s since the
    last line and the recent return is printed every :data:`PLAIN_INTERVAL_S` seconds.
    """
    if not enabled:
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or total is None:
        return _plain(), lambda: None
    bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05,
               file=sys.stderr)

    def update(step: int, stats: dict[str, Any]) -> None:
        bar.update(step - bar.n)
        ret = stats.get("episode_return_mean")
        if ret is not None:
            bar.set_postfix(ret=f"{ret:.1f}", refresh=False)

    return update, bar.close


def _plain() -> Progress:
    last: list[float] = []  # (time, step) of the last line; set on the first call

    def plain(step: int, stats: dict[str, Any]) -> None:
        now = time.monotonic()
        if not last:  # a resumed run starts counting at its checkpoint's step
            last[:] = [now, step]
        elif now - last[0] >= PLAIN_INTERVAL_S:
            rate = (step - last[1]) / (now - last[0])
            last[:] = [now, step]
            ret = stats.get("episode_return_mean")
            print(f"step {step}  {rate:,.0f} steps/s  return "
                  f"{ret if ret is None else round(ret, 1)}", flush=True)

    return plain
