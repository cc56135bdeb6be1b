from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dnne_robot.rl import ActionSpec, ActorCritic, PPOTrainer

from .cartpole_loop import CARTPOLE_CONFIG, make_envs, train_cartpole

CONFIG = dataclasses.replace(CARTPOLE_CONFIG, num_epochs=4)


def run_trainer(
    seed: int, total_timesteps: int, num_envs: int = 8, score: bool = True
) -> tuple[PPOTrainer, list]:
    """The dataflow shape: act, step the env, hand everything to the trainer."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    envs = make_envs(num_envs)
    policy = ActorCritic(
        envs.single_observation_space.shape[0],
        ActionSpec.from_gymnasium(envs.single_action_space),
    )
    trainer = PPOTrainer(policy, CONFIG, num_envs, total_timesteps, seed=seed)
    all_stats = []
    obs_np, _ = envs.reset(seed=seed)
    obs = torch.as_tensor(obs_np, dtype=torch.float32)
    while not trainer.finished:
        step = policy.act(obs, update_normalizer=True, score=score)
        obs_np, reward, terminated, truncated, info = envs.step(step.env_action.numpy())
        final_obs = None
        if "final_obs" in info:
            pairs = zip(info["final_obs"], info["_final_obs"], obs_np, strict=True)
            rows = [final if has_final else o for final, has_final, o in pairs]
            final_obs = torch.as_tensor(np.stack(rows), dtype=torch.float32)
        obs = torch.as_tensor(obs_np, dtype=torch.float32)
        stats = trainer.record(step, torch.as_tensor(reward), terminated, truncated, obs, final_obs)
        if stats is not None:
            all_stats.append(stats)
    envs.close()
    return trainer, all_stats


def test_trainer_matches_the_plain_loop_bit_for_bit() -> None:
    trainer, stats = run_trainer(seed=5, total_timesteps=4096)
    plain = train_cartpole(seed=5, total_timesteps=4096, config=CONFIG)
    assert trainer.global_step == plain.global_step == 4096
    for key, value in plain.policy.state_dict().items():
        assert torch.equal(trainer.policy.state_dict()[key], value), key
    assert len(stats) == len(plain.update_stats) == 16
    for ours, theirs in zip(stats, plain.update_stats, strict=True):
        assert {k: ours[k] for k in theirs} == theirs
    assert {"global_step", "episode_return_mean", "episode_length_mean"} <= set(stats[-1])
    assert stats[-1]["learning_rate"] == pytest.approx(1e-3 * (1 - 3840 / 4096))


def test_scoring_at_the_end_of_the_rollout_gives_the_same_run() -> None:
    """act(score=False): the trainer computes log-probabilities and values per rollout."""
    per_step, per_step_stats = run_trainer(seed=5, total_timesteps=2048)
    deferred, deferred_stats = run_trainer(seed=5, total_timesteps=2048, score=False)
    # The same actions were drawn, so the same episodes ended; the batched scores differ
    # from the per-step ones at most by rounding, and so do the weights.
    returns = [s["episode_return_mean"] for s in per_step_stats]
    assert [s["episode_return_mean"] for s in deferred_stats] == returns
    for key, value in per_step.policy.state_dict().items():
        torch.testing.assert_close(deferred.policy.state_dict()[key], value, rtol=1e-3, atol=1e-4)
    for ours, theirs in zip(deferred_stats, per_step_stats, strict=True):
        assert ours["approx_kl"] == pytest.approx(theirs["approx_kl"], rel=0.05, abs=1e-6)


def test_rollout_scored_later_must_be_scored_throughout() -> None:
    policy = ActorCritic(3, ActionSpec.discrete(2))
    trainer = PPOTrainer(policy, dataclasses.replace(CONFIG, num_steps=2), 2, 1000)
    buffer, no = trainer.buffer, torch.zeros(2, dtype=torch.bool)
    late = policy.act(torch.zeros(2, 3), score=False)
    assert late.log_prob is None and late.value is None
    buffer.add(late.obs, late.action, None, None, torch.ones(2), no, no)
    now = policy.act(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="every step or on none"):
        buffer.add(now.obs, now.action, now.log_prob, now.value, torch.ones(2), no, no)
    buffer.add(late.obs, late.action, None, None, torch.ones(2), no, no)
    with pytest.raises(RuntimeError, match="fill_scores"):
        buffer.compute_returns_and_advantage(torch.zeros(2))
    buffer.fill_scores(*policy.score(*buffer.flatten_inputs()))
    buffer.compute_returns_and_advantage(torch.zeros(2))
    log_prob, value = policy.score(now.obs, now.action)
    torch.testing.assert_close(buffer.logprobs[0], log_prob)
    torch.testing.assert_close(buffer.values[0], value)


def test_truncation_without_final_obs_is_refused() -> None:
    policy = ActorCritic(3, ActionSpec.discrete(2))
    trainer = PPOTrainer(policy, CONFIG, num_envs=2, total_timesteps=1000)
    step = policy.act(torch.zeros(2, 3))
    no = torch.zeros(2, dtype=torch.bool)
    with pytest.raises(ValueError, match="final_obs"):
        trainer.record(step, torch.ones(2), no, torch.tensor([True, False]), torch.zeros(2, 3))


def test_state_dict_roundtrip() -> None:
    trainer, _ = run_trainer(seed=3, total_timesteps=512)
    state = trainer.state_dict()
    policy = ActorCritic.from_config(state["policy_config"])
    clone = PPOTrainer(policy, CONFIG, num_envs=8, total_timesteps=state["total_timesteps"])
    clone.load_state_dict(state)
    assert clone.global_step == 512 and clone.finished
    assert clone.ppo.num_updates == trainer.ppo.num_updates == 2
