"""The queue engine copied into every export: nodes, the graph, its runner and run context.

Imports only the standard library: this package knows nothing of torch, simulators or PPO.
"""

from __future__ import annotations

from .context import RunContext
from .errors import CauseExitException, GraphError, NodeError, RunComplete, WiringError
from .graph import BOUNDARY_GRACE_S, Graph, GraphRunner
from .node import END, In, QueueNode

__all__ = [
    "BOUNDARY_GRACE_S",
    "END",
    "CauseExitException",
    "Graph",
    "GraphError",
    "GraphRunner",
    "In",
    "NodeError",
    "QueueNode",
    "RunComplete",
    "RunContext",
    "WiringError",
]
