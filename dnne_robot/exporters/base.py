"""The node exporter interface: what each node type contributes to an export.

Most node types have a framework class (``dnne_robot/nodes``) that holds their behaviour; the
exporter names it (:attr:`NodeExporter.base`) and says which constants the generated
subclass sets. The renderer copies the framework modules the exporters name, and what those
import, into the export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..validate.problems import Problem

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode


@dataclass(frozen=True)
class Constant:
    """One class constant of a generated node: ``NAME = value  # comment``."""

    name: str
    value: Any
    comment: str = ""


def constant_name(widget: str) -> str:
    """``learning_rate`` -> ``LEARNING_RATE`` (any text -> an upper-case identifier)."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", widget).upper().strip("_") or "PARAM"
    return f"P_{name}" if name[0].isdigit() else name


class NodeExporter:
    """Turns one planned node into a generated module.

    Attributes:
        template: the node module template under ``templates/``.
        base: the framework class the generated class subclasses, ``"module:Class"`` with the
            module relative to the framework (``"nodes.rl:PPOTrainerNode"``).
        framework: further framework modules the generated module imports (``"runtime"``).
        requirements: pip requirements the module needs.
        derived: constants the exporter adds beyond the widget values (read from the graph:
            a network's layers, an optimizer's networks); the framework class reads them.
        export_time: widgets whose values the export turns into ``derived`` constants, so
            ``runner.py train --set`` cannot change them (it says to export again).
    """

    template: ClassVar[str] = "nodes/subclass.py.jinja"
    derived: ClassVar[tuple[str, ...]] = ()
    export_time: ClassVar[tuple[str, ...]] = ()
    base: ClassVar[str] = ""
    framework: ClassVar[tuple[str, ...]] = ("runtime",)
    requirements: ClassVar[tuple[str, ...]] = ()

    def modules(self, node: PlannedNode, plan: Plan) -> list[str]:
        """The framework modules the generated module imports."""
        own = [self.base.partition(":")[0]] if self.base else []
        return [*own, *self.framework]

    def constants(self, node: PlannedNode, plan: Plan) -> list[Constant]:
        """The generated class's constants: the node's widget values, in widget order."""
        return [Constant(constant_name(w.name), node.params[w.name]) for w in node.spec.widgets]

    def meta(self, node: PlannedNode, plan: Plan) -> dict[str, Any]:
        """What this node tells ``runner.py``'s ``META`` (the first node to say a key wins)."""
        return {}

    def files(self, node: PlannedNode, plan: Plan) -> dict[str, bytes]:
        """Files the export carries for this node (a data file, a user script), by their
        path inside the export; ``manifest.json`` records each with its sha256."""
        return {}

    def validate_parameters(self, node: PlannedNode, plan: Plan) -> list[Problem]:
        """Node-specific checks beyond the catalog's types and ranges."""
        return []

    def context(self, node: PlannedNode, plan: Plan) -> dict[str, Any]:
        """Extra template variables (the defaults cover id, title, class and params)."""
        return {}

    def requirements_for(self, node: PlannedNode, plan: Plan) -> list[str]:
        return list(self.requirements)

    def post_process_code(self, code: str, node: PlannedNode, plan: Plan) -> str:
        """A last look at the rendered module (plugins may rewrite it)."""
        return code

    # helpers for subclasses
    @staticmethod
    def problem(node: PlannedNode, field: str, message: str, severity: str = "error") -> Problem:
        return Problem(message, node.id, node.title, node.node.class_type, field, severity)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"64, 64"`` -> ``(64, 64)``; raises ValueError with a readable reason."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValueError("needs at least one layer width, e.g. '64,64'")
    sizes = []
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 12:
            shown = part if len(part) <= 20 else part[:20] + "..."
            raise ValueError(f"{shown!r} is not a positive integer layer width")
        size = int(part)
        if not 1 <= size <= 65536:
            raise ValueError(f"layer width {size} is outside 1..65536")
        sizes.append(size)
    if len(sizes) > 64:
        raise ValueError(f"{len(sizes)} layers is more than 64")
    return tuple(sizes)
