"""Typed node specifications: what a node type takes, gives and how it is exported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Value types edited as widgets in ComfyUI; everything else is a link type.
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


@dataclass(frozen=True)
class InputSpec:
    """One input of a node type.

    Attributes:
        name: the port name, exactly as ComfyUI / DNNE files spell it.
        type: a link type (``TENSOR``, ``POLICY``, ...) or a widget type (``INT``, ``COMBO``...).
        required: whether the node needs it.
        default: the widget default.
        min, max: inclusive numeric range for INT / FLOAT widgets.
        choices: the allowed values of a COMBO widget.
        mode: how the runtime feeds it: ``each`` iteration, ``sticky`` (kept), or ``any`` (OR).
        control_after_generate: a seed-like INT that ComfyUI follows with a hidden value.
        tooltip: help text shown in the editor and in ``dnne-robot nodes``.
    """

    name: str
    type: str
    required: bool = True
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    mode: str = "each"
    control_after_generate: bool = False
    tooltip: str = ""

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str


@dataclass(frozen=True)
class NodeSpec:
    """A node type.

    Attributes:
        class_type: the canonical type name.
        display_name: the editor's title.
        category: ``ml``, ``rl``, ``robotics`` or ``flow``.
        inputs: required then optional inputs; widget order is the order of widget inputs.
        outputs: output slots in order.
        exporter: the exporter key in :mod:`dnne_robot.exporters.registry`.
        aliases: other names files use for this type.
        starts_cycle: the node may close a feedback loop (the OR merge).
        stateless: a pure function of its inputs, so ``--optimize`` may fuse it.
        pass_through: the node only forwards (part of) its input, so ``--optimize`` may run
            it inside its consumer instead of as a queue hop of its own.
        description: one line for listings and tooltips.
    """

    class_type: str
    display_name: str
    category: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    exporter: str
    aliases: tuple[str, ...] = ()
    starts_cycle: bool = False
    stateless: bool = False
    pass_through: bool = False
    description: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def widgets(self) -> tuple[InputSpec, ...]:
        """Widget inputs in ``widgets_values`` order: required first, then optional."""
        req = [i for i in self.inputs if i.is_widget and i.required]
        opt = [i for i in self.inputs if i.is_widget and not i.required]
        return tuple(req + opt)

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output_index(self, name: str) -> int:
        return [o.name for o in self.outputs].index(name)
