"""Node type catalog: one registry of typed specs, grouped ml / rl / robotics / flow."""

from __future__ import annotations

from .registry import all_specs, get_spec, object_info, suggest
from .spec import InputSpec, NodeSpec, OutputSpec

__all__ = ["InputSpec", "NodeSpec", "OutputSpec", "all_specs", "get_spec", "object_info", "suggest"]
