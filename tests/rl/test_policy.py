from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from dnne_robot.rl import ActionSpec, ActorCritic, DeployPolicy

SPECS = {
    "discrete": ActionSpec.discrete(3),
    "clip": ActionSpec.continuous([-1.0, -2.0], [1.0, 0.5]),
    "squash": ActionSpec.continuous([-1.0, 0.0], [1.0, 4.0], squash=True),
}


def make_policy(name: str, **kwargs: object) -> ActorCritic:
    torch.manual_seed(0)
    policy = ActorCritic(5, SPECS[name], init_log_std=0.5, **kwargs)
    assert policy.obs_rms is not None
    policy.obs_rms.update(torch.randn(100, 5) * 3 + 1)
    return policy


@pytest.mark.parametrize("name", sorted(SPECS))
def test_act_shapes_and_bounds(name: str) -> None:
    policy = make_policy(name)
    obs_raw = torch.randn(7, 5) * 10
    step = policy.act(obs_raw)
    assert step.obs.shape == (7, 5) and step.obs.dtype == torch.float32
    assert step.log_prob.shape == step.value.shape == (7,)
    assert not step.value.requires_grad
    spec = SPECS[name]
    if spec.is_discrete:
        assert step.action.shape == (7,) and step.action.dtype == torch.long
        assert torch.equal(step.env_action, step.action)
    else:
        assert step.action.shape == (7, 2) and step.action.dtype == torch.float32
        low, high = torch.tensor(spec.low), torch.tensor(spec.high)
        assert bool(((step.env_action >= low) & (step.env_action <= high)).all())
    torch.testing.assert_close(step.obs, policy.normalize(obs_raw))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_log_prob_and_entropy_match_torch_distributions(name: str) -> None:
    policy = make_policy(name)
    step = policy.act(torch.randn(9, 5))
    log_prob, entropy, value = policy.evaluate_actions(step.obs, step.action)
    torch.testing.assert_close(log_prob.detach(), step.log_prob)
    torch.testing.assert_close(value.detach(), step.value)
    with torch.no_grad():
        out = policy.actor_head(policy.actor_body(step.obs))
        if SPECS[name].is_discrete:
            dist = Categorical(logits=out)
            ref_lp, ref_ent = dist.log_prob(step.action), dist.entropy()
        else:
            dist = Normal(out, policy.log_std.exp().expand_as(out))
            ref_lp, ref_ent = dist.log_prob(step.action).sum(-1), dist.entropy().sum(-1)
    torch.testing.assert_close(log_prob.detach(), ref_lp)
    torch.testing.assert_close(entropy.detach(), ref_ent)


def test_update_normalizer_flag() -> None:
    policy = make_policy("discrete")
    count = float(policy.obs_rms.count)
    policy.act(torch.randn(4, 5))
    assert float(policy.obs_rms.count) == count
    policy.act(torch.randn(4, 5), update_normalizer=True)
    assert float(policy.obs_rms.count) == pytest.approx(count + 4)


def test_generator_makes_sampling_reproducible() -> None:
    policy = make_policy("clip")
    obs = torch.randn(6, 5)
    a = policy.act(obs, generator=torch.Generator().manual_seed(3)).action
    b = policy.act(obs, generator=torch.Generator().manual_seed(3)).action
    assert torch.equal(a, b)


def test_squash_scales_into_bounds() -> None:
    policy = make_policy("squash")
    u = torch.tensor([[-1e3, 0.0], [1e3, 0.0]])
    env = policy.env_action(u)
    torch.testing.assert_close(env, torch.tensor([[-1.0, 2.0], [1.0, 2.0]]))


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("shared", [False, True])
def test_deterministic_action_matches_deploy_policy(name: str, shared: bool) -> None:
    policy = make_policy(name, shared=shared)
    obs = torch.randn(32, 5) * 5
    expected = policy.deterministic_action(obs)
    assert torch.equal(DeployPolicy(policy)(obs), expected)
    step = policy.act(obs, deterministic=True)
    assert torch.equal(step.env_action, expected)


def test_orthogonal_init_gains() -> None:
    policy = ActorCritic(8, ActionSpec.discrete(4), hidden_sizes=(64, 64))
    w0 = policy.actor_body[0].weight  # (64, 8): orthonormal columns, scaled by sqrt(2)
    torch.testing.assert_close(w0.T @ w0, 2.0 * torch.eye(8), atol=1e-4, rtol=0)
    w1 = policy.critic_body[2].weight  # (64, 64): orthogonal
    torch.testing.assert_close(w1 @ w1.T, 2.0 * torch.eye(64), atol=1e-4, rtol=0)
    assert policy.actor_head.weight.norm(dim=1).max() <= 0.01 + 1e-6
    assert policy.critic_head.weight.norm().item() == pytest.approx(1.0, abs=1e-5)
    biases = [b.detach() for n, b in policy.named_parameters() if "bias" in n]
    assert all(float(b.abs().max()) == 0 for b in biases)


def test_shared_trunk_has_one_body() -> None:
    separate = ActorCritic(4, ActionSpec.discrete(2))
    shared = ActorCritic(4, ActionSpec.discrete(2), shared=True)
    assert shared.critic_body is None
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(shared) < n(separate)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_config_roundtrip_and_save_load(name: str, tmp_path) -> None:
    policy = make_policy(name, hidden_sizes=(16,), activation="elu")
    clone = ActorCritic.from_config(policy.config())
    clone.load_state_dict(policy.state_dict())
    obs = torch.randn(5, 5)
    assert torch.equal(clone.deterministic_action(obs), policy.deterministic_action(obs))
    policy.save(str(tmp_path / "policy.pt"))
    loaded = ActorCritic.load(str(tmp_path / "policy.pt"))
    assert loaded.config() == policy.config()
    assert torch.equal(loaded.deterministic_action(obs), policy.deterministic_action(obs))


def test_no_normalizer_passes_raw_obs() -> None:
    policy = ActorCritic(3, ActionSpec.discrete(2), normalize_obs=False, hidden_sizes=())
    obs = torch.tensor([[100.0, -50.0, 0.5]])
    assert torch.equal(policy.normalize(obs), obs)
    assert policy.act(obs).value.shape == (1,)


def test_bad_activation() -> None:
    with pytest.raises(ValueError, match="activation"):
        ActorCritic(3, ActionSpec.discrete(2), activation="gelu")


def test_initial_log_std() -> None:
    policy = ActorCritic(3, ActionSpec.continuous(-1, 1, dim=2), init_log_std=-0.5)
    step = policy.act(torch.zeros(1, 3))
    _, entropy, _ = policy.evaluate_actions(step.obs, step.action)
    assert entropy.item() == pytest.approx(2 * (0.5 + 0.5 * math.log(2 * math.pi) - 0.5))


def test_categorical_sampling_follows_the_probabilities() -> None:
    from dnne_robot.rl.fast import sample_categorical

    probs = torch.tensor([[0.1, 0.6, 0.3], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    draws = sample_categorical(probs.repeat(20_000, 1), torch.Generator().manual_seed(0))
    draws = draws.reshape(20_000, 3)
    for row in range(3):
        freq = torch.stack([(draws[:, row] == k).float().mean() for k in range(3)])
        torch.testing.assert_close(freq, probs[row], atol=0.015, rtol=0)
        assert not (draws[:, row][probs[row][draws[:, row]] == 0]).numel()  # never p = 0


def test_sampling_never_draws_a_category_of_zero_probability() -> None:
    """Where the float32 CDF ends below the uniform draw, the last positive category wins."""
    from dnne_robot.rl.fast import sample_categorical

    probs = torch.tensor([[0.25, 0.25, 0.0]]).repeat(4_000, 1)  # sums to 0.5 < most draws
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == {0, 1}
    assert float((draws == 1).float().mean()) > 0.7  # every draw above 0.25


def test_act_takes_one_unbatched_observation() -> None:
    for spec in (ActionSpec.discrete(3), ActionSpec.continuous(-1.0, 1.0, dim=2)):
        policy = ActorCritic(4, spec)
        step = policy.act(torch.zeros(4))
        assert step.value.shape == () and step.log_prob.shape == ()
        assert step.action.shape == (() if spec.is_discrete else (2,))
