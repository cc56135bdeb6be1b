"""The trained policy as dependency-free C99: ``runner.py export-policy --format c``.

:func:`export_c_policy` writes ``policy.h`` (one function, ``policy_act``), ``policy.c`` (the
normaliser, the actor's weights as ``static const`` arrays, the deterministic action and the
action bounds), ``example_loop.c`` (a fixed-rate controller for the UDP protocol),
``README.md`` and the ``policy.json`` sidecar. It checks the C against the eager torch actor
with the system C compiler when there is one. The C files here (``example_loop.c``,
``parity_main.c``) travel with every export as data.

Modules: :mod:`.network` reads the layers off the torch modules, :mod:`.codegen` writes the
C, :mod:`.build` runs the compiler, :mod:`.export` puts it together, :mod:`.readme` explains it.
"""

from __future__ import annotations

from .build import CFLAGS, Compiler, compile_c, find_compiler, harness_source, run_policy
from .codegen import ERROR_CODES
from .export import FILES, export_c_policy
from .network import SUPPORTED, CExportError, Network, describe

__all__ = [
    "CFLAGS",
    "ERROR_CODES",
    "FILES",
    "SUPPORTED",
    "CExportError",
    "Compiler",
    "Network",
    "compile_c",
    "describe",
    "export_c_policy",
    "find_compiler",
    "harness_source",
    "run_policy",
]
