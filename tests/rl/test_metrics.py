from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dnne_robot.rl import EpisodeTracker, MetricsLogger


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_logger_files(tmp_path: Path) -> None:
    run = tmp_path / "cartpole_ppo_s3"
    logger = MetricsLogger(run, {"lr": 1e-3, "env": "CartPole-v1", "hidden": (64, 64)}, seed=3)
    hparams = json.loads((run / "hparams.json").read_text())
    assert hparams["seed"] == 3 and hparams["run_name"] == "cartpole_ppo_s3"
    assert hparams["hparams"]["env"] == "CartPole-v1"

    logger.log(100, {"policy_loss": 0.5, "value_loss": torch.tensor(2.0)})
    logger.log(200, {"value_loss": 1.0, "policy_loss": 0.25, "approx_kl": np.float32(0.01)})
    logger.log(300, {"policy_loss": 0.1})
    with (run / "metrics.csv").open() as f:
        header = f.readline().strip().split(",")
    assert header == ["global_step", "policy_loss", "value_loss", "approx_kl"]
    rows = read_csv(run / "metrics.csv")
    assert [r["global_step"] for r in rows] == ["100", "200", "300"]
    assert rows[0]["approx_kl"] == "" and float(rows[1]["approx_kl"]) == pytest.approx(0.01)
    assert rows[2]["value_loss"] == ""

    logger.log_episodes(150, [(10.0, 10), (22.5, 23)])
    logger.log_episodes(250, [(30.0, 30)])
    png = logger.close()
    episodes = read_csv(run / "episodes.csv")
    assert [float(e["episode_return"]) for e in episodes] == [10.0, 22.5, 30.0]
    if importlib.util.find_spec("matplotlib") is not None:
        assert png == run / "learning_curve.png" and png.stat().st_size > 0
    if importlib.util.find_spec("tensorboard") is None:
        assert logger.writer is None

    # Resuming appends under the same header.
    resumed = MetricsLogger(run, {"lr": 1e-3}, seed=3, tensorboard=False)
    resumed.log(400, {"approx_kl": 0.02})
    assert [r["global_step"] for r in read_csv(run / "metrics.csv")][-1] == "400"
    assert len(read_csv(run / "episodes.csv")) == 3


def test_episode_tracker() -> None:
    tracker = EpisodeTracker(num_envs=2, window=2)
    assert np.isnan(tracker.recent_mean_return)
    done = tracker.step(np.array([1.0, 2.0]), np.array([False, False]), np.array([False, False]))
    assert done == []
    done = tracker.step(
        torch.tensor([1.0, 2.0]), torch.tensor([True, False]), torch.tensor([False, False])
    )
    assert done == [(2.0, 2)]
    done = tracker.step(np.array([5.0, 2.0]), np.array([False, False]), np.array([True, True]))
    assert done == [(5.0, 1), (6.0, 3)]
    assert tracker.num_episodes == 3
    assert tracker.recent_mean_return == pytest.approx(5.5)  # window of the last two
    assert tracker.recent_mean_length == pytest.approx(2.0)
