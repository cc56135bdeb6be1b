"""The node registry: every node type dnne-robot knows, one module per family a reader can
scan (ml, rl, robotics, flow). Each family lists dnne-robot's own types, then DNNE's
(``NodeSpec.source == "dnne"``), which follow DNNE's sources: names, widget order, defaults.
"""

from __future__ import annotations

from ..spec import NodeSpec
from .flow import FLOW
from .ml import ML
from .rl import RL
from .robotics import ROBOTICS

NODES: tuple[NodeSpec, ...] = ROBOTICS + FLOW + RL + ML

__all__ = ["NODES"]
