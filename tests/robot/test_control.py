"""runtime/control.py: deadlines, overruns and statistics on a fake clock; one real-time run."""

from __future__ import annotations

import math
import os
import signal

import pytest

from dnne_robot.robot.control import RateLoop, Samples, StopSignals, Throttled, resolve_rate


class FakeClock:
    """A clock that only moves when the loop sleeps or spins, or when work advances it."""

    def __init__(self, spin_step: float = 1e-5) -> None:
        self.t = 100.0
        self.spin_step = spin_step
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.t += self.spin_step  # every read costs a little, so a spin ends
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def make_loop(rate_hz: float, clock: FakeClock, **kw) -> RateLoop:
    return RateLoop(rate_hz, clock=clock, sleep=clock.sleep, **kw)


def test_deadlines_are_absolute_so_work_does_not_drift() -> None:
    clock = FakeClock()
    loop = make_loop(100.0, clock, spin_s=0.0)
    deadlines = []

    def work(cycle: int) -> None:
        clock.t += 0.003 + 0.002 * (cycle % 3)  # 3-7 ms of work in a 10 ms period
        deadlines.append(loop.next_deadline - loop.period)

    stats = loop.run(work, cycles=50)
    assert stats.cycles == 50 and stats.missed == 0 and stats.overruns == 0
    for k, d in enumerate(deadlines):
        assert d == pytest.approx(loop.t0 + k * 0.01, abs=1e-9)
    # Each wait sleeps only what is left of the period after the work.
    assert max(clock.sleeps) < 0.0075 and min(clock.sleeps) > 0.0025
    assert stats.achieved_hz == pytest.approx(100.0, rel=1e-3)


def test_spin_margin_sleeps_short_of_the_deadline() -> None:
    clock = FakeClock()
    loop = make_loop(100.0, clock, spin_s=0.002)
    loop.run(lambda c: None, cycles=5)
    assert all(s == pytest.approx(0.008, abs=1e-4) for s in clock.sleeps[1:])
    assert loop.stats().lateness_ms["max"] < 0.1


def test_a_long_cycle_skips_the_missed_deadlines_and_counts_them() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    loop = make_loop(100.0, clock, spin_s=0.0, warn=warnings.append)
    ran = []

    def work(cycle: int) -> None:
        ran.append(loop.next_deadline - loop.period)
        if cycle == 3:
            clock.t += 0.035  # 3.5 periods

    stats = loop.run(work, cycles=8)
    assert stats.missed == 2 and stats.overruns == 1 and stats.cycles == 8
    # Cycle 3 was due at t0+30 ms and ended at 65 ms: the 40 and 50 ms deadlines are
    # skipped, the 60 ms one (less than a period ago) runs at once, 5 ms late.
    offsets = [round((d - loop.t0) * 1e3, 3) for d in ran]
    assert offsets == [0, 10, 20, 30, 60, 70, 80, 90]
    assert stats.lateness_ms["max"] == pytest.approx(5.0, abs=0.1)
    assert len(warnings) == 1 and "skipped 2 cycle(s)" in warnings[0]


def test_overrun_warnings_are_throttled_to_one_a_second() -> None:
    clock = FakeClock()
    warnings: list[str] = []
    loop = make_loop(100.0, clock, spin_s=0.0, warn=warnings.append)
    # Every cycle takes 25 ms: every cycle skips a deadline, for 2 simulated seconds.
    loop.run(lambda c: setattr(clock, "t", clock.t + 0.025), duration=2.0)
    assert loop.missed > 40
    assert 2 <= len(warnings) <= 3
    assert "more like this" in warnings[-1]


def test_duration_gives_an_exact_number_of_cycles() -> None:
    clock = FakeClock()
    stats = make_loop(50.0, clock).run(lambda c: None, duration=3.0)
    assert stats.cycles == 150


def test_step_returning_false_or_should_stop_ends_the_loop() -> None:
    clock = FakeClock()
    assert make_loop(50.0, clock).run(lambda c: c < 4).cycles == 5
    flag = []
    stats = make_loop(50.0, clock).run(lambda c: flag.append(c), should_stop=lambda: len(flag) > 6)
    assert stats.cycles == 7


def test_first_deadline_can_be_chosen() -> None:
    clock = FakeClock()
    loop = make_loop(50.0, clock)
    start = clock.t + 0.5
    loop.run(lambda c: None, cycles=1, start_at=start)
    assert clock.t >= start


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, "50"])
def test_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        RateLoop(bad)  # type: ignore[arg-type]


def test_real_time_rate_and_lateness() -> None:
    stats = RateLoop(200.0).run(lambda c: None, duration=0.5)
    assert stats.cycles + stats.missed == 100
    assert stats.achieved_hz == pytest.approx(200.0, rel=0.1)
    d = stats.as_dict()
    assert set(d["lateness_ms"]) == {"p50", "p99", "max", "mean"}
    assert "lateness" in stats.table()


def test_resolve_rate_prefers_the_flag_then_the_rate_then_dt() -> None:
    assert resolve_rate(25.0, {"control_rate_hz": 50.0}) == 25.0
    assert resolve_rate(None, {"control_rate_hz": 50.0, "dt": 0.1}) == 50.0
    assert resolve_rate(None, {"control_rate_hz": None, "dt": 0.05}) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="pass --rate-hz"):
        resolve_rate(None, {})
    with pytest.raises(ValueError, match="> 0"):
        resolve_rate(-5.0, {})


def test_samples_keep_a_bounded_uniform_subset_and_the_exact_max() -> None:
    s = Samples(capacity=1000)
    for i in range(100_000):
        s.add(float(i))
    assert len(s.values) == 1000 and s.count == 100_000 and s.max == 99_999.0
    p = s.percentiles()
    assert 40_000 < p["p50"] < 60_000
    assert Samples().percentiles() == {"p50": None, "p99": None, "max": None, "mean": None}


def test_throttled_counts_what_it_held_back() -> None:
    now = [0.0]
    out: list[str] = []
    t = Throttled(out.append, 1.0, clock=lambda: now[0])
    for i in range(5):
        t(f"m{i}")
        now[0] += 0.3
    assert out == ["m0", "m4 (3 more like this since the last report)"]


def test_stop_signals_set_a_flag_and_restore_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert not stop
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping
    assert signal.getsignal(signal.SIGTERM) is before
