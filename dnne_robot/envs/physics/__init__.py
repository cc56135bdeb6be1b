"""Physics adapters, one module per engine, loaded by name only when an env is made.

Importing this package imports no engine and no engine's module: an exported package carries
only the physics module of the engine it was exported for, and :func:`physics_class` turns a
missing one into an :class:`EngineNotExportedError` that says how to get it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..engines import get_engine, not_exported_error
from ..errors import TaskNotOnEngineError
from .base import ModelSpec, Physics

# "dnne_robot.envs" here, "framework.envs" inside an exported package.
_ENVS = __name__.rpartition(".")[0]


def physics_class(engine: str) -> type[Physics]:
    """The :class:`Physics` implementation of ``engine``, importing its module on first use.

    Raises:
        UnknownEngineError: ``engine`` is not one of ``ENGINES``.
        TaskNotOnEngineError: the engine has no physics module (gymnasium's envs are its own).
        EngineNotExportedError: this package was exported without the engine's physics module.
    """
    return physics_module(engine).PHYSICS


def physics_module(engine: str) -> ModuleType:
    """The imported physics module of ``engine``; errors as for :func:`physics_class`."""
    spec = get_engine(engine)
    if spec.physics_module is None:
        raise TaskNotOnEngineError(
            f"the {engine!r} engine runs gymnasium's own envs and has no physics module"
        )
    name = f"{_ENVS}.{spec.physics_module}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        raise not_exported_error(engine) from None
    return module


__all__ = ["ModelSpec", "Physics", "physics_class", "physics_module"]
