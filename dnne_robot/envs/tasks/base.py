"""The task interface: what a task means, written once, over any engine's :class:`Physics`.

A task owns everything that makes CartPole CartPole on every engine: the reset distribution,
how an action becomes controls, the observation, the reward and the termination. It never
touches an engine: it reads ``physics.qpos`` / ``physics.qvel`` and calls the few methods of
:class:`~..physics.base.Physics`. The hooks are dm_control's (``suite/base.py``); ``TaskEnv``
(``envs/env.py``) calls them on every ``reset`` and ``step``:

    reset:  initialize_episode(physics, random) -> get_observation(physics)
    step:   before_step(action, physics) -> physics.step() -> state_is_finite(physics)
            -> after_step(physics) -> get_observation, get_reward, get_termination,
            get_info
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from ..errors import TaskNotOnEngineError
from ..physics.base import ModelSpec, Physics, Position

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets"


def asset_path(name: str) -> Path:
    """Absolute path of a bundled model file, e.g. ``asset_path("cartpole.xml")``."""
    return ASSET_DIR / name


class Task:
    """Base class of every task; subclasses fill in the hooks and the class attributes.

    A task instance belongs to one env (it may keep per-episode state, such as Reach's
    target), and its spaces are equal on every engine.
    """

    #: The task's name in ids (``dnne/<name>-<engine>-v0``).
    name: ClassVar[str]
    #: The model per engine (files in ``envs/assets``); the task exists on these engines.
    #: An MJCF states its own timestep, gravity and actuators; a URDF's spec says them.
    models: ClassVar[Mapping[str, ModelSpec]] = {}
    #: The observation's named fields: name -> (first, last) index, both inclusive (DNNE's
    #: observation schema; a Split "by name" cuts by them).
    observation_fields: ClassVar[Mapping[str, tuple[int, int]]] = {}

    observation_space: spaces.Space
    action_space: spaces.Space

    def model(self, engine: str) -> ModelSpec:
        """The model to load on ``engine``; ``TaskNotOnEngineError`` where there is none."""
        if engine not in self.models:
            raise TaskNotOnEngineError(
                f"task {self.name!r} has no model for engine {engine!r};"
                f" it exists on: {', '.join(self.models)}."
            )
        return self.models[engine]

    def setup(self, physics: Physics) -> None:
        """Once, after the physics is loaded: size what depends on the model (spaces)."""

    def initialize_episode(self, physics: Physics, random: np.random.Generator) -> None:
        """Draw the initial state from ``random`` and put the physics into it."""
        raise NotImplementedError

    def before_step(self, action: Any, physics: Physics) -> None:
        """Turn ``action`` into controls (``physics.set_control``).

        May raise :class:`~..stability.UnstableStep` for an action that must not reach the
        engine: the episode then ends as unstable without stepping.
        """
        raise NotImplementedError

    def state_is_finite(self, physics: Physics) -> bool:
        """False ends the episode as unstable; checked before :meth:`after_step`."""
        raise NotImplementedError

    def after_step(self, physics: Physics) -> None:
        """After the physics stepped and was found finite (e.g. clip a velocity)."""

    def get_observation(self, physics: Physics) -> np.ndarray:
        """The float32 observation of the current state."""
        raise NotImplementedError

    def get_reward(self, physics: Physics) -> float:
        """The reward of the step just taken."""
        raise NotImplementedError

    def get_termination(self, physics: Physics) -> bool:
        """Whether the step just taken ended the episode (truncation is the TimeLimit's)."""
        return False

    def get_info(self, physics: Physics) -> dict[str, Any]:
        """Extra facts about the step just taken, for the step's ``info`` (e.g. success)."""
        return {}

    def markers(self) -> dict[str, Position]:
        """Visual-only markers to draw, by name (e.g. Reach's target)."""
        return {}

    def get_state(self) -> dict[str, Any]:
        """Task state beyond the physics (e.g. Reach's target), as plain values."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`get_state`."""
        del state
