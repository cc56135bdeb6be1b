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
        virtual: a link that carries structure when the graph is exported, not data when it
            runs (a DNNE Network's ``to_output`` loop-back, an optimizer's ``model``); it is
            never wired as a queue.
        unused: why the widget is accepted but has no effect here (Isaac Gym-only settings);
            the notices list every such widget of a workflow in one line.
        legacy_values: old spellings of COMBO values, read as the current value with a
            notice (DNNE's Tensor ``"randn"`` is ``"normal"``).
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
    virtual: bool = False
    unused: str = ""
    legacy_values: tuple[tuple[Any, Any], ...] = ()

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES

    def legacy(self, value: Any) -> Any:
        """The current spelling of an old COMBO value, or ``value`` itself."""
        for old, new in self.legacy_values:
            if type(value) is type(old) and value == old:
                return new
        return value


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str
    tooltip: str = ""


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
        starts_cycle: the node can start a feedback loop it is part of: True (the OR merge, a
            source that sends before its inputs come), or the name of the BOOLEAN widget that
            turns it on (an optimizer's ``enable_bootstrap``).
        stateless: a pure function of its inputs, so ``--optimize`` may fuse it.
        pass_through: the node only forwards (part of) its input, so ``--optimize`` may run
            it inside its consumer instead of as a queue hop of its own.
        description: one line for listings and tooltips.
        virtual: the node runs inside the node it feeds (DNNE's LinearLayer inside its
            Network): it gets no module and no queue, only its values are read.
        legacy_widgets: other ``widgets_values`` layouts files use, tried when the number of
            values matches one (DNNE's SGDOptimizer without ``batch_size``).
        source: where the node type comes from, ``"dnne"`` or ``"dnne-robot"``.
    """

    class_type: str
    display_name: str
    category: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    exporter: str
    aliases: tuple[str, ...] = ()
    starts_cycle: bool | str = False
    stateless: bool = False
    pass_through: bool = False
    description: str = ""
    notes: dict[str, str] = field(default_factory=dict)
    virtual: bool = False
    legacy_widgets: tuple[tuple[str, ...], ...] = ()
    source: str = "dnne-robot"

    def can_start_loop(self, params: dict[str, Any]) -> bool:
        """Whether this node, with these widget values, sends before the loop feeds it."""
        if isinstance(self.starts_cycle, str):
            return bool(params.get(self.starts_cycle, self.input(self.starts_cycle).default
                                   if self.input(self.starts_cycle) else False))
        return bool(self.starts_cycle)

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
