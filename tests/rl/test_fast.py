"""The speed path (rl/fast): the hand-derived PPO gradient against autograd, the direct fused
Adam step against Adam.step, the module-free act path against the modules; the switch, the
first-use checks and the torch version range."""

from __future__ import annotations

import itertools

import pytest
import torch

from dnne_robot.rl import PPO, ActionSpec, ActorCritic, PPOConfig
from dnne_robot.rl.fast import adam
from dnne_robot.rl.ppo import LOSS_KEYS

CASES = [
    dict(discrete=d, activation=a, shared=s)
    for d, a, s in itertools.product((True, False), ("tanh", "relu", "elu"), (False, True))
]


def rollout(policy: ActorCritic, ppo: PPO, seed: int = 0):
    """A buffer of random transitions with computed advantages."""
    gen = torch.Generator().manual_seed(seed)
    buffer = ppo.make_buffer(num_envs=4)
    for _ in range(ppo.config.num_steps):
        obs = torch.randn(4, policy.obs_dim, generator=gen)
        step = policy.act(obs, update_normalizer=True, generator=gen)
        reward = obs[:, 0] + 0.1 * torch.randn(4, generator=gen)
        done = torch.rand(4, generator=gen) < 0.05
        buffer.add(step.obs, step.action, step.log_prob, step.value, reward, done, done & False)
    buffer.compute_returns_and_advantage(policy.predict_value(torch.randn(4, policy.obs_dim)))
    return buffer


def make(discrete: bool, activation: str, shared: bool, hidden=(16, 8), **cfg):
    torch.manual_seed(0)
    spec = ActionSpec.discrete(3) if discrete else ActionSpec.continuous(-1.0, 1.0, dim=2)
    policy = ActorCritic(5, spec, hidden_sizes=hidden, activation=activation, shared=shared)
    config = PPOConfig(num_steps=16, num_epochs=3, minibatch_size=32, learning_rate=3e-2, **cfg)
    return policy, config


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize(
    "loss",
    [dict(clip_vloss=True, ent_coef=0.01), dict(clip_vloss=False, ent_coef=0.0, norm_adv=False)],
    ids=["clipped-value-entropy", "plain"],
)
def test_gradient_matches_autograd(case: dict, loss: dict) -> None:
    policy, config = make(**case, **loss)
    hand = PPO(policy, config)
    reference = PPO(policy, config, fast_path=False)
    buffer = rollout(policy, hand)
    hand.update(buffer)  # move away from the rollout's policy, so that clipping happens

    clipped = 0.0
    for mb in buffer.get(32, torch.Generator().manual_seed(1)):
        stats = hand._gradient(mb)
        grad = hand.flat_grad.clone()
        expected_stats = reference._gradient(mb)
        torch.testing.assert_close(stats, expected_stats, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, reference.flat_grad, rtol=1e-4, atol=1e-6)
        assert grad.abs().sum() > 0
        clipped += float(stats[LOSS_KEYS.index("clipfrac")])
    assert clipped > 0, "the comparison should cover clipped ratios too"


def test_no_hidden_layers() -> None:
    policy, config = make(True, "tanh", False, hidden=())
    hand = PPO(policy, config)
    reference = PPO(policy, config, fast_path=False)
    mb = next(rollout(policy, hand).get(32))
    torch.testing.assert_close(hand._gradient(mb), reference._gradient(mb))
    torch.testing.assert_close(hand.flat_grad, reference.flat_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("discrete", [True, False])
def test_both_paths_train_to_nearly_the_same_weights(discrete: bool) -> None:
    weights = []
    for fast in (True, False):
        policy, config = make(discrete, "tanh", False, clip_vloss=True)
        ppo = PPO(policy, config, fast_path=fast)
        for seed in range(3):
            ppo.update(rollout(policy, ppo, seed))
        weights.append(torch.cat([p.detach().reshape(-1) for p in policy.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-3, atol=1e-5)


def test_direct_fused_adam_step_equals_optimizer_step() -> None:
    results = []
    for direct in (True, False):
        policy, config = make(False, "tanh", False)
        ppo = PPO(policy, config)
        if not direct:
            ppo.direct_adam = None  # every step through Adam.step
        for seed in range(3):
            ppo.update(rollout(policy, ppo, seed))
        results.append((policy.state_dict(), ppo.optimizer.state_dict()["state"]))
    (weights_a, state_a), (weights_b, state_b) = results
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    for index in state_a:
        for key in state_a[index]:
            assert torch.equal(state_a[index][key], state_b[index][key]), (index, key)


def test_layouts_the_hand_gradient_does_not_know_take_autograd() -> None:
    class Extra(ActorCritic):  # a parameter the hand gradient would leave unwritten
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.extra = torch.nn.Linear(2, 2)

    frozen = ActorCritic(5, ActionSpec.discrete(2))
    frozen.actor_head.weight.requires_grad_(False)  # a frozen layer also needs autograd
    gelu = ActorCritic(5, ActionSpec.discrete(2))
    gelu.actor_body[1] = torch.nn.GELU()
    for policy in (Extra(5, ActionSpec.discrete(2), hidden_sizes=(8,)), frozen, gelu):
        ppo = PPO(policy, PPOConfig())
        assert ppo.hand_gradient is None
        assert ppo.direct_adam is not None  # the optimiser step does not depend on the layout
    assert PPO(ActorCritic(5, ActionSpec.discrete(2)), PPOConfig()).hand_gradient is not None


def test_a_refused_kernel_call_falls_back_to_adam_step(monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for refuse in (True, False):
        policy, config = make(True, "tanh", False)
        ppo = PPO(policy, config)
        if refuse:

            def kernel(*args, **kwargs):
                raise TypeError("_fused_adam_() got an unexpected keyword argument")

            monkeypatch.setattr(adam, "_FUSED_ADAM", kernel)
        for seed in range(2):
            ppo.update(rollout(policy, ppo, seed))
        monkeypatch.undo()
        results.append(policy.state_dict())
        if refuse:
            assert ppo.direct_adam is not None and not ppo.direct_adam.usable
    for key in results[0]:
        assert torch.equal(results[0][key], results[1][key]), key


def test_a_second_ppo_on_the_same_policy_does_not_steal_the_gradient() -> None:
    results = []
    for second in (False, True):
        policy, config = make(True, "tanh", False)
        ppo = PPO(policy, config)
        if second:
            PPO(policy, config)  # points the parameters' .grad at its own flat gradient
        for seed in range(2):
            ppo.update(rollout(policy, ppo, seed))
        results.append(policy.state_dict())
    for key in results[0]:
        assert torch.equal(results[0][key], results[1][key]), key
