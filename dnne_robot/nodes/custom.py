"""DNNE's Custom Computation: a user script's ``compute`` on every input.

The exporter copies the script (``SCRIPT``, a path inside the export) only when the export
was allowed to (``dnne-robot export --allow-custom-code DIR``): a script is code. Each node
loads its own copy of the module, with DNNE's interface:

- ``compute(input, extra_args=None)``, required: the output, or None to send nothing;
- ``set_config_info(config)``, optional: called once with the node's ``config`` dict;
- ``get_output_type()`` and ``get_script_output_schema(...)``: editor-time only, not called.

A script may end the run as complete by raising ``framework.exceptions.CauseExitException``,
as in DNNE; any other exception stops the run naming the node.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import torch

from ..runtime import In, QueueNode


def load_script(path: Path, module_name: str) -> ModuleType:
    """Import the script at ``path`` as its own module (each node gets a fresh one)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "compute", None)):
        raise AttributeError(f"{path.name} has no compute(input, extra_args=None) function")
    return module


class CustomComputationNode(QueueNode):
    """Runs ``SCRIPT``'s ``compute(input, extra_args)`` on each input (see the module)."""

    INPUTS = (In("input"), In("extra_args", optional=True))
    OUTPUTS = ("output",)
    SCRIPT: ClassVar[str]
    CONFIG: ClassVar[dict[str, Any]] = {}
    SRC_PATH: ClassVar[str]

    def setup(self) -> None:
        path = Path(__file__).resolve().parents[2] / self.SCRIPT
        self.script = load_script(path, f"custom_{path.stem}_{self.node_id}")
        self.takes_extra = len(inspect.signature(self.script.compute).parameters) >= 2
        if callable(getattr(self.script, "set_config_info", None)):
            self.script.set_config_info(dict(self.CONFIG))

    def compute(self, input: Any, extra_args: Any = None) -> dict[str, Any]:  # noqa: A002
        if isinstance(input, torch.Tensor):
            input = input.to(self.ctx.device)
        out = (self.script.compute(input, extra_args) if self.takes_extra
               else self.script.compute(input))
        return {} if out is None else {"output": out}
