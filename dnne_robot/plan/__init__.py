"""Planning stage."""

from __future__ import annotations

from .planner import BACKENDS, SIMS, Plan, PlannedNode, make_plan

__all__ = ["BACKENDS", "SIMS", "Plan", "PlannedNode", "make_plan"]
