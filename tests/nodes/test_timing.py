"""Durations as DNNE's widgets write them: Network's checkpoint_trigger_value ("1h30m") and
Simulation Tracker's telemetry_interval ("30s", "5m")."""

from __future__ import annotations

import pytest

from dnne_robot.nodes.timing import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("30s", 30.0), ("5s", 5.0), ("1.5s", 1.5), ("5m", 300.0), ("1h", 3600.0),
    ("1h30m", 5400.0), ("1h30m15s", 5415.0), (" 2m 10s ", 130.0), ("0", 0.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "  ", "min", "max", "5x", "10_steps", "-5s", "1.5m"])
def test_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None
