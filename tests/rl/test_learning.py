"""End-to-end: a plain CleanRL-style loop (cartpole_loop.py) learns CartPole-v1."""

from __future__ import annotations

import dataclasses

import torch

from .cartpole_loop import CARTPOLE_CONFIG, train_cartpole


def test_cartpole_learns_with_sb3_zoo_settings() -> None:
    # rl-zoo's CartPole settings use raw observations; see test below for the normaliser.
    result = train_cartpole(
        seed=0, total_timesteps=50_000, normalize_obs=False, thresholds=(150.0, 300.0, 475.0)
    )
    sps = result.global_step / result.seconds
    print(
        f"\nCartPole PPO: mean return {result.final_mean_return:.1f} (best "
        f"{result.best_mean_return:.1f}) after {result.global_step} steps in "
        f"{result.seconds:.1f}s ({sps:.0f} steps/s); first above: {result.first_step_above}"
    )
    assert 150.0 in result.first_step_above, result.history
    assert result.seconds < 60.0
    stats = result.update_stats[-1]
    assert stats["skipped_nonfinite"] == 0 and stats["epochs_run"] == CARTPOLE_CONFIG.num_epochs


def test_cartpole_learns_with_observation_normalisation() -> None:
    result = train_cartpole(seed=0, total_timesteps=50_000, normalize_obs=True, stop_at=150.0)
    print(f"\nnormalised obs: mean return > 150 at step {result.first_step_above.get(150.0)}")
    assert 150.0 in result.first_step_above, result.history


def test_same_seed_gives_bit_identical_weights() -> None:
    config = dataclasses.replace(CARTPOLE_CONFIG, num_epochs=4)
    runs = [train_cartpole(seed=11, total_timesteps=4096, config=config) for _ in range(2)]
    a, b = (r.policy.state_dict() for r in runs)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert runs[0].update_stats == runs[1].update_stats

    other = train_cartpole(seed=12, total_timesteps=4096, config=config)
    assert not torch.equal(other.policy.state_dict()["actor_head.weight"], a["actor_head.weight"])
