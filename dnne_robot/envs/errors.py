"""Typed errors of the simulator layer.

Every error raised on purpose by ``envs`` derives from :class:`EnvError`, so a caller can catch
the whole family at once, and each message says what to do next: the names that exist, the
``pip install`` that fixes a missing engine, the file and the engine's own complaint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EnvError(Exception):
    """Base class of every error raised by ``envs``."""


class UnknownTaskError(EnvError):
    """A task name, Isaac task name or environment id that nothing is registered under."""


class UnknownEngineError(EnvError):
    """An engine name outside :data:`ENGINES`."""


class TaskNotOnEngineError(EnvError):
    """A known task that has no implementation on the requested engine."""


class EngineNotInstalledError(EnvError, ImportError):
    """The Python package of an engine (or of a renderer) is not installed."""


class EngineNotExportedError(EnvError):
    """This copy of ``envs`` (an exported package) was exported without the engine's physics."""


class ModelFileError(EnvError):
    """An MJCF or URDF file that is missing or that the engine refuses to load."""


class StateNotSupportedError(EnvError):
    """``capture_state`` / ``restore_state`` met an environment it cannot snapshot."""


class RenderUnavailableError(EnvError):
    """The engine cannot render offscreen here (for MuJoCo: no working GL backend)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'X'?"`` for the closest choice, or ``""`` when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f" Did you mean {lowered[name.lower()]!r}?"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
