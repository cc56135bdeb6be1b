"""The run side of an export: ``runner.py``'s commands, one training session both backends
drive, checkpoints, and the trained policy. Copied into exports as ``framework/session``."""

from __future__ import annotations

from .cli import Command, main
from .errors import RunnerError
from .training import Backend, LocalBackend, Outcome, TrainingSession

__all__ = ["Backend", "Command", "LocalBackend", "Outcome", "RunnerError", "TrainingSession",
           "main"]
