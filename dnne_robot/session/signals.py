"""Signals around a run: SIGTERM stops like Ctrl-C, and neither may cut a checkpoint short."""

from __future__ import annotations

import signal
from typing import Any


class SignalsHeld:
    """Hold SIGINT and SIGTERM back while a checkpoint is written; they arrive afterwards."""

    SIGNALS = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self) -> None:
        self.old = None
        if hasattr(signal, "pthread_sigmask"):  # not on Windows
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def terminate_as_interrupt() -> None:
    """SIGTERM outside the graph's own handler stops the runner like Ctrl-C (exit 130)."""
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        pass
