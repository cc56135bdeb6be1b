"""Reward normalisation (``normalize_rewards``) against gymnasium's NormalizeReward wrapper.

CleanRL wraps each environment in ``NormalizeReward(gamma)`` and then clips the reward to
[-10, 10]. :class:`RewardNormalizer` must give the same numbers bit for bit: the same
float64 arithmetic in the same order, compared with ``==`` (no tolerance).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from dnne_robot.rl import ActionSpec, ActorCritic, PPOConfig, PPOTrainer
from dnne_robot.rl.reward_scaling import RewardNormalizer


class Scripted(gym.Env):
    """Replays a fixed (reward, terminated, truncated) sequence."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(1)

    def __init__(self, steps: list[tuple[float, bool, bool]]) -> None:
        self.steps = steps
        self.t = 0

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def step(self, action):
        reward, terminated, truncated = self.steps[self.t]
        self.t += 1
        return np.zeros(1, np.float32), reward, terminated, truncated, {}


def sequence(n: int, seed: int) -> list[tuple[float, bool, bool]]:
    """Rewards whose scale jumps 100-fold each quarter (so some are clipped), terminations
    and truncations."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** (2 * (4 * np.arange(n) // n) - 2)  # 0.01, 1, 100, 10000
    rewards = rng.normal(0.5, 1.0, size=n) * scale
    terminated = rng.random(n) < 0.03
    truncated = ~terminated & (rng.random(n) < 0.02)
    return [(float(r), bool(d), bool(t)) for r, d, t in zip(rewards, terminated, truncated,
                                                            strict=True)]


def cleanrl_wrapped(steps: list[tuple[float, bool, bool]], gamma: float) -> gym.Env:
    """CleanRL's reward wrappers of make_env: NormalizeReward, then TransformReward's clip."""
    env = gym.wrappers.NormalizeReward(Scripted(steps), gamma=gamma)
    env = gym.wrappers.TransformReward(env, lambda r: np.clip(r, -10, 10))
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("gamma", [0.99, 0.9])
def test_one_env_matches_gymnasium_bit_for_bit(gamma: float) -> None:
    steps = sequence(3000, seed=1)
    env = cleanrl_wrapped(steps, gamma)
    inner = env.env  # the NormalizeReward wrapper
    ours = RewardNormalizer(1, gamma)
    clipped = 0
    for reward, terminated, _truncated in steps:
        _, expected, *_ = env.step(0)
        got = ours(torch.tensor([reward], dtype=torch.float64), torch.tensor([terminated]))
        # CleanRL stores the float64 reward in a float32 rollout tensor.
        assert got.dtype == torch.float32
        assert got.item() == np.float32(expected)
        assert ours.returns.item() == inner.discounted_reward[0]
        assert ours.mean.item() == inner.return_rms.mean
        assert ours.var.item() == inner.return_rms.var
        assert ours.count.item() == inner.return_rms.count
        clipped += abs(expected) == 10.0
    assert clipped >= 3  # the clip was exercised


def test_each_env_has_its_own_statistics_as_cleanrl_wrapped_them() -> None:
    """CleanRL's wrappers sit inside each env of its SyncVectorEnv: N independent wrappers."""
    n, length = 4, 800
    sequences = [sequence(length, seed=10 + i) for i in range(n)]
    envs = [cleanrl_wrapped(s, 0.99) for s in sequences]
    ours = RewardNormalizer(n, 0.99)
    for t in range(length):
        expected = np.array([env.step(0)[1] for env in envs])
        reward = torch.tensor([s[t][0] for s in sequences], dtype=torch.float64)
        terminated = torch.tensor([s[t][1] for s in sequences])
        got = ours(reward, terminated)
        assert torch.equal(got, torch.from_numpy(expected.astype(np.float32)))


def test_float32_rewards_match_gymnasium_given_the_same_float32_values() -> None:
    """The simulator node hands rewards over as float32; the statistics stay float64."""
    steps = [(float(np.float32(r)), d, t) for r, d, t in sequence(500, seed=3)]
    env = cleanrl_wrapped(steps, 0.99)
    ours = RewardNormalizer(1)
    for reward, terminated, _ in steps:
        expected = env.step(0)[1]
        got = ours(torch.tensor([reward], dtype=torch.float32), torch.tensor([terminated]))
        assert got.item() == np.float32(expected)


def test_a_non_finite_reward_passes_through_and_leaves_the_statistics_alone() -> None:
    ours = RewardNormalizer(2)
    ours(torch.tensor([1.0, 2.0]), torch.tensor([False, False]))
    before = ours.state_dict()
    out = ours(torch.tensor([float("nan"), 3.0]), torch.tensor([False, False]))
    assert torch.isnan(out[0]) and torch.isfinite(out[1])
    after = ours.state_dict()
    for key in ("returns", "mean", "var", "count"):
        assert after[key][0] == before[key][0]
        assert after[key][1] != before[key][1]


def test_state_round_trip_continues_identically() -> None:
    steps = sequence(400, seed=5)
    a = RewardNormalizer(1)
    outputs = [a(torch.tensor([r]), torch.tensor([d])) for r, d, _ in steps[:200]]
    b = RewardNormalizer(1)
    b.load_state_dict(a.state_dict())
    for r, d, _ in steps[200:]:
        assert torch.equal(a(torch.tensor([r]), torch.tensor([d])),
                           b(torch.tensor([r]), torch.tensor([d])))
    assert outputs  # the first half ran
    with pytest.raises(ValueError, match="num_envs it was saved with"):
        RewardNormalizer(3).load_state_dict(a.state_dict())


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_envs=0), "num_envs must be >= 1"),
    (dict(num_envs=1, gamma=1.5), "gamma must be in"),
    (dict(num_envs=1, epsilon=0.0), "epsilon must be > 0"),
    (dict(num_envs=2), "expects 2 rewards"),
])
def test_bad_arguments_say_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RewardNormalizer(**kwargs)(torch.zeros(3), torch.zeros(3, dtype=torch.bool))


def make_trainer(normalize: bool, num_envs: int = 2, num_steps: int = 8) -> PPOTrainer:
    torch.manual_seed(0)
    policy = ActorCritic(3, ActionSpec.continuous([-1.0], [1.0]), hidden_sizes=(8,))
    config = PPOConfig(num_steps=num_steps, num_epochs=1, minibatch_size=8,
                       normalize_rewards=normalize)
    return PPOTrainer(policy, config, num_envs, total_timesteps=10_000)


def drive(trainer: PPOTrainer, steps: int, seed: int = 0) -> list[tuple[float, int]]:
    """Feed ``steps`` steps of random observations and large rewards; return the episodes."""
    gen = torch.Generator().manual_seed(seed)
    n = trainer.num_envs
    for t in range(steps):
        obs = torch.randn(n, 3, generator=gen)
        step = trainer.policy.act(obs, update_normalizer=True, score=False)
        reward = 100.0 + 10.0 * torch.randn(n, generator=gen)
        terminated = torch.tensor([t % 5 == 4] + [False] * (n - 1))
        trainer.record(step, reward, terminated, torch.zeros(n, dtype=torch.bool),
                       torch.randn(n, 3, generator=gen))
    return trainer.pop_episodes()


def test_trainer_stores_scaled_rewards_and_reports_raw_returns() -> None:
    scaled, raw = make_trainer(True), make_trainer(False)
    trainer_steps = 7  # less than a rollout: the buffer still holds what was stored
    drive(scaled, trainer_steps)
    drive(raw, trainer_steps)
    assert raw.buffer.rewards[:trainer_steps].min() > 50  # the raw rewards, ~100
    assert scaled.buffer.rewards[:trainer_steps].abs().max() <= 10.0  # scaled and clipped
    # The scaled rewards are what the normaliser made of the same raw rewards.
    replay = RewardNormalizer(2)
    for t in range(trainer_steps):
        again = replay(raw.buffer.rewards[t], torch.tensor([t % 5 == 4, False]))
        assert torch.equal(again, scaled.buffer.rewards[t])
    # Episode returns are the raw rewards' sums, with or without the option.
    scaled_eps, raw_eps = drive(scaled, 20, seed=1), drive(raw, 20, seed=1)
    assert [length for _, length in scaled_eps] == [length for _, length in raw_eps]
    assert all(ret > 400 for ret, _ in scaled_eps)  # five steps of ~100


def test_trainer_checkpoint_keeps_the_normaliser_and_resumes_identically() -> None:
    a = make_trainer(True)
    drive(a, 16)  # two full rollouts: two updates
    # A copy, as a checkpoint file is: Adam's loaded state would share a's tensors.
    state = copy.deepcopy(a.state_dict())
    assert set(state["reward_normalizer"]) >= {"returns", "mean", "var", "count"}
    b = make_trainer(True)
    b.load_state_dict(state)
    for trainer in (a, b):
        torch.manual_seed(7)  # the policy samples from the global RNG
        drive(trainer, 16, seed=7)
    for key, value in a.policy.state_dict().items():
        assert torch.equal(value, b.policy.state_dict()[key]), key
    for key in ("returns", "mean", "var", "count"):
        assert torch.equal(a.reward_normalizer.state_dict()[key],
                           b.reward_normalizer.state_dict()[key])
    assert "reward_normalizer" not in make_trainer(False).state_dict()
    with pytest.raises(ValueError, match="no reward normaliser state"):
        make_trainer(True).load_state_dict(make_trainer(False).state_dict())
