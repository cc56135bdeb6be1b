"""The runner's progress output."""

from __future__ import annotations

import pytest


def test_plain_progress_counts_from_the_resumed_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Without tqdm (or a step budget) the runner prints a line every 5 s."""
    from dnne_robot.session import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    update, close = progress.progress_reporter(None, True, initial=1_000_000)
    update(1_000_000, {})
    clock[0] += 5.0
    update(1_000_128, {"episode_return_mean": 3.0})
    close()
    err = capsys.readouterr().err
    assert "step 1,000,128  26 steps/s  recent return 3.0" in err, err
