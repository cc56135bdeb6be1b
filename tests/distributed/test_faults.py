"""A rollout worker that dies is replaced, its fragment collected again, the run completes."""

from __future__ import annotations

import csv
import os
import signal
import threading
from pathlib import Path

import pytest

from .helpers import make_run

pytest.importorskip("ray")

HORIZON = 512  # long enough that the kill lands while the worker is collecting
STEPS = 3 * HORIZON * 8 * 2  # three iterations of two workers with eight envs


@pytest.mark.slow
def test_worker_killed_mid_run_is_replaced(ray_session, runner, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    from framework.runtime import RunContext

    graph = runner.build_graph(RunContext())
    trainer = type(next(n for n in graph.nodes if hasattr(n, "HORIZON_LENGTH")))
    monkeypatch.setattr(trainer, "HORIZON_LENGTH", HORIZON)
    monkeypatch.setattr(trainer, "NUM_EPOCHS", 1)
    run = make_run(runner, tmp_path, workers=2, steps=STEPS)
    try:
        run.iteration()
        pid = ray_session.get(run.actors[1].pid.remote())
        killer = threading.Timer(0.05, os.kill, (pid, signal.SIGKILL))
        killer.start()
        while run.budget_left():
            stats = run.iteration()
        killer.join()
        assert run.ctx.env_steps == STEPS
        assert run.restarts == 1 and stats["worker_restarts"] == 1.0
        assert run.incarnations == [0, 1]
        assert ray_session.get(run.actors[1].pid.remote()) != pid
        # A replacement starts new episodes on a seed block no other worker uses, and
        # samples from its own RNG (only worker 0's first actor has the local agent's).
        specs = [run._spec(i, k) for i in range(2) for k in range(3)]  # noqa: SLF001
        assert len({spec.env_seed for spec in specs}) == len(specs)
        assert [spec.generator_state is not None for spec in specs] == [
            True, False, False, False, False, False]
    finally:
        run.close("done")
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [float(r["worker_restarts"]) for r in rows] == [0.0, 1.0, 1.0]



def test_remote_errors_are_one_line(runner) -> None:
    from framework.distributed.errors import first_line as _first_line

    class Wrapped(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__("ray::RolloutWorker.collect() (pid=1)\nTraceback ...")
            self.cause = cause

    assert _first_line(Wrapped(ValueError("bad action"))) == "ValueError: bad action"
    died = ("The actor died because of an error raised in its creation task, \x1b[36mray::"
            "RolloutWorker.__init__()\x1b[39m\nTraceback (most recent call last):\n  File x\n"
            "framework.envs.errors.UnknownTaskError: unknown task 'Nope'")
    assert _first_line(RuntimeError(died)) == (
        "framework.envs.errors.UnknownTaskError: unknown task 'Nope'")
