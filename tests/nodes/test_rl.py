"""DNNE's PPO Config values as this PPO's hyperparameters (rl_games' names and meanings), and
DNNE's Simulation Tracker (``simulation_tracker_queue.tpl``)."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
import torch

from dnne_robot.catalog import get_spec
from dnne_robot.nodes.rl import SimulationTrackerNode, dnne_ppo_config
from dnne_robot.runtime import QueueNode, RunContext

from .helpers import configured, feed, graph, run, script
from .test_robotics import sim_node


def dnne_defaults(**changes: object) -> dict:
    """PPO Config as DNNE's node writes it with its defaults (every widget)."""
    values = {field.name: field.default for field in get_spec("PPOConfig").inputs
              if field.default is not None}
    return {**values, **changes}


def test_dnne_defaults_map_field_by_field() -> None:
    ppo = dnne_defaults()
    config = dnne_ppo_config(ppo, batch_size=16 * 64)
    assert (config.num_steps, config.num_epochs) == (16, 4)
    assert config.minibatch_size == 16 * 64  # 8192 capped at the rollout, as rl_games needs
    assert (config.gamma, config.gae_lambda, config.clip_coef) == (0.99, 0.95, 0.2)
    assert (config.vf_coef, config.ent_coef, config.learning_rate) == (0.5, 0.01, 3e-4)
    assert config.clip_vloss and config.norm_adv and config.normalize_value
    assert config.max_grad_norm == 0.5
    assert not config.anneal_lr and config.adaptive_kl is None  # "constant"


@pytest.mark.parametrize(("schedule", "anneal", "adaptive"),
                         [("constant", False, None), ("linear", True, None),
                          ("adaptive", False, 0.016)])
def test_lr_schedule(schedule: str, anneal: bool, adaptive: float | None) -> None:
    config = dnne_ppo_config(
        dnne_defaults(lr_schedule=schedule, lr_schedule_kl_threshold=0.016), batch_size=1024)
    assert (config.anneal_lr, config.adaptive_kl) == (anneal, adaptive)


def test_truncate_grads_off_leaves_gradients_unclipped() -> None:
    config = dnne_ppo_config(dnne_defaults(truncate_grads=False), batch_size=1024)
    assert math.isinf(config.max_grad_norm)


# ----------------------------------------------------------------------------- Simulation Tracker
INPUTS = ("step_done", "episode_done", "loss", "custom_metrics")
STEP, DONE = {"step_done": {"signal_type": "step_complete"}}, {"episode_done": True}


def loss(value: float) -> dict[str, Any]:
    return {"loss": torch.tensor(value)}


def tracker_node(**constants: Any) -> type:
    defaults = {"MAX_EPISODES": 1000, "SUCCESS_THRESHOLD": 0.95, "TELEMETRY_INTERVAL": "30s",
                "TELEMETRY_LEVEL": "off"}
    return configured(SimulationTrackerNode, **{**defaults, **constants})


def track(steps: list[dict[str, Any]], **constants: Any) -> tuple[QueueNode, RunContext]:
    """Send ``steps`` (each on one of the tracker's inputs) in this order."""
    ctx, g = graph()
    source = g.add(script(steps, INPUTS)("1", "events", ctx))
    tracker = g.add(tracker_node(**constants)("2", "tracker", ctx))
    for name in INPUTS:
        g.connect(source, name, tracker, name)
    assert run(g) == "done"
    return tracker, ctx


def episode(length: int, *losses: float, success: bool | None = None) -> list[dict[str, Any]]:
    metrics = [] if success is None else [{"custom_metrics": {"success": success}}]
    return [STEP] * length + [loss(v) for v in losses] + metrics + [DONE]


def test_tracker_counts_steps_episodes_and_each_episode_s_mean_loss() -> None:
    tracker, ctx = track(episode(3, 3.0, 1.5) + episode(2, 0.5) + [STEP])
    assert (tracker.steps, tracker.episodes) == (6, 2)
    assert tracker.best_loss == 0.25 and tracker.best_episode == 2  # 0.5 over 2 steps
    assert ctx.summary["tracked_episodes"] == 2 and ctx.summary["episode_loss"] == 0.25
    assert ctx.completed is None  # the inputs ended: a plain end


def test_tracker_ends_the_run_after_max_episodes() -> None:
    steps = [s for i in range(6) for s in episode(2, 1.0 / (i + 1))]  # every episode better
    tracker, ctx = track(steps, MAX_EPISODES=3)
    assert tracker.episodes == 3 and tracker.steps == 6
    assert ctx.completed.endswith("3 episodes (max_episodes)")


def test_tracker_ends_the_run_when_the_loss_stops_improving() -> None:
    # min(500, max_episodes // 10) = 2 episodes of patience: episode 1 is the best, 4 ends it.
    steps = [s for _ in range(8) for s in episode(1, 1.0)]
    tracker, ctx = track(steps, MAX_EPISODES=20)
    assert tracker.episodes == 4
    assert ctx.completed.endswith("no better episode loss for 2 episodes")


def test_tracker_ends_the_run_at_the_success_rate_over_the_last_100_episodes() -> None:
    # 6 failures, then successes: the last 100 reach 95% at episode 101, not 100 (94%).
    outcomes = [False] * 6 + [True] * 100
    steps = [s for i, ok in enumerate(outcomes) for s in episode(1, 1.0 / (i + 1), success=ok)]
    tracker, ctx = track(steps)
    assert tracker.episodes == 101
    assert ctx.completed.endswith("success rate 95% over 100 episodes")


def test_tracker_telemetry_logs_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    steps = [s for _ in range(3) for s in episode(2, 1.0)]
    for interval, reports in (("2_steps", 3), ("2_episodes", 1), ("1h", 0)):
        caplog.clear()
        track(steps, TELEMETRY_LEVEL="essential", TELEMETRY_INTERVAL=interval)
        assert len([r for r in caplog.records if "episodes" in r.getMessage()]) == reports
    caplog.clear()
    track(steps, TELEMETRY_LEVEL="off", TELEMETRY_INTERVAL="1_steps")
    assert not caplog.records


def test_tracker_counts_a_simulator_s_steps_and_episodes_until_max_episodes() -> None:
    """The simulator's observations are the steps and its done the episodes, as in DNNE's
    Franka graphs; pushing right ends an episode about every ten steps."""
    ctx, g = graph()
    actions = g.add(feed([torch.tensor([1.0])] * 60)("1", "actions", ctx))
    sim = g.add(sim_node()("2", "sim", ctx))
    tracker = g.add(tracker_node(MAX_EPISODES=2)("3", "tracker", ctx))
    g.connect(actions, "value", sim, "action")
    g.connect(sim, "observation", tracker, "step_done")
    g.connect(sim, "done", tracker, "episode_done")
    assert run(g) == "done"
    assert tracker.episodes == 2 and ctx.completed.endswith("2 episodes (max_episodes)")
    lengths = [length for _, _, length in sim.sim.episodes]
    assert len(lengths) >= 2 and all(5 < n < 30 for n in lengths)
    # One observation per env step up to the second done: each episode's steps, its
    # starting null step included.
    assert tracker.steps == lengths[0] + lengths[1]
