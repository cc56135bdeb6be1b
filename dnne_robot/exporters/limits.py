"""The limits a run applies (``rl/limits.py``), checked when a workflow is validated.

``rl/limits.py`` defines them once: PPO's setting ranges and the parameter-memory estimate
and limit. It is read here from its file, because ``import dnne_robot.rl`` would import
torch, which validating and exporting never need (it imports only the standard library).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..validate.problems import Problem
from .base import NodeExporter, parse_sizes

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode

_SOURCE = Path(__file__).resolve().parent.parent / "rl" / "limits.py"


def _load() -> ModuleType:
    name = "dnne_robot.exporters.rl_limits"
    spec = importlib.util.spec_from_file_location(name, _SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


#: ``rl/limits.py``: ``PPO_BOUNDS``, ``ppo_problems``, ``memory_problem``, ``parse_memory``...
LIMITS = _load()


def ppo_problems(node: PlannedNode, fields: dict[str, str]) -> list[Problem]:
    """Problems of the widgets of ``node`` that become PPOConfig fields (``{widget: field}``),
    against the ranges that PPOConfig applies when the run starts."""
    values = {field: node.params.get(widget) for widget, field in fields.items()
              if widget in node.params}
    refused = LIMITS.ppo_problems(values)
    return [NodeExporter.problem(node, widget, f"{refused[field]} (PPO refuses it when "
                                 "training)")
            for widget, field in fields.items() if field in refused]


def memory_limit(plan: Plan) -> int | None:
    """``--max-param-memory``, else ``DNNE_ROBOT_MAX_PARAM_MEMORY``, else the default."""
    if plan.max_param_memory is not None:
        return LIMITS.parse_memory(plan.max_param_memory)
    return LIMITS.max_param_memory()


def network_problem(node: PlannedNode, plan: Plan, parameters: Any) -> list[Problem]:
    """The ``hidden_sizes`` problem of a network whose size is ``parameters(sizes)`` (a
    count without the input layer's weights, unknown until the run: hence "at least")."""
    try:
        sizes = parse_sizes(node.params["hidden_sizes"])
        limit = memory_limit(plan)
    except ValueError as exc:
        return [NodeExporter.problem(node, "hidden_sizes", str(exc))]
    why = LIMITS.memory_problem(parameters(sizes), limit, at_least=True)
    return [NodeExporter.problem(node, "hidden_sizes", why)] if why else []
