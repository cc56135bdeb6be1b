"""The queue runtime copied into every export: nodes, graph, runner and run context.

This package imports nothing from the rest of ``dnne_robot`` so that exports stand alone.
"""

from __future__ import annotations

from .context import RunContext
from .errors import GraphError, NodeError, WiringError
from .graph import Graph, GraphRunner
from .node import END, In, QueueNode

__all__ = [
    "END",
    "Graph",
    "GraphError",
    "GraphRunner",
    "In",
    "NodeError",
    "QueueNode",
    "RunContext",
    "WiringError",
]
