from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from dnne_robot.rl import ActionSpec


def test_from_gymnasium_discrete() -> None:
    spec = ActionSpec.from_gymnasium(gym.spaces.Discrete(3))
    assert spec == ActionSpec.discrete(3)
    assert spec.shape == () and spec.dim == 3 and spec.is_discrete


def test_from_gymnasium_box() -> None:
    space = gym.spaces.Box(
        low=np.array([-1.0, 0.0], np.float32), high=np.array([1.0, np.inf], np.float32)
    )
    spec = ActionSpec.from_gymnasium(space)
    assert spec.kind == "continuous" and spec.shape == (2,) and spec.dim == 2
    assert spec.low == [-1.0, 0.0] and spec.high[0] == 1.0 and math.isinf(spec.high[1])


@pytest.mark.parametrize(
    "spec",
    [
        ActionSpec.discrete(4),
        ActionSpec.continuous(-2.0, 2.0, dim=3),
        ActionSpec.continuous([-1.0, 0.0], [1.0, 5.0], squash=True),
    ],
)
def test_dict_roundtrip(spec: ActionSpec) -> None:
    assert ActionSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "discrete"},
        {"kind": "discrete", "n": 0},
        {"kind": "continuous", "low": [0.0]},
        {"kind": "continuous", "low": [1.0], "high": [0.0]},
        {"kind": "continuous", "low": [0.0], "high": [math.inf], "squash": True},
        {"kind": "multi"},
    ],
)
def test_invalid_specs_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ActionSpec(**kwargs)


def test_unsupported_space() -> None:
    with pytest.raises((TypeError, ValueError)):
        ActionSpec.from_gymnasium(gym.spaces.MultiDiscrete([2, 3]))
    with pytest.raises(ValueError):
        ActionSpec.from_gymnasium(gym.spaces.Box(-1, 1, shape=(2, 2)))
