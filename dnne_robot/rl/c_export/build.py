"""The system C compiler: finding it, building the generated C with it, running the result.

The compiler is ``$CC`` when set, else the first of ``cc``, ``gcc`` and ``clang`` on ``PATH``.
Builds use ``-std=c99 -O2`` and the warnings of a careful firmware build (``-Wall -Wextra
-pedantic``); warnings are returned, not fatal, and the tests require there to be none.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .network import CExportError

CANDIDATES = ("cc", "gcc", "clang")
#: The flags of every build here; README.md and docs/c_policy.md give the same command.
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic")
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Compiler:
    """A C compiler command (``argv`` may carry flags, as ``CC="ccache gcc"`` does)."""

    argv: tuple[str, ...]
    version: str

    def __str__(self) -> str:
        command = " ".join(self.argv)
        return f"{command} [{self.version}]" if self.version else command


def find_compiler() -> Compiler | None:
    """``$CC``, or the first of ``cc``, ``gcc``, ``clang`` on ``PATH``; None when there is none."""
    env = os.environ.get("CC", "").strip()
    candidates = [shlex.split(env)] if env else [[name] for name in CANDIDATES]
    for argv in candidates:
        if not argv or shutil.which(argv[0]) is None:
            continue
        try:
            proc = subprocess.run([*argv, "--version"], capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = (proc.stdout.splitlines() or [""])[0].strip()
        return Compiler(tuple(argv), version)
    return None


def searched() -> str:
    """What :func:`find_compiler` looked for, for the message when it found nothing."""
    env = os.environ.get("CC", "").strip()
    return f"$CC={env!r}" if env else f"$CC, {', '.join(CANDIDATES)}"


def compile_c(compiler: Compiler, sources: list[Path], output: Path,
              extra: tuple[str, ...] = ()) -> str:
    """Build ``sources`` into the program ``output``; returns the compiler's warnings.

    Raises :class:`CExportError` with the first lines of the compiler's messages on failure.
    """
    argv = [*compiler.argv, *CFLAGS, *extra, "-o", str(output), *map(str, sources), "-lm"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                              cwd=output.parent)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CExportError(f"running the C compiler failed: {exc}") from exc
    if proc.returncode != 0:
        first = "; ".join(line for line in proc.stderr.splitlines()[:6] if line.strip())
        raise CExportError(f"{' '.join(compiler.argv)} could not build "
                           f"{', '.join(p.name for p in sources)}: {first}")
    return proc.stderr.strip()


def run_policy(program: Path, obs: np.ndarray, act_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Run the parity harness (``parity_main.c``) on ``obs`` ``(n, obs_dim)``.

    Returns ``policy_act``'s return codes ``(n,)`` and the actions ``(n, act_dim)`` (NaN
    where it wrote nothing).
    """
    data = np.ascontiguousarray(obs, dtype=np.float32).tobytes()
    try:
        proc = subprocess.run([str(program)], input=data, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CExportError(f"running the compiled policy failed: {exc}") from exc
    row = np.dtype([("code", np.int32), ("action", np.float32, (act_dim,))])
    if proc.returncode != 0 or len(proc.stdout) != row.itemsize * len(obs):
        raise CExportError(f"the compiled policy exited with {proc.returncode} after "
                           f"{len(proc.stdout) // row.itemsize} of {len(obs)} observations: "
                           f"{proc.stderr.decode(errors='replace').strip()[:300]}")
    rows = np.frombuffer(proc.stdout, dtype=row)
    return rows["code"].copy(), rows["action"].reshape(len(obs), act_dim).copy()


def harness_source() -> Path:
    """``parity_main.c``, the harness :func:`run_policy` runs."""
    return HERE / "parity_main.c"


def example_source() -> Path:
    """``example_loop.c``, the fixed-rate UDP controller every C export carries."""
    return HERE / "example_loop.c"
