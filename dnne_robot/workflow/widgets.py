"""Naming positional ``widgets_values``.

A UI node stores its widget values by position. The names come, in order of preference, from
the node's own ``inputs`` entries that carry a ``"widget"`` key (files from current frontends
list every widget that way), or from the catalog through a :data:`WidgetLookup` the caller
passes in (this package never imports the catalog). Stock ComfyUI stores a hidden
"control after generate" value (``"fixed"``, ``"randomize"``, ...) right after a seed-like INT
widget; it is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
"""The values ComfyUI stores for a widget's hidden "control after generate" companion."""


@dataclass(frozen=True)
class WidgetInfo:
    """One widget of a node type, in ``widgets_values`` order.

    Attributes:
        name: the widget's input name.
        control_after_generate: the frontend stores an extra "control after generate" value
            right after this widget (stock ComfyUI does so for ``seed``-like INT widgets).
    """

    name: str
    control_after_generate: bool = False


WidgetLookup = Callable[[str, int], Sequence[WidgetInfo] | None]
"""``widgets(class_type, n_values)``: the type's widgets in order for a node that stores
``n_values`` values (a type may know older layouts), or ``None`` when the type is unknown."""


@dataclass(frozen=True)
class WidgetSlot:
    """A widget name the reader will assign a value to."""

    name: str
    type: str | None = None
    control_after_generate: bool = False

    def seed_like(self) -> bool:
        """Heuristic for files without catalog help: an INT widget named like a seed."""
        return self.type in (None, "INT") and "seed" in self.name.lower()


@dataclass
class WidgetAssignment:
    """The outcome of naming one node's positional widget values."""

    values: dict[str, Any] = field(default_factory=dict)
    extra: list[Any] = field(default_factory=list)
    skipped_controls: list[str] = field(default_factory=list)


def _capacity(slots: Sequence[WidgetSlot]) -> int:
    """How many positional values ``slots`` can account for, control values included."""
    return len(slots) + sum(1 for s in slots if s.control_after_generate or s.seed_like())


def _from_lookup(infos: Sequence[Any]) -> list[WidgetSlot]:
    slots: list[WidgetSlot] = []
    for info in infos:
        if isinstance(info, WidgetInfo):
            slots.append(WidgetSlot(info.name, None, info.control_after_generate))
        elif isinstance(info, str):  # tolerate a lookup that returns bare names
            slots.append(WidgetSlot(info))
    return slots


def choose_widget_slots(
    class_type: str,
    from_inputs: Sequence[WidgetSlot],
    n_values: int,
    lookup: WidgetLookup | None,
) -> tuple[list[WidgetSlot] | None, str]:
    """Pick the widget names for a node with ``n_values`` positional values.

    Returns the slots (``None`` when no names are known) and where they came from
    (``"inputs"``, ``"catalog"`` or ``""``).

    The node's own widget inputs win. Older frontends listed only widgets *converted to
    inputs* that way, though, so when those cannot account for every value and the catalog
    knows more, the catalog's list is used.
    """
    catalog_infos = lookup(class_type, n_values) if lookup is not None else None
    catalog = _from_lookup(catalog_infos) if catalog_infos is not None else None
    if from_inputs:
        if (
            catalog
            and _capacity(from_inputs) < n_values
            and _capacity(catalog) > _capacity(from_inputs)
            and {s.name for s in from_inputs} <= {s.name for s in catalog}
        ):
            return catalog, "catalog"
        return list(from_inputs), "inputs"
    if catalog is not None:
        return catalog, "catalog"
    return None, ""


def assign_widget_values(values: Sequence[Any], slots: Sequence[WidgetSlot]) -> WidgetAssignment:
    """Name ``values`` by ``slots``, skipping "control after generate" companions.

    A companion is skipped after a slot flagged ``control_after_generate`` whenever the next
    value is one of :data:`CONTROL_VALUES`. After a merely seed-*like* slot it is skipped only
    when there are more values than slots, so a real widget that follows a seed and happens to
    hold ``"fixed"`` (DNNE's ``seed_control``) keeps its value.
    """
    out = WidgetAssignment()
    spare = len(values) - len(slots)
    i = 0
    for slot in slots:
        if i >= len(values):
            break
        out.values[slot.name] = values[i]
        i += 1
        if i < len(values) and _is_control(values[i]):
            if slot.control_after_generate or (spare > 0 and slot.seed_like()):
                out.skipped_controls.append(slot.name)
                spare -= 1
                i += 1
    out.extra = list(values[i:])
    return out


def _is_control(value: Any) -> bool:
    return isinstance(value, str) and value in CONTROL_VALUES
