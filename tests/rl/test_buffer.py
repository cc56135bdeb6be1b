from __future__ import annotations

import pytest
import torch

from dnne_robot.rl import RolloutBuffer

GAMMA, LAM = 0.9, 0.8


def fill(buffer: RolloutBuffer, rewards, values, terminated, truncated, final_values) -> None:
    for t in range(buffer.num_steps):
        buffer.add(
            obs=torch.zeros(buffer.num_envs, buffer.obs_dim),
            action=torch.zeros(buffer.num_envs, dtype=torch.long),
            log_prob=torch.zeros(buffer.num_envs),
            value=torch.tensor(values[t]),
            reward=torch.tensor(rewards[t]),
            terminated=torch.tensor(terminated[t]),
            truncated=torch.tensor(truncated[t]),
            final_values=torch.tensor(final_values[t]),
        )


def test_gae_hand_computed_with_truncation_and_termination() -> None:
    """Three envs, three steps, gamma=0.9, lambda=0.8, V = [0.5, 0.6, 0.7], r = 1.

    env 0 runs on:           d2 = 1 + .9*.8 - .7 = 1.02            A2 = 1.02
                             d1 = 1 + .9*.7 - .6 = 1.03            A1 = 1.03 + .72*1.02 = 1.7644
                             d0 = 1 + .9*.6 - .5 = 1.04            A0 = 1.04 + .72*1.7644
    env 1 terminates at t=1 and is truncated at t=2 with V(final_obs) = 2.0:
                             r2 = 1 + .9*2.0 = 2.8, d2 = 2.8 - .7  A2 = 2.1
                             d1 = 1 - .6 (no bootstrap)            A1 = 0.4
                             d0 = 1.04                             A0 = 1.04 + .72*0.4
    env 2 is terminated and truncated at t=2: termination wins, no bootstrap:
                             A2 = 1 - .7 = 0.3, A1 = 1.03 + .72*.3, A0 = 1.04 + .72*A1
    """
    buffer = RolloutBuffer(3, 3, obs_dim=1, action_dtype=torch.long, gamma=GAMMA, gae_lambda=LAM)
    values = [[0.5] * 3, [0.6] * 3, [0.7] * 3]
    terminated = [[False] * 3, [False, True, False], [False, False, True]]
    truncated = [[False] * 3, [False] * 3, [False, True, True]]
    final_values = [[0.0] * 3, [0.0] * 3, [9.0, 2.0, 5.0]]  # 9 and 5 must be ignored
    fill(buffer, [[1.0] * 3] * 3, values, terminated, truncated, final_values)
    buffer.compute_returns_and_advantage(last_value=torch.tensor([0.8, 0.8, 0.8]))

    a1_env2 = 1.03 + 0.72 * 0.3
    expected = torch.tensor(
        [
            [1.04 + 0.72 * 1.7644, 1.04 + 0.72 * 0.4, 1.04 + 0.72 * a1_env2],
            [1.7644, 0.4, a1_env2],
            [1.02, 2.1, 0.3],
        ]
    )
    torch.testing.assert_close(buffer.advantages, expected)
    torch.testing.assert_close(buffer.returns, expected + torch.tensor(values))
    torch.testing.assert_close(buffer.rewards[2], torch.tensor([1.0, 2.8, 1.0]))


def test_lambda_one_gives_discounted_monte_carlo_returns() -> None:
    torch.manual_seed(0)
    T, N, gamma = 6, 2, 0.95
    buffer = RolloutBuffer(T, N, obs_dim=1, action_dtype=torch.long, gamma=gamma, gae_lambda=1.0)
    rewards = torch.rand(T, N)
    values = torch.rand(T, N)
    dones = torch.zeros(T, N, dtype=torch.bool)
    dones[2, 0] = True
    fill(
        buffer,
        rewards.tolist(),
        values.tolist(),
        dones.tolist(),
        [[False] * N] * T,
        [[0.0] * N] * T,
    )
    last_value = torch.tensor([0.3, 0.7])
    buffer.compute_returns_and_advantage(last_value)
    expected = torch.zeros(T, N)
    running = last_value.clone()
    for t in reversed(range(T)):
        running = rewards[t] + gamma * running * (~dones[t]).float()
        expected[t] = running
    torch.testing.assert_close(buffer.returns, expected)


def test_truncation_needs_final_values() -> None:
    buffer = RolloutBuffer(2, 2, obs_dim=1)
    with pytest.raises(ValueError, match="final_values"):
        buffer.add(
            torch.zeros(2, 1),
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2),
            torch.ones(2),
            torch.tensor([False, False]),
            torch.tensor([False, True]),
        )


def test_full_and_last_done_checks() -> None:
    buffer = RolloutBuffer(2, 2, obs_dim=1, action_dtype=torch.long)
    zeros = [[0.0, 0.0]] * 2
    fill(buffer, zeros, zeros, [[False, False], [True, False]], [[False, False]] * 2, zeros)
    assert buffer.full
    with pytest.raises(RuntimeError, match="full"):
        fill(buffer, zeros, zeros, [[False, False]] * 2, [[False, False]] * 2, zeros)
    with pytest.raises(ValueError, match="last_done"):
        buffer.compute_returns_and_advantage(torch.zeros(2), torch.tensor([False, False]))
    buffer.compute_returns_and_advantage(torch.zeros(2), torch.tensor([True, False]))
    buffer.reset()
    assert not buffer.full
    with pytest.raises(RuntimeError, match="incomplete"):
        buffer.compute_returns_and_advantage(torch.zeros(2))


@pytest.mark.parametrize("minibatch_size", [4, 5, 12, 100])
def test_minibatches_cover_every_transition_once(minibatch_size: int) -> None:
    T, N = 4, 3
    buffer = RolloutBuffer(T, N, obs_dim=2, action_shape=(2,), gamma=0.99, gae_lambda=0.95)
    for t in range(T):
        index = torch.arange(N, dtype=torch.float32) + t * N
        buffer.add(
            obs=index[:, None].repeat(1, 2),
            action=index[:, None].repeat(1, 2),
            log_prob=index,
            value=index,
            reward=torch.zeros(N),
            terminated=torch.zeros(N, dtype=torch.bool),
            truncated=torch.zeros(N, dtype=torch.bool),
        )
    buffer.compute_returns_and_advantage(torch.zeros(N))
    batches = list(buffer.get(minibatch_size, torch.Generator().manual_seed(0)))
    sizes = [len(mb.mb_obs) for mb in batches]
    assert sum(sizes) == T * N and all(s == min(minibatch_size, T * N) for s in sizes[:-1])
    seen = torch.cat([mb.mb_obs[:, 0] for mb in batches])
    assert sorted(seen.long().tolist()) == list(range(T * N))
    for mb in batches:  # fields stay aligned row by row
        assert torch.equal(mb.mb_obs[:, 0], mb.mb_logprobs)
        assert torch.equal(mb.mb_actions[:, 1], mb.mb_values)
        torch.testing.assert_close(mb.mb_returns, mb.mb_advantages + mb.mb_values)
    again = list(buffer.get(minibatch_size, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a.mb_obs, b.mb_obs) for a, b in zip(batches, again, strict=True))


def _torch_gae(rewards, values, dones, last_value, gamma, lam):
    """The recursion as torch operations (the buffer's GPU path and its earlier CPU path)."""
    adv = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[1])
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        nnt = 1.0 - dones[t]
        if t + 1 < rewards.shape[0]:
            next_value = values[t + 1]
        delta = rewards[t] + gamma * next_value * nnt - values[t]
        last = delta + gamma * lam * nnt * last
        adv[t] = last
    return adv


@pytest.mark.parametrize("num_envs", [1, 3, 16])
@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.98, 0.8), (0.999, 1.0)])
def test_the_numpy_gae_is_the_torch_loops_bits(num_envs: int, gamma: float, lam: float) -> None:
    from dnne_robot.rl.buffer import gae_recursion

    gen = torch.Generator().manual_seed(num_envs)
    steps = 300
    rewards = torch.randn(steps, num_envs, generator=gen) * 7
    values = torch.randn(steps, num_envs, generator=gen) * 30
    dones = (torch.rand(steps, num_envs, generator=gen) < 0.05).float()
    last_value = torch.randn(num_envs, generator=gen)
    want = _torch_gae(rewards, values, dones, last_value, gamma, lam)
    got = torch.zeros_like(rewards)
    gae_recursion(rewards.numpy(), values.numpy(), dones.numpy(), last_value.numpy(), gamma, lam,
                  got.numpy())  # fmt: skip
    assert torch.equal(got, want)
