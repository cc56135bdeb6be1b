"""Paths and process helpers shared by the hardening tests."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = REPO / "scenarios"
CORPUS = REPO / "tests" / "corpus"
MARKER = "PWNED"


def isolated_env(**extra: str) -> dict[str, str]:
    """The environment of an export run: one thread, no warnings, no PYTHONPATH tricks."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore",
               PYTHONDONTWRITEBYTECODE="1", **extra)
    return env
