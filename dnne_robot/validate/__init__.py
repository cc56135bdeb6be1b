"""Validation: every check before any file is written, reported all at once."""

from __future__ import annotations

from .checks import check_value, check_workflow, execution_order
from .problems import Problem, ValidationError

__all__ = ["Problem", "ValidationError", "check_value", "check_workflow", "execution_order"]
