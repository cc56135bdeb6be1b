"""The node exporter interface: what each node type contributes to an export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..validate.problems import Problem

if TYPE_CHECKING:
    from ..plan import Plan, PlannedNode


class NodeExporter:
    """Turns one planned node into template variables.

    Attributes:
        template: the node module template under ``templates/``.
        framework: framework packages the module imports (``runtime``, ``rl``, ``envs``).
        requirements: pip requirements the module needs.
        pass_through: the node only forwards (part of) its input, so ``export --optimize``
            may run it inside its consumer instead of as a queue hop of its own.
    """

    template: ClassVar[str] = ""
    framework: ClassVar[tuple[str, ...]] = ("runtime",)
    requirements: ClassVar[tuple[str, ...]] = ()
    pass_through: ClassVar[bool] = False

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
