"""A fixed-rate control loop: absolute deadlines, a sleep-then-spin wait, and its statistics.

    loop = RateLoop(500.0)
    stats = loop.run(step, duration=10.0)   # step(cycle) each period; returning False stops
    print(stats.table())

Cycle ``k`` is due at ``start + k * period`` on :func:`time.perf_counter`. Deadlines are
absolute (``next += period``, never ``sleep(period)``), so the time spent working and the
sleep's own jitter never add up to drift.

The wait sleeps until ``spin_s`` before the deadline and spins on the clock for the rest:
``time.sleep`` wakes 50-100 µs late on an idle Linux machine and much later under load, while
spinning costs a core for ``spin_s`` per cycle (25% of one at 500 Hz with the default
0.5 ms). On a loaded machine the scheduler preempts a spinning process, so there plain
sleeping (``spin_s=0``) can do better; ``bench/control_bench.py`` measures both.

Overruns: when a cycle's work ends after the next deadline, the next cycle starts at once,
late. Deadlines whose whole period has already passed are skipped, not run back to back; they
are counted in ``missed`` and reported with a warning at most once a second.

This module is copied into every export and imported by ``deploy.py``: it imports only the
standard library and numpy.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import signal
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any

import numpy as np

log = logging.getLogger("control")

#: How long before a deadline the wait stops sleeping and starts spinning.
DEFAULT_SPIN_S = 0.0005

Clock = Callable[[], float]


class Throttled:
    """Passes a message to ``emit`` at most once per ``interval_s``; counts the ones held back.

    The held-back count is appended to the next message that goes out, so a fault that
    happens on every cycle of a 1 kHz loop becomes one line a second, not a thousand.
    """

    def __init__(self, emit: Callable[[str], Any], interval_s: float = 1.0,
                 clock: Clock = time.monotonic) -> None:
        self.emit = emit
        self.interval_s = interval_s
        self.clock = clock
        self._last = -math.inf
        self._held = 0

    def __call__(self, message: str) -> None:
        now = self.clock()
        if now - self._last < self.interval_s:
            self._held += 1
            return
        if self._held:
            message += f" ({self._held} more like this since the last report)"
        self.emit(message)
        self._last, self._held = now, 0


class Samples:
    """Float samples for percentiles: every value up to ``capacity``, then a uniform subset.

    Past ``capacity`` it keeps a uniform random sample (reservoir sampling), so a loop that
    runs for days holds a bounded 8 bytes x ``capacity``. ``max`` and ``count`` stay exact.
    """

    def __init__(self, capacity: int = 1_000_000, seed: int = 0) -> None:
        self.capacity = capacity
        self.values = array("d")
        self.count = 0
        self.max = -math.inf
        self._rng = random.Random(seed)

    def add(self, x: float) -> None:
        self.count += 1
        if x > self.max:
            self.max = x
        if len(self.values) < self.capacity:
            self.values.append(x)
        else:
            j = self._rng.randrange(self.count)
            if j < self.capacity:
                self.values[j] = x

    def percentiles(self, scale: float = 1.0, digits: int = 4) -> dict[str, float | None]:
        """``p50``, ``p99``, ``max`` and ``mean`` times ``scale``; None when empty."""
        if not self.values:
            return {"p50": None, "p99": None, "max": None, "mean": None}
        v = np.frombuffer(self.values, dtype=np.float64)
        p50, p99 = np.percentile(v, [50.0, 99.0])
        return {"p50": round(float(p50) * scale, digits), "p99": round(float(p99) * scale, digits),
                "max": round(self.max * scale, digits),
                "mean": round(float(v.mean()) * scale, digits)}


@dataclass
class LoopStats:
    """What a :class:`RateLoop` run achieved. Times are in milliseconds."""

    target_hz: float
    achieved_hz: float | None
    cycles: int
    missed: int
    overruns: int
    seconds: float
    lateness_ms: dict[str, float | None]
    work_ms: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_hz"] = round(self.target_hz, 3)
        d["achieved_hz"] = None if self.achieved_hz is None else round(self.achieved_hz, 3)
        d["seconds"] = round(self.seconds, 3)
        return d

    def table(self) -> str:
        def ms(d: dict[str, float | None], key: str) -> str:
            return "-" if d[key] is None else f"{d[key]:.3f}"

        rate = "-" if self.achieved_hz is None else f"{self.achieved_hz:.2f}"
        return "\n".join([
            f"rate       {rate} Hz achieved / {self.target_hz:g} Hz target "
            f"over {self.seconds:.2f} s",
            f"cycles     {self.cycles}  (missed {self.missed}, overruns {self.overruns})",
            f"lateness   p50 {ms(self.lateness_ms, 'p50')}  p99 {ms(self.lateness_ms, 'p99')}  "
            f"max {ms(self.lateness_ms, 'max')} ms",
            f"work       p50 {ms(self.work_ms, 'p50')}  p99 {ms(self.work_ms, 'p99')}  "
            f"max {ms(self.work_ms, 'max')} ms",
        ])


class RateLoop:
    """Calls work at a fixed rate on absolute deadlines.

    Use :meth:`run`, or drive it by hand: :meth:`start`, then :meth:`wait` before each cycle's
    work, then :meth:`stats`.

    Args:
        rate_hz: Cycles per second (finite, > 0).
        spin_s: Spin instead of sleeping for the last ``spin_s`` before each deadline
            (0 sleeps all the way).
        clock: Seconds on a monotonic clock.
        sleep: Sleeps for the given seconds.
        warn: Receives the (throttled) overrun warnings; ``logging.warning`` by default.
    """

    def __init__(
        self,
        rate_hz: float,
        *,
        spin_s: float = DEFAULT_SPIN_S,
        clock: Clock = time.perf_counter,
        sleep: Callable[[float], Any] = time.sleep,
        warn: Callable[[str], Any] | None = None,
    ) -> None:
        if not (isinstance(rate_hz, int | float) and math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be a finite number > 0, got {rate_hz!r}")
        if not (math.isfinite(spin_s) and spin_s >= 0):
            raise ValueError(f"spin_s must be >= 0, got {spin_s!r}")
        self.rate_hz = float(rate_hz)
        self.period = 1.0 / self.rate_hz
        self.spin_s = spin_s
        self.clock = clock
        self.sleep = sleep
        self._warn = Throttled(warn or log.warning, 1.0, clock)
        self.start()

    def start(self, at: float | None = None) -> None:
        """Reset the statistics; the first deadline is ``at`` (default: now)."""
        self.t0 = self.clock() if at is None else at
        self.next_deadline = self.t0
        self.cycles = 0
        self.missed = 0
        self.overruns = 0
        self.lateness = Samples()
        self.work = Samples()
        self._first_wake: float | None = None
        self._last_wake: float | None = None

    def wait(self) -> float:
        """Block until the next deadline and return it.

        Deadlines a whole period or more in the past are skipped (and counted in ``missed``);
        a deadline less than a period in the past returns at once, late.
        """
        now = self.clock()
        work = None if self._last_wake is None else now - self._last_wake
        if work is not None:
            self.work.add(work)
        late = now - self.next_deadline
        if late > 0 and work is not None:
            self.overruns += 1
            if late >= self.period:
                skipped = int(late // self.period)
                self.next_deadline += skipped * self.period
                self.missed += skipped
                self._warn(
                    f"control loop overrun: {late * 1e3:.2f} ms behind schedule (the last "
                    f"cycle worked {work * 1e3:.2f} ms of a {self.period * 1e3:.3g} ms period); "
                    f"skipped {skipped} cycle(s), {self.missed} so far"
                )
        deadline = self.next_deadline
        remaining = deadline - now
        if remaining > self.spin_s:
            self.sleep(remaining - self.spin_s)
        while (now := self.clock()) < deadline:
            pass
        self.lateness.add(now - deadline)
        if self._first_wake is None:
            self._first_wake = now
        self._last_wake = now
        self.next_deadline = deadline + self.period
        self.cycles += 1
        return deadline

    def run(
        self,
        step: Callable[[int], object],
        *,
        duration: float | None = None,
        cycles: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        start_at: float | None = None,
    ) -> LoopStats:
        """Call ``step(cycle)`` once per period until ``step`` returns False, ``should_stop()``
        is true, ``cycles`` cycles ran or the next deadline lies ``duration`` s after the start.

        The first deadline is ``start_at`` (a :attr:`clock` time; default: now).
        """
        self.start(start_at)
        end = math.inf if duration is None else self.t0 + duration
        while True:
            if should_stop is not None and should_stop():
                break
            if cycles is not None and self.cycles >= cycles:
                break
            if self.next_deadline >= end - 1e-9:
                break
            self.wait()
            if step(self.cycles - 1) is False:
                break
        return self.stats()

    def stats(self) -> LoopStats:
        achieved = None
        if self._first_wake is not None and self._last_wake is not None and self.cycles > 1:
            span = self._last_wake - self._first_wake
            achieved = (self.cycles - 1) / span if span > 0 else None
        end = self._last_wake if self._last_wake is not None else self.t0
        return LoopStats(
            target_hz=self.rate_hz,
            achieved_hz=achieved,
            cycles=self.cycles,
            missed=self.missed,
            overruns=self.overruns,
            seconds=max(0.0, end - self.t0),
            lateness_ms=self.lateness.percentiles(1e3),
            work_ms=self.work.percentiles(1e3),
        )


def resolve_rate(rate_hz: float | None, metadata: dict[str, Any] | None = None) -> float:
    """The control rate: ``rate_hz`` if given, else ``control_rate_hz``, else ``1 / dt``.

    ``metadata`` is the ``metadata`` object of an exported policy's ``policy.json``.

    Raises:
        ValueError: no usable rate anywhere, or a rate that is not finite and > 0.
    """
    metadata = metadata or {}
    source, value = "--rate-hz", rate_hz
    if value is None and metadata.get("control_rate_hz") is not None:
        source, value = "control_rate_hz", metadata["control_rate_hz"]
    if value is None and metadata.get("dt"):
        source, value = "1/dt", 1.0 / float(metadata["dt"])
    if value is None:
        raise ValueError("no control rate: the policy's metadata has neither control_rate_hz "
                         "nor dt; pass --rate-hz")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"control rate from {source} must be a finite number > 0, got {value}")
    return value


def finite_positive(text: str) -> float:
    """An ``argparse`` type: a finite number > 0 (refuses ``nan``, ``inf``, 0 and below)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def int_between(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """An ``argparse`` type: an integer in ``[low, high]``; ``why`` explains the bounds."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be between {low} and {high}{why}, got {value}")
        return value

    return parse


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag that a control loop polls once per cycle.

    A second signal while stopping raises ``KeyboardInterrupt``, so a stuck shutdown can
    still be interrupted. Use as a context manager; the previous handlers come back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str | None:
        return None if self.received is None else signal.Signals(self.received).name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def run_until_stopped(server: Any, duration: float | None) -> int:
    """Serve (UDP or ROS 2) until ``duration`` or SIGINT/SIGTERM, close, print the summary."""
    try:
        with StopSignals() as stop:
            summary = server.serve(duration=duration, should_stop=lambda: bool(stop))
            summary["stopped_by"] = stop.name or "duration"
    finally:
        server.close()
    print(json.dumps(summary), flush=True)
    return 0
