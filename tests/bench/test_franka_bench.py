"""The Franka additions to bench/: the hand-written OSC loops of envs_bench and the
success-rate targets of ppo_results (their seeds merged across runs)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine", ["mujoco", "pybullet"])
def test_franka_direct_loop_and_adapter_are_timed(engine: str, load_bench) -> None:
    pytest.importorskip(engine)
    envs_bench = load_bench("envs_bench")
    report = envs_bench.run(quick=True, only=("FrankaReach",), clock="cpu", rounds=1)
    (row,) = [r for r in report["results"] if r["engine"] == engine]
    assert row["task"] == "FrankaReach" and row["skipped"] is None and row["steps"] == 200
    for key in ("direct_steps_per_s", "adapter_steps_per_s", "adapter_overhead"):
        assert math.isfinite(row[key]) and row[key] > 0, row
    assert "FrankaReach" in envs_bench.format_results(report)
    assert all(r["task"] != "FrankaDNNE" for r in report["results"])


@pytest.mark.parametrize("engine", ["mujoco", "pybullet"])
def test_franka_direct_loop_simulates_the_adapters_trajectory(engine: str, load_bench) -> None:
    """The hand-written loop and the adapter step the same scene from the same start with the
    same actions: their joint positions agree bit for bit, so their ratio is the adapter's cost
    and not a different trajectory's (contacts with the table, joint limits)."""
    pytest.importorskip(engine)
    import gymnasium as gym

    from dnne_robot.envs import env_id, make_env

    envs_bench = load_bench("envs_bench")
    space = make_env("FrankaReach", engine).single_action_space
    space.seed(0)
    actions = [space.sample() for _ in range(150)]
    loop = envs_bench._direct("FrankaReach", engine, actions)
    env = gym.make(env_id("FrankaReach", engine)).unwrapped
    env.reset(seed=0)
    loop(len(actions))
    for action in actions:
        env.step(action)
    seen = inspect.getclosurevars(loop).nonlocals
    if engine == "mujoco":
        direct = seen["data"].qpos.tolist()
    else:
        direct = [s[0] for s in seen["states"]]
    assert direct == list(env.physics.qpos)
    assert tuple(seen["osc"].target) == env.task.target
    env.close()


def _run(seed: int, success: float, code: str = "abc") -> dict:
    return {"seed": seed, "steps": 400_000, "wall_s": 100.0, "train_s": 90.0, "sps": 4000.0,
            "eval_return": 100.0 + seed, "eval_std": 1.0, "eval_returns": [100.0],
            "eval_success_rate": success, "steps_to_threshold": 358_400 if success >= 0.95
            else None, "passed": success >= 0.95, "sim2sim": [
                {"engine": "mujoco", "skipped": None, "mean_return": 100.0,
                 "success_rate": success, "episodes": 50}], "code": code}


def test_seeds_of_two_runs_merge_into_one_target(load_bench) -> None:
    ppo = load_bench("ppo_results")
    target = ppo.BY_NAME["franka_reach_mujoco"]
    assert target.metric == "success_rate" and target.threshold == 0.95
    first = ppo.summarise(target, 400_000, [_run(0, 0.98), _run(1, 0.96)], "abc")
    second = ppo.summarise(target, 400_000, [_run(2, 0.90, "def")], "def")
    merged = ppo.merge_seeds("franka_reach_mujoco", first, second)
    assert [r["seed"] for r in merged["runs"]] == [0, 1, 2]
    assert merged["passed"] == 2 and merged["steps_to_threshold_max"] is None
    assert merged["code"] == "abc, def"
    # Another budget replaces the old runs instead of mixing them.
    other = ppo.summarise(target, 600_000, [_run(2, 0.90)], "def")
    assert [r["seed"] for r in ppo.merge_seeds("franka_reach_mujoco", first, other)["runs"]] == [2]

    table = ppo.markdown({"machine": {}, "targets": {"franka_reach_mujoco": merged}})
    assert "98% success (100.0), 96% success (101.0), 90% success (102.0)" in table
    assert "| mujoco | 0 | mujoco | 98% | 100.0 |" in table
