"""evaluate_policy and sim_to_sim_table."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dnne_robot.envs import evaluate_policy, format_table, sim_to_sim_table

from .helpers import cartpole_pd, pendulum_swing_up


def test_evaluate_policy_summary() -> None:
    result = evaluate_policy(cartpole_pd, "CartPole", "gymnasium", episodes=3, seed=0)
    assert set(result) >= {"mean_return", "std_return", "episodes", "returns", "lengths"}
    assert result["episodes"] == 3 and len(result["returns"]) == 3
    assert result["returns"] == [500.0, 500.0, 500.0] and result["lengths"] == [500] * 3
    assert result["mean_return"] == 500.0 and result["std_return"] == 0.0


def test_evaluate_policy_is_deterministic_and_batches() -> None:
    """More episodes than one batch of sub-envs; episode k uses seed + k either way."""
    from dnne_robot.envs import evaluate as evaluate_module

    a = evaluate_policy(pendulum_swing_up, "Pendulum", "gymnasium", episodes=5, seed=2)
    b = evaluate_policy(pendulum_swing_up, "Pendulum", "gymnasium", episodes=5, seed=2)
    assert a == b
    old = evaluate_module.BATCH
    evaluate_module.BATCH = 2
    try:
        c = evaluate_policy(pendulum_swing_up, "Pendulum", "gymnasium", episodes=5, seed=2)
    finally:
        evaluate_module.BATCH = old
    assert c["returns"] == a["returns"]


def test_sim_to_sim_table_all_engines() -> None:
    rows = sim_to_sim_table(cartpole_pd, "Cartpole", episodes=2)
    assert [r["engine"] for r in rows] == ["gymnasium", "mujoco", "pybullet"]
    for row in rows:
        if row["skipped"] is None:
            assert row["mean_return"] == 500.0, row["engine"]
    assert "CartPole" in format_table(rows)


def test_sim_to_sim_table_skips_with_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pybullet", None)
    import dnne_robot.envs.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "engine_installed", lambda e: e != "pybullet")
    rows = sim_to_sim_table(
        lambda obs: np.zeros((len(obs), 2), np.float32),
        "Reach",
        engines=["gymnasium", "pybullet"],
        episodes=1,
    )
    reasons = {r["engine"]: r["skipped"] for r in rows}
    assert "not available" in reasons["gymnasium"]
    assert "pip install pybullet" in reasons["pybullet"]


def test_format_table_shows_the_success_rate_when_a_task_defines_it() -> None:
    rows = [
        {"task": "FrankaReach", "engine": "mujoco", "skipped": None, "mean_return": 104.6,
         "std_return": 3.2, "episodes": 50, "success_rate": 0.96},
        {"task": "FrankaReach", "engine": "pybullet", "skipped": "pybullet is not installed",
         "episodes": 50},
    ]
    header, mujoco, pybullet = format_table(rows).splitlines()
    assert header.split() == ["task", "engine", "mean", "std", "episodes", "success", "note"]
    assert mujoco.split() == ["FrankaReach", "mujoco", "104.60", "3.20", "50", "96%"]
    assert pybullet.split()[:6] == ["FrankaReach", "pybullet", "-", "-", "-", "-"]
    # A task without success (CartPole) keeps the table it had: no success column.
    plain = [{"task": "Cartpole", "engine": "gymnasium", "skipped": None, "mean_return": 500.0,
              "std_return": 0.0, "episodes": 2}]
    assert "success" not in format_table(plain)


def test_franka_reach_success_rate_is_the_last_steps_verdict() -> None:
    """A zero action leaves the grip site where it starts, far from every target: 0%."""
    pytest.importorskip("mujoco")
    result = evaluate_policy(lambda obs: np.zeros((len(obs), 7), np.float32), "FrankaReach",
                             "mujoco", episodes=2, seed=0)
    assert result["success_rate"] == 0.0 and result["lengths"] == [150, 150]
