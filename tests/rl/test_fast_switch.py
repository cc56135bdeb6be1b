"""The speed path's switch, its torch version range and its first-use checks: a policy
whose forward differs from what a shortcut assumes, or a fused kernel that refuses or
disagrees, is caught once, said once, and trained through the plain path."""

from __future__ import annotations

import logging
import math
import re

import pytest
import torch
from torch import Tensor

from dnne_robot.rl import PPO, ActionSpec, ActorCritic, PPOConfig
from dnne_robot.rl.fast import ENV_VAR, FAST_PATH, TESTED_TORCH, adam

from .test_fast import make, rollout

LOGGER = "dnne_robot.rl.fast"


@pytest.fixture(autouse=True)
def fresh_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAST_PATH as a process starts: the environment decides, nothing said yet."""
    monkeypatch.setattr(FAST_PATH, "_setting", None)
    monkeypatch.setattr(FAST_PATH, "_said", set())
    monkeypatch.delenv(ENV_VAR, raising=False)


def parts(policy: ActorCritic, ppo: PPO) -> dict[str, bool]:
    """Which parts of the speed path are in use after at least one act and one update."""
    return {
        "gradient": ppo.hand_gradient is not None,
        "adam": ppo.direct_adam is not None and ppo.direct_adam.usable,
        "act": policy._fast is not None,
    }


ALL_ON = {"gradient": True, "adam": True, "act": True}
ALL_OFF = {"gradient": False, "adam": False, "act": False}


def train(policy: ActorCritic, config: PPOConfig, updates: int = 3, **kwargs) -> PPO:
    ppo = PPO(policy, config, **kwargs)
    for seed in range(updates):
        ppo.update(rollout(policy, ppo, seed))
    return ppo


def weights(policy: ActorCritic, ppo: PPO) -> list[Tensor]:
    state = ppo.optimizer.state_dict()["state"]
    return [*policy.state_dict().values(), *(t for s in state.values() for t in s.values())]


def assert_same(a: list[Tensor], b: list[Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


# -- the switch ----------------------------------------------------------------------------


def test_on_by_default_and_every_first_use_check_passes() -> None:
    for discrete in (True, False):
        policy, config = make(discrete, "tanh", False)
        ppo = train(policy, config)
        assert parts(policy, ppo) == ALL_ON
        assert ppo.hand_gradient is not None and ppo.hand_gradient.checked
        assert ppo.direct_adam is not None and ppo.direct_adam.checked


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_the_environment_variable_turns_every_part_off(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    policy, config = make(True, "tanh", False)
    ppo = train(policy, config)
    assert parts(policy, ppo) == ALL_OFF
    assert ppo.direct_adam is None


def test_switched_off_it_trains_as_the_fast_path_does_within_rounding() -> None:
    """The plain path (autograd, Adam.step, modules, torch.multinomial) on the same
    rollouts (deterministic actions, so the samplers' streams do not matter)."""

    def deterministic_rollout(policy: ActorCritic, ppo: PPO, seed: int):
        real_act = policy.act
        policy.act = lambda obs, **kw: real_act(obs, **{**kw, "deterministic": True})
        try:
            return rollout(policy, ppo, seed)
        finally:
            del policy.act

    results = []
    for on in (True, False):
        FAST_PATH.set(on)
        policy, config = make(False, "tanh", False, clip_vloss=True, ent_coef=0.01)
        ppo = PPO(policy, config)
        for seed in range(3):
            ppo.update(deterministic_rollout(policy, ppo, seed))
        assert parts(policy, ppo) == (ALL_ON if on else ALL_OFF)
        results.append(torch.cat([p.detach().reshape(-1) for p in policy.parameters()]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-3, atol=1e-5)


def test_switched_off_categories_are_drawn_by_torch_multinomial() -> None:
    probs = torch.tensor([0.2, 0.5, 0.3])
    policy = ActorCritic(2, ActionSpec.discrete(3), normalize_obs=False)
    with torch.no_grad():  # logits log(probs) whatever the observation
        policy.actor_head.weight.zero_()
        policy.actor_head.bias.copy_(probs.log())
    with FAST_PATH.disabled():
        step = policy.act(torch.zeros(20_000, 2), generator=torch.Generator().manual_seed(0))
    assert policy._fast is None
    freq = torch.bincount(step.action, minlength=3).float() / 20_000
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)
    expected = torch.multinomial(
        torch.softmax(probs.log().expand(20_000, 3), -1), 1,
        generator=torch.Generator().manual_seed(0),
    ).squeeze(-1)  # fmt: skip
    assert torch.equal(step.action, expected)


def test_set_and_disabled() -> None:
    assert FAST_PATH.enabled()
    FAST_PATH.set(False)
    assert not FAST_PATH.enabled()
    FAST_PATH.set(None)  # back to the environment
    assert FAST_PATH.enabled()
    with FAST_PATH.disabled():
        assert not FAST_PATH.enabled()
    assert FAST_PATH.enabled()
    with pytest.raises(ValueError, match="FAST_PATH.set"):
        FAST_PATH.set("sometimes")  # type: ignore[arg-type]


def test_an_unknown_environment_value_is_said_once_and_taken_as_unset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_VAR, "fast")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert FAST_PATH.enabled() and FAST_PATH.enabled()
    assert len(warnings_about(caplog, f"{ENV_VAR}='fast'")) == 1


# -- the torch version range ---------------------------------------------------------------


def versions() -> list[tuple[str, bool]]:
    (low_major, low_minor), (high_major, high_minor) = TESTED_TORCH
    cases = [
        (f"{low_major}.{low_minor}.0", True),
        (f"{low_major}.{low_minor}.1+cpu", True),
        (f"{high_major}.{high_minor}.0", False),
        (f"{high_major}.{high_minor + 1}.0.dev20990101", False),
        (f"{high_major + 1}.0.0", False),
        ("unknown", False),
    ]
    if low_minor > 0:
        cases.append((f"{low_major}.{low_minor - 1}.2", False))
    return cases


@pytest.mark.parametrize(("version", "inside"), versions())
def test_the_speed_path_runs_only_on_the_tested_torch_versions(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, version: str, inside: bool
) -> None:
    monkeypatch.setattr(torch, "__version__", version)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        policy, config = make(True, "tanh", False)
        ppo = train(policy, config)  # the policy and PPO both ask the switch
    assert parts(policy, ppo) == (ALL_ON if inside else ALL_OFF)
    said = warnings_about(caplog, "outside the tested range")
    assert len(said) == (0 if inside else 1)  # once
    if not inside:
        assert version in said[0] and f"{ENV_VAR}=force" in said[0]


def test_force_runs_it_outside_the_range_first_use_checks_and_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch, "__version__", "9.9.0")
    monkeypatch.setenv(ENV_VAR, "force")
    policy, config = make(False, "relu", True)
    ppo = train(policy, config)
    assert parts(policy, ppo) == ALL_ON
    assert ppo.hand_gradient is not None and ppo.hand_gradient.checked


# -- the first-use checks ------------------------------------------------------------------


class StateDependentStd(ActorCritic):
    """A Gaussian whose log-std depends on the state (through the mean): the hand-derived
    gradient assumes a state-independent one. Its act path stays consistent: the fast
    forward pass calls these overrides."""

    def _log_std(self, out: Tensor) -> Tensor:
        assert self.log_std is not None
        return self.log_std + 0.5 * torch.tanh(out)

    def _log_prob_entropy(self, out: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        log_std = self._log_std(out)
        z = (actions - out) * torch.exp(-log_std)
        log_prob = (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_prob, (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)

    def _sample(self, out: Tensor, generator: torch.Generator | None) -> Tensor:
        noise = torch.randn(out.shape, generator=generator)
        return out + torch.exp(self._log_std(out)) * noise


def state_dependent_std() -> tuple[ActorCritic, PPOConfig]:
    torch.manual_seed(0)
    policy = StateDependentStd(5, ActionSpec.continuous(-1.0, 1.0, dim=2), hidden_sizes=(16, 8))
    return policy, PPOConfig(num_steps=16, num_epochs=3, minibatch_size=32, learning_rate=3e-2)


def test_a_state_dependent_std_is_caught_and_trained_through_autograd(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        policy, config = state_dependent_std()
        ppo = train(policy, config)
    said = warnings_about(caplog, "hand-derived gradient for StateDependentStd differs")
    assert len(said) == 1 and "autograd from now on" in said[0], caplog.text
    assert "the gradient of parameter" in said[0]  # names what differed, and by how much
    assert parts(policy, ppo) == {"gradient": False, "adam": True, "act": True}

    reference_policy, _ = state_dependent_std()
    reference = train(reference_policy, config, fast_path=False)  # autograd throughout
    assert_same(weights(policy, ppo), weights(reference_policy, reference))

    # Unchecked, the hand gradient would have trained it to other weights.
    unchecked_policy, _ = state_dependent_std()
    unchecked = PPO(unchecked_policy, config)
    assert unchecked.hand_gradient is not None
    unchecked.hand_gradient.checked = True
    for seed in range(3):
        unchecked.update(rollout(unchecked_policy, unchecked, seed))
    assert not torch.allclose(unchecked_policy.log_std, reference_policy.log_std, atol=1e-3)


def patched(discrete: bool) -> tuple[ActorCritic, PPOConfig]:
    """An ActorCritic whose actor's first activation module computes softsign, not tanh."""
    policy, config = make(discrete, "tanh", False)
    policy.actor_body[1].forward = torch.nn.functional.softsign
    return policy, config


@pytest.mark.parametrize("discrete", [True, False])
def test_a_patched_activation_is_caught_by_both_checks(
    caplog: pytest.LogCaptureFixture, discrete: bool
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        policy, config = patched(discrete)
        ppo = train(policy, config)
    assert len(warnings_about(caplog, "module-free forward pass of ActorCritic differs")) == 1
    assert len(warnings_about(caplog, "hand-derived gradient for ActorCritic differs")) == 1
    assert parts(policy, ppo) == {"gradient": False, "adam": True, "act": False}

    with FAST_PATH.disabled():  # the plain path throughout, the same samplers included
        reference_policy, _ = patched(discrete)
        reference = train(reference_policy, config)
    assert_same(weights(policy, ppo), weights(reference_policy, reference))


def test_a_policy_with_its_own_sampler_keeps_it_on_the_fast_path() -> None:
    class Greedy(ActorCritic):
        def _sample(self, out: Tensor, generator: torch.Generator | None) -> Tensor:
            return out.argmax(-1)

    policy = Greedy(3, ActionSpec.discrete(4))
    obs = torch.randn(64, 3)
    step = policy.act(obs)
    assert policy._fast is not None
    assert torch.equal(step.action, policy.act(obs, deterministic=True).action)


def test_the_first_use_checks_change_nothing() -> None:
    """A run whose checks are skipped (as before they existed) ends with the same bits."""
    results = []
    for skip_checks in (False, True):
        policy, config = make(False, "tanh", False)
        ppo = PPO(policy, config)
        assert ppo.hand_gradient is not None and ppo.direct_adam is not None
        if skip_checks:
            ppo.hand_gradient.checked = ppo.direct_adam.checked = True
        for seed in range(3):
            ppo.update(rollout(policy, ppo, seed))
        results.append(weights(policy, ppo))
    assert_same(*results)


def test_a_non_finite_first_minibatch_postpones_the_gradient_check() -> None:
    policy, config = make(True, "tanh", False)
    ppo = PPO(policy, config)
    buffer = rollout(policy, ppo)
    buffer.returns[0, 0] = float("nan")  # every minibatch holding row 0 is skipped
    stats = ppo.update(buffer)
    assert stats["skipped_nonfinite"] > 0 and stats["gradient_steps"] > 0
    assert ppo.hand_gradient is not None and ppo.hand_gradient.checked


def test_a_fused_kernel_that_disagrees_with_adam_step_is_dropped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = adam._FUSED_ADAM
    assert real is not None

    def wrong(*args, lr: float, **kwargs) -> None:
        real(*args, lr=2 * lr, **kwargs)

    results = []
    for kernel in (wrong, None, real):
        monkeypatch.setattr(adam, "_FUSED_ADAM", kernel)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            policy, config = make(True, "tanh", False)
            ppo = train(policy, config)
        assert ppo.direct_adam is not None
        assert ppo.direct_adam.usable is (kernel is real)
        said = warnings_about(caplog, "torch._fused_adam_ and Adam.step differ")
        assert len(said) == (kernel is wrong), caplog.text
        if kernel is wrong:
            assert re.search(r"the weights of parameter \d+: off by up to", said[0]), said[0]
        results.append(weights(policy, ppo))
    for other in results[1:]:
        assert_same(results[0], other)
