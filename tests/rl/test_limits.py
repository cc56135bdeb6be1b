"""``rl/limits.py``: PPO's ranges and the parameter-memory estimate and limit, which runs
apply and ``dnne-robot validate`` checks too (see tests/exporters/test_limits.py)."""

from __future__ import annotations

import pytest
import torch

from dnne_robot.rl import ActionSpec, ActorCritic, PPOConfig
from dnne_robot.rl.limits import (
    DEFAULT_MAX_PARAM_MEMORY,
    MAX_PARAM_MEMORY_ENV,
    actor_critic_parameters,
    max_param_memory,
    mlp_parameters,
    parse_memory,
)

SPECS = {"discrete": ActionSpec.discrete(3),
         "continuous": ActionSpec.continuous(-1.0, 1.0, dim=2)}


@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("hidden", [(), (7,), (16, 8, 4)])
@pytest.mark.parametrize("shared", [False, True])
def test_the_estimate_counts_every_parameter(kind: str, hidden: tuple, shared: bool) -> None:
    spec = SPECS[kind]
    policy = ActorCritic(5, spec, hidden_sizes=hidden, shared=shared)
    counted = sum(p.numel() for p in policy.parameters())
    assert actor_critic_parameters(5, spec.dim, hidden, shared, not spec.is_discrete) == counted


def test_mlp_parameters() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 10), torch.nn.Linear(10, 4), torch.nn.Linear(4, 2))
    assert mlp_parameters(3, (10, 4), 2) == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("text", "size"), [
    ("16GiB", 16 * 2**30), ("16 gib", 16 * 2**30), ("500MB", 500_000_000), ("4G", 4 * 10**9),
    ("2e9", 2 * 10**9), ("1024", 1024), ("1.5KiB", 1536), ("none", None), ("None", None),
])
def test_parse_memory(text: str, size: int | None) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "lots", "0", "-1GiB", "1e999", "nan", "16XB"])
def test_parse_memory_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_memory(text)


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_PARAM_MEMORY_ENV, raising=False)
    assert max_param_memory() == DEFAULT_MAX_PARAM_MEMORY == 4 * 2**30
    monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, "none")
    assert max_param_memory() is None
    monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, "many")
    with pytest.raises(ValueError, match=MAX_PARAM_MEMORY_ENV):
        max_param_memory()


def test_a_network_over_the_limit_is_refused_before_it_is_allocated(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18.6: hidden_sizes 65536,65536 tried to allocate 17 GB; now refused at once."""
    monkeypatch.delenv(MAX_PARAM_MEMORY_ENV, raising=False)
    with pytest.raises(ValueError, match=r"hidden_sizes \(65536, 65536\): the network has "
                                         r"about 8,590,983,172 parameters.*limit of 4 GiB"):
        ActorCritic(4, SPECS["discrete"], hidden_sizes=(65536, 65536))
    monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, "1MiB")
    with pytest.raises(ValueError, match="limit of 1 MiB"):
        ActorCritic(4, SPECS["discrete"], hidden_sizes=(256, 256))
    monkeypatch.setenv(MAX_PARAM_MEMORY_ENV, "3MiB")
    ActorCritic(4, SPECS["discrete"], hidden_sizes=(256, 256))


def test_an_mlp_over_the_limit_is_refused_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from dnne_robot.nodes.ml import NetworkNode

    layer = type("Net", (NetworkNode,), {"LAYER_SIZES": (65536, 65536), "OUTPUT_SIZE": 1,
                                         "ACTIVATION": "tanh"})
    monkeypatch.delenv(MAX_PARAM_MEMORY_ENV, raising=False)
    with pytest.raises(ValueError, match=r"hidden_sizes \(65536, 65536\) on 3 inputs: .*4 GiB"):
        NetworkNode.build(layer, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value", "said"), [
    ("clip_coef", 0.0, "PPOConfig.clip_coef must be > 0, got 0.0"),
    ("learning_rate", -1e-3, "PPOConfig.learning_rate must be > 0, got -0.001"),
    ("gamma", 1.5, "PPOConfig.gamma must be in [0, 1], got 1.5"),
    ("gae_lambda", float("nan"), "PPOConfig.gae_lambda must be in [0, 1], got nan"),
    ("num_steps", 0, "PPOConfig.num_steps must be >= 1, got 0"),
])
def test_ppo_config_refuses_out_of_range_values(field: str, value: float, said: str) -> None:
    with pytest.raises(ValueError) as err:
        PPOConfig(**{field: value})
    assert str(err.value) == said
