"""DNNE's PPO Config values as this PPO's hyperparameters (rl_games' names and meanings)."""

from __future__ import annotations

import math

import pytest

from dnne_robot.catalog import get_spec
from dnne_robot.nodes.rl import dnne_ppo_config


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
