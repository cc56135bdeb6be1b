"""Short constructors for the catalog's input and output specs."""

from __future__ import annotations

from typing import Any

from ..spec import InputSpec, OutputSpec

INF = float("inf")

#: Why DNNE's Isaac Gym settings are accepted but do nothing here.
ISAAC_ONLY = "an Isaac Gym setting; the task runs on the --sim engine here"


def link(name: str, type_: str, *, required: bool = True, mode: str = "each", tip: str = "",
         virtual: bool = False) -> InputSpec:
    return InputSpec(name, type_, required=required, mode=mode, tooltip=tip, virtual=virtual)


def INT(name: str, default: int, lo: float = -INF, hi: float = INF, *, required: bool = True,  # noqa: N802
        seed: bool = False, tip: str = "", unused: str = "") -> InputSpec:
    return InputSpec(name, "INT", required, default, lo, hi, control_after_generate=seed,
                     tooltip=tip, unused=unused)


def FLOAT(name: str, default: float, lo: float = -INF, hi: float = INF, *,  # noqa: N802
          required: bool = True, tip: str = "", unused: str = "") -> InputSpec:
    return InputSpec(name, "FLOAT", required, default, lo, hi, tooltip=tip, unused=unused)


def STRING(name: str, default: str, *, required: bool = True, tip: str = "",  # noqa: N802
           unused: str = "") -> InputSpec:
    return InputSpec(name, "STRING", required, default, tooltip=tip, unused=unused)


def BOOL(name: str, default: bool, *, required: bool = True, tip: str = "",  # noqa: N802
         unused: str = "") -> InputSpec:
    return InputSpec(name, "BOOLEAN", required, default, tooltip=tip, unused=unused)


def COMBO(name: str, choices: tuple, default: Any = None, *, required: bool = True,  # noqa: N802
          tip: str = "", unused: str = "", legacy: dict[Any, Any] | None = None) -> InputSpec:
    return InputSpec(name, "COMBO", required, choices[0] if default is None else default,
                     choices=choices, tooltip=tip, unused=unused,
                     legacy_values=tuple((legacy or {}).items()))


def out(name: str, type_: str) -> OutputSpec:
    return OutputSpec(name, type_)
