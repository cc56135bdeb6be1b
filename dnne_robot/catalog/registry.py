"""Lookup over :data:`dnne_robot.catalog.nodes.NODES`, aliases and plugins included."""

from __future__ import annotations

import difflib
import math
from functools import cache

from .nodes import NODES
from .plugins import plugin_specs
from .spec import NodeSpec
from .tooltips import input_tooltip, output_tooltip

#: ComfyUI's frontend follows an INT input that declares ``control_after_generate`` with a
#: "control after generate" widget (``fixed``, ``increment``, ``decrement``, ``randomize``)
#: and saves its value right after the seed's; a string declares the control's starting
#: value. The pack starts it at ``fixed``: a run's seed should not change behind its back.
SEED_CONTROL_DEFAULT = "fixed"
#: Inputs the frontend gives a control *by name* unless the input says otherwise
#: (ComfyUI_frontend ``useIntWidget``: ``control_after_generate ?? ['seed', 'noise_seed']``).
FRONTEND_SEED_NAMES = frozenset({"seed", "noise_seed"})


@cache
def _index() -> dict[str, NodeSpec]:
    index: dict[str, NodeSpec] = {}
    for spec in all_specs():
        for name in (spec.class_type, *spec.aliases):
            index.setdefault(name, spec)
    return index


@cache
def all_specs() -> tuple[NodeSpec, ...]:
    """Built-in specs plus those plugins contribute through the exporter entry points."""
    return NODES + plugin_specs()


def get_spec(class_type: str) -> NodeSpec | None:
    return _index().get(class_type)


def suggest(class_type: str, families: set[str] | None = None) -> str | None:
    """The closest known type name, for "did you mean" messages.

    With ``families`` (ml, rl, robotics, flow: those of the nodes the unknown one is wired
    to), only names of those families are offered; without, only a very close name is.
    """
    names = [n for n, spec in _index().items() if not families or spec.category in families]
    cutoff = 0.6 if families else 0.85
    match = difflib.get_close_matches(class_type, names, n=1, cutoff=cutoff)
    if not match:
        lowered = {k.lower(): k for k in names}
        match = difflib.get_close_matches(class_type.lower(), list(lowered), n=1, cutoff=cutoff)
        return lowered[match[0]] if match else None
    return match[0]


def float_steps(default: float | None) -> dict[str, float]:
    """A FLOAT widget's ``step`` (what its arrows add) and ``round`` (the grid ComfyUI's
    frontend snaps an edit to). ``round: False`` reads as "not set" there, and the grid then
    follows the step: 3e-6 typed into a learning rate became 0. So ``round`` is explicit, six
    decimal orders below the default's (1e-9 for a default of 0)."""
    scale = abs(default or 0.0)
    order = math.floor(math.log10(scale)) if scale else -3
    return {"step": min(0.1, 10.0 ** (order - 1)), "round": 10.0 ** (order - 6)}


def object_info() -> dict:
    """The catalog in the shape of ComfyUI's ``/object_info``."""
    info = {}
    for spec in all_specs():
        required, optional = {}, {}
        for inp in spec.inputs:
            opts: dict = {}
            if inp.default is not None:
                opts["default"] = inp.default
            if inp.min is not None and inp.min != float("-inf"):
                opts["min"] = inp.min
            if inp.max is not None and inp.max != float("inf"):
                opts["max"] = inp.max
            if inp.type == "FLOAT":
                opts.update(float_steps(inp.default))
            opts["tooltip"] = input_tooltip(inp)
            if inp.control_after_generate:
                opts["control_after_generate"] = SEED_CONTROL_DEFAULT
            elif inp.type == "INT" and inp.name in FRONTEND_SEED_NAMES:
                opts["control_after_generate"] = False  # else the frontend adds one by name
            type_entry = list(inp.choices) if inp.type == "COMBO" else inp.type
            (required if inp.required else optional)[inp.name] = [type_entry, opts]
        info[spec.class_type] = {
            "input": {"required": required, "optional": optional},
            "input_order": {"required": [i.name for i in spec.inputs if i.required],
                            "optional": [i.name for i in spec.inputs if not i.required]},
            "output": [o.type for o in spec.outputs],
            "output_name": [o.name for o in spec.outputs],
            "output_is_list": [False for _ in spec.outputs],
            "output_tooltips": [output_tooltip(o) for o in spec.outputs],
            "name": spec.class_type,
            "display_name": spec.display_name,
            "description": spec.description,
            "category": f"dnne-robot/{spec.category}",
            "output_node": False,
            "aliases": list(spec.aliases),
        }
    return info
