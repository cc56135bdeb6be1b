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
    total: int | None, enabled: bool, initial: int = 0, *, bar: bool = True,
    every: float | None = None,
) -> tuple[Progress | None, Callable[[], None]]:
    """A progress callback and the function that closes it (both no-ops when disabled).

    A bar (``bar``: stderr is a terminal) needs tqdm and a known total; otherwise a line with
    the step, the steps/s since the last line and the recent return goes to stderr every
    ``every`` seconds (default :data:`PLAIN_INTERVAL_S`), so logs of nohup, CI or a batch job
    show the run moving.
    """
    if not enabled:
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not bar or tqdm is None or total is None:
        return _plain(total, PLAIN_INTERVAL_S if every is None else every), lambda: None
    bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05,
               file=sys.stderr)

    def update(step: int, stats: dict[str, Any]) -> None:
        bar.update(step - bar.n)
        ret = stats.get("episode_return_mean")
        if ret is not None:
            bar.set_postfix(ret=f"{ret:.1f}", refresh=False)

    return update, bar.close


def _plain(total: int | None, every: float) -> Progress:
    last: list[float] = []  # (time, step) of the last line; set on the first call
    of = f"/{total:,}" if total else ""

    def plain(step: int, stats: dict[str, Any]) -> None:
        now = time.monotonic()
        if not last:  # a resumed run starts counting at its checkpoint's step
            last[:] = [now, step]
        elif now - last[0] >= every:
            rate = (step - last[1]) / (now - last[0])
            last[:] = [now, step]
            ret = stats.get("episode_return_mean")
            shown = "-" if ret is None else f"{ret:.1f}"
            print(f"step {step:,}{of}  {rate:,.0f} steps/s  recent return {shown}",
                  file=sys.stderr, flush=True)

    return plain
