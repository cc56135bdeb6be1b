"""bench/link_fuzz.py: random, malformed, replayed, foreign and forged datagrams at both ends
of the robot link on loopback. 5,000 here; 1,000,000 in the slow tier and the benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def link_fuzz() -> ModuleType:
    """bench/link_fuzz.py by path (``bench`` may name another package on sys.path)."""
    spec = importlib.util.spec_from_file_location("link_fuzz", ROOT / "bench/link_fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(report: dict, datagrams: int) -> None:
    assert report["datagrams"] == datagrams and report["stopped_by"] == "count", report
    assert report["results"] == {
        "applied_foreign_actions": 0, "nonfinite_actions_sent": 0,
        "foreign_observations_used": 0, "datagrams_to_strangers": 0,
        "rounds_without_the_session": 0, "controller_stopped": 0}, report
    assert report["ok"]
    # Every kind was sent, to both ends, and the link kept working through it.
    assert set(report["sent"]) == {"random", "malformed", "replayed", "foreign", "forged"}
    robot, controller = report["robot"], report["controller"]
    assert robot["dropped"]["foreign"] and controller["dropped"]["foreign"]
    assert robot["dropped"]["out_of_order"] and controller["dropped"]["out_of_order"]
    assert robot["dropped"]["bad_flags"] and robot["dropped"]["bad_reserved"]
    # The link kept working: a loaded machine may make a message stale now and then, so not
    # every round need apply an action (more than were sent counts as foreign, above).
    assert controller["actions_sent"] >= robot["actions_applied"] >= 0.9 * report["rounds"]
    assert report["log_lines"]["rejected (robot)"] >= 1
    assert report["log_lines"]["ignored (controller)"] >= 1


def test_a_few_thousand_datagrams() -> None:
    check(link_fuzz().run(datagrams=5_000, seed=1), 5_000)


@pytest.mark.slow
def test_a_million_datagrams() -> None:
    check(link_fuzz().run(datagrams=1_000_000, seed=0, time_limit=600.0), 1_000_000)
